"""Scenario building blocks shared by the probes (voxel world scenario API).

A scenario is a callable ``scenario(world)`` run by ``VoxelWorldEnv.reset(options={"scenario":
...})`` before the first frame. The helpers here build controlled scenes inside a procedural
world: a flat, cleared arena (so that walks and turns have known outcomes), with the player placed
and oriented, to which a probe adds its structures and mobs. Everything is a pure function of its
arguments and the world, so cases stay deterministic.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from simworld import actions as A


@dataclass(frozen=True)
class Arena:
    """A flat cleared square around the world centre.

    Attributes:
        cx, cz: centre column.
        floor: y of the floor's top cell (the player's feet stand at ``floor + 1``).
        radius: half side in blocks.
    """

    cx: int
    cz: int
    floor: int
    radius: int

    @property
    def feet(self) -> tuple[float, float, float]:
        """Feet position at the centre of the centre cell."""
        return (self.cx + 0.5, float(self.floor + 1), self.cz + 0.5)

    def cell(self, dx: int, dz: int, dy: int = 1) -> tuple[int, int, int]:
        """Cell at offset (dx, dz) from the centre, ``dy`` above the floor (1: standing level)."""
        return (self.cx + dx, self.floor + dy, self.cz + dz)


def arena(world: Any, radius: int = 10, height: int = 12, floor_block: str = "grass") -> Arena:
    """Clear a flat square of side ``2 * radius + 1`` around the world centre and stand the player in it.

    The floor is at the centre column's ground level (clamped inside the world); everything above
    it up to ``height`` cells is cleared to air, everything in the floor layer becomes
    ``floor_block`` on a stone base, and all mobs are removed. The player stands at the centre,
    looking along yaw 0 (+z, "south") with pitch 0.

    Raises:
        ValueError: the world is too small for the arena.
    """
    X, Y, Z = world.blocks.shape
    cx, cz = X // 2, Z // 2
    if radius < 2 or cx - radius < 1 or cx + radius >= X - 1 or cz - radius < 1 or cz + radius >= Z - 1:
        raise ValueError(f"an arena of radius {radius} does not fit a {X}×{Z} world")
    floor = int(np.clip(world.ground(cx, cz) - 1, 2, Y - height - 2))
    lo, hi = (cx - radius, floor + 1, cz - radius), (cx + radius, min(Y - 1, floor + height), cz + radius)
    world.fill(lo, hi, "air")
    world.fill((cx - radius, floor - 2, cz - radius), (cx + radius, floor - 1, cz + radius), "stone")
    world.fill((cx - radius, floor, cz - radius), (cx + radius, floor, cz + radius), floor_block)
    world.clear_mobs()
    a = Arena(cx, cz, floor, radius)
    world.set_pose(a.feet, yaw=0.0, pitch=0.0)
    return a


def in_arena(
    build: Callable[[Any, Arena], None], radius: int = 10, height: int = 12
) -> Callable[[Any], None]:
    """A scenario: ``arena(world, radius, height)`` then ``build(world, arena)``."""

    def scenario(world: Any) -> None:
        build(world, arena(world, radius, height))

    scenario.__qualname__ = f"in_arena({getattr(build, '__qualname__', repr(build))}, {radius}, {height})"
    return scenario


def action(**keys: Any) -> dict[str, Any]:
    """A canonical action: ``action(forward=1)``, ``action(yaw=15)`` (camera yaw delta, degrees),
    ``action(pitch=-10)``, ``action(attack=1, hotbar=3)``; everything else no-op."""
    out = A.noop()
    yaw, pitch = float(keys.pop("yaw", 0.0)), float(keys.pop("pitch", 0.0))
    out["camera"] = np.array([pitch, yaw], np.float32)
    for k, v in keys.items():
        if k not in out:
            raise ValueError(f"unknown action key {k!r}; valid: yaw, pitch, {', '.join(out)}")
        out[k] = v
    return out


def repeat(act: dict[str, Any], n: int) -> list[dict[str, Any]]:
    """``n`` copies of an action."""
    return [dict(act) for _ in range(n)]
