"""Seeded procedural terrain: height-map hills, beaches, water, trees, landmarks and huts."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .blocks import BLOCK_IDS, LANDMARK_BLOCKS
from .config import VoxelWorldConfig

_B = BLOCK_IDS
_LANDMARK_IDS = [BLOCK_IDS[name] for name in LANDMARK_BLOCKS]


@dataclass
class Landmark:
    """A vividly coloured structure the probes and tasks aim at.

    Attributes:
        name: block name of its wool colour.
        base: (x, y, z) integer cell of its lowest block.
        cells: every cell it occupies.
    """

    name: str
    base: tuple[int, int, int]
    cells: list[tuple[int, int, int]] = field(default_factory=list)

    @property
    def centre(self) -> np.ndarray:
        """Centre of its bounding box in world coordinates."""
        c = np.asarray(self.cells, np.float64)
        return (c.min(0) + c.max(0) + 1.0) / 2.0


@dataclass
class Terrain:
    """A generated world before simulation starts.

    Attributes:
        blocks: uint8 (X, Y, Z) block ids.
        heights: int (X, Z) y of the top solid-or-water cell of every column.
        landmarks: the coloured structures.
        spawn: (x, y, z) feet position of the player's spawn.
    """

    blocks: np.ndarray
    heights: np.ndarray
    landmarks: list[Landmark]
    spawn: np.ndarray


def value_noise(rng: np.random.Generator, size: int, octaves: tuple[tuple[int, float], ...]) -> np.ndarray:
    """Fractal value noise on a size×size grid: a sum of smoothly interpolated random lattices.

    Args:
        rng: the generator to draw the lattices from.
        size: grid side.
        octaves: (lattice spacing in cells, amplitude) per octave.

    Returns:
        float64 (size, size) noise, roughly in [-sum(amplitudes), sum(amplitudes)].
    """
    out = np.zeros((size, size))
    coords = np.arange(size)
    for spacing, amp in octaves:
        n = size // spacing + 2
        lattice = rng.uniform(-1.0, 1.0, (n, n))
        g = coords / spacing
        i0 = np.floor(g).astype(int)
        f = g - i0
        f = f * f * (3 - 2 * f)  # smoothstep
        a = lattice[i0][:, i0] * (1 - f)[:, None] * (1 - f)[None, :]
        b = lattice[i0 + 1][:, i0] * f[:, None] * (1 - f)[None, :]
        c = lattice[i0][:, i0 + 1] * (1 - f)[:, None] * f[None, :]
        d = lattice[i0 + 1][:, i0 + 1] * f[:, None] * f[None, :]
        out += amp * (a + b + c + d)
    return out


def _place_tree(blocks: np.ndarray, x: int, y: int, z: int, trunk: int) -> None:
    X, Y, Z = blocks.shape
    top = y + trunk
    for dy in range(-2, 2):
        r = 2 if dy < 0 else 1
        for dx in range(-r, r + 1):
            for dz in range(-r, r + 1):
                if abs(dx) == r and abs(dz) == r and dy >= -1:
                    continue  # round off the corners
                cx, cy, cz = x + dx, top + dy, z + dz
                if 0 <= cx < X and 0 <= cz < Z and cy < Y and blocks[cx, cy, cz] == 0:
                    blocks[cx, cy, cz] = _B["leaves"]
    blocks[x, y : min(Y, top), z] = _B["log"]


def _flat_site(heights: np.ndarray, water: np.ndarray, x: int, z: int, r: int) -> bool:
    patch = heights[x - r : x + r + 1, z - r : z + r + 1]
    return bool(patch.max() - patch.min() <= 1 and not water[x - r : x + r + 1, z - r : z + r + 1].any())


def _landmark(blocks: np.ndarray, heights: np.ndarray, name: str, x: int, z: int, shape: int) -> Landmark:
    """Build a landmark: a 3-high pillar, a 2×2 tower or an arch, on the ground at (x, z)."""
    y = int(heights[x - 1 : x + 2, z - 1 : z + 2].max()) + 1
    if shape == 0:
        cells = [(x, y + k, z) for k in range(3)]
    elif shape == 1:
        cells = [(x + a, y + k, z + c) for a in (0, 1) for c in (0, 1) for k in range(2)]
    else:
        cells = (
            [(x - 1, y + k, z) for k in range(3)] + [(x + 1, y + k, z) for k in range(3)] + [(x, y + 2, z)]
        )
    for cx, cy, cz in cells:
        blocks[cx, cy, cz] = _B[name]
    # fill air under the structure so it stands on the ground
    for cx, cy, cz in cells:
        below = cy - 1
        while below >= 0 and blocks[cx, below, cz] in (0, _B["water"]):
            blocks[cx, below, cz] = _B["dirt"]
            below -= 1
    return Landmark(name, (x, y, z), cells)


def _hut(blocks: np.ndarray, heights: np.ndarray, x: int, z: int) -> None:
    """A 5×5 plank hut with glass windows and a doorway on its +z side."""
    y = int(heights[x - 2 : x + 3, z - 2 : z + 3].max()) + 1
    for dx in range(-2, 3):
        for dz in range(-2, 3):
            for dy in range(-1, 4):
                wall = abs(dx) == 2 or abs(dz) == 2
                cell = (x + dx, y + dy, z + dz)
                if dy == -1 or dy == 3:
                    blocks[cell] = _B["planks"]
                elif wall:
                    window = dy == 1 and (dx == 0 or dz == 0)
                    door = dz == 2 and dx == 0 and dy in (0, 1)
                    blocks[cell] = 0 if door else (_B["glass"] if window else _B["planks"])
                else:
                    blocks[cell] = 0


def _site(
    rng: np.random.Generator, size: int, margin: int, near_centre: bool, radius: int
) -> tuple[int, int]:
    """A random column, optionally within ``radius`` of the world centre but at least 6 blocks from it."""
    if near_centre:
        c = size // 2
        while True:
            dx, dz = rng.integers(-radius, radius + 1, size=2)
            if max(abs(dx), abs(dz)) >= 6:
                return int(np.clip(c + dx, margin, size - margin - 1)), int(
                    np.clip(c + dz, margin, size - margin - 1)
                )
    x, z = rng.integers(margin, size - margin, size=2)
    return int(x), int(z)


def generate(config: VoxelWorldConfig, seed: int) -> Terrain:
    """Generate a world from a seed; the same (config, seed) always gives the same world.

    Args:
        config: world parameters.
        seed: non-negative integer seed.

    Returns:
        The terrain, its landmarks and the spawn position.
    """
    rng = np.random.default_rng([seed, 0x5EED])
    S, Y = config.world_size, config.world_height
    noise = value_noise(rng, S, ((32, 1.0), (16, 0.5), (8, 0.25), (4, 0.1)))
    heights = np.rint(config.terrain_height + config.terrain_amplitude * noise / 1.85).astype(np.int64)
    heights = np.clip(heights, 2, Y - 9)
    gravel = value_noise(rng, S, ((8, 1.0),)) > 0.55
    blocks = np.zeros((S, Y, S), np.uint8)
    ys = np.arange(Y)[None, :, None]
    h = heights[:, None, :]
    blocks[ys <= h] = _B["dirt"]
    blocks[ys <= h - 4] = _B["stone"]
    beach = heights <= config.sea_level + 1
    top = np.where(beach, _B["sand"], _B["grass"])
    top = np.where(gravel & ~beach, _B["gravel"], top)
    xs, zs = np.meshgrid(np.arange(S), np.arange(S), indexing="ij")
    blocks[xs, heights, zs] = top
    blocks[:, 0, :] = _B["bedrock"]
    water = heights < config.sea_level
    blocks[(ys > h) & (ys < config.sea_level) & water[:, None, :]] = _B["water"]
    # sand under shallow water, as beaches continue below the surface
    blocks[xs[water], heights[water], zs[water]] = _B["sand"]

    margin = 4
    landmarks = []
    for k in range(config.num_landmarks):
        for attempt in range(400):
            # the first landmark and hut go near the centre (the spawn) so that they are in sight
            x, z = _site(rng, S, margin, near_centre=(k == 0 and attempt < 200), radius=14)
            if _flat_site(heights, water, x, z, 2):
                landmarks.append(_landmark(blocks, heights, LANDMARK_BLOCKS[k % 4], x, z, k % 3))
                break
    for k in range(config.num_huts):
        for attempt in range(400):
            x, z = _site(rng, S, margin + 2, near_centre=(k == 0 and attempt < 200), radius=20)
            if (
                _flat_site(heights, water, x, z, 3)
                and not np.isin(blocks[x - 3 : x + 4, :, z - 3 : z + 4], _LANDMARK_IDS).any()
            ):
                _hut(blocks, heights, x, z)
                break
    grass = np.argwhere(blocks[xs, heights, zs] == _B["grass"])
    n_trees = rng.poisson(config.tree_density * len(grass) / 100.0)
    for x, z in grass[rng.permutation(len(grass))[:n_trees]]:
        if margin <= x < S - margin and margin <= z < S - margin and blocks[x, heights[x, z] + 1, z] == 0:
            _place_tree(blocks, int(x), int(heights[x, z]) + 1, int(z), int(rng.integers(4, 6)))

    spawn = _find_spawn(blocks, rng)
    col_heights = _column_heights(blocks)
    return Terrain(blocks=blocks, heights=col_heights, landmarks=landmarks, spawn=spawn)


def _column_heights(blocks: np.ndarray) -> np.ndarray:
    """y of the highest non-air cell per column (-1 for an empty column)."""
    nonair = blocks != 0
    Y = blocks.shape[1]
    return np.where(nonair.any(1), Y - 1 - np.argmax(nonair[:, ::-1, :], axis=1), -1)


def _find_spawn(blocks: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A dry, open standing position near the world centre."""
    S = blocks.shape[0]
    heights = _column_heights(blocks)
    c = S // 2
    for radius in range(0, S // 2 - 2):
        cands = [
            (x, z)
            for x in range(c - radius, c + radius + 1)
            for z in range(c - radius, c + radius + 1)
            if max(abs(x - c), abs(z - c)) == radius
        ]
        for idx in rng.permutation(len(cands)):
            x, z = cands[idx]
            y = heights[x, z]
            if (
                blocks[x, y, z] in (_B["grass"], _B["sand"], _B["dirt"], _B["gravel"])
                and not blocks[x, y + 1 : y + 3, z].any()
            ):
                return np.array([x + 0.5, y + 1.0, z + 0.5])
    raise RuntimeError("no dry spawn position in this world; try another seed")
