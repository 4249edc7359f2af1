"""The scenario API's bulk edit: ``fill`` equals cell-by-cell ``set_block`` and keeps the renderer exact."""

from __future__ import annotations

import numpy as np
import pytest

from envs.voxel.config import VoxelWorldConfig
from envs.voxel.render import tile_heights
from envs.voxel.world import VoxelWorld


def _world(small: dict) -> VoxelWorld:
    return VoxelWorld(VoxelWorldConfig(**small), seed=5)


def test_fill_matches_set_block_events_tiles_and_gravity(small: dict) -> None:
    a, b = _world(small), _world(small)
    lo, hi = (10, 5, 12), (14, 20, 13)
    a.fill(lo, hi, "sand")
    for x in range(lo[0], hi[0] + 1):
        for y in range(lo[1], hi[1] + 1):
            for z in range(lo[2], hi[2] + 1):
                b.set_block(x, y, z, "sand")
    assert np.array_equal(a.blocks, b.blocks)
    assert np.array_equal(a.tiles, tile_heights(a.blocks))
    assert sorted((e.cell, e.old, e.new) for e in a.events) == sorted(
        (e.cell, e.old, e.new) for e in b.events
    )
    assert a._pending == b._pending
    a.fill(lo, hi, "air")  # clearing lowers the tile heights again
    assert np.array_equal(a.tiles, tile_heights(a.blocks))


@pytest.mark.parametrize(
    "lo, hi", [((-1, 0, 0), (2, 2, 2)), ((3, 3, 3), (2, 5, 5)), ((0, 0, 0), (10, 10, 99))]
)
def test_fill_rejects_boxes_outside_the_world(small: dict, lo, hi) -> None:
    with pytest.raises(ValueError, match="box"):
        _world(small).fill(lo, hi, "stone")


def test_fill_rejects_unknown_blocks(small: dict) -> None:
    with pytest.raises(ValueError, match="valid blocks"):
        _world(small).fill((0, 0, 0), (1, 1, 1), "diamond")
