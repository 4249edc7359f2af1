"""Box creatures that wander deterministically from the world seed.

Each mob alternates between idling and walking in a straight line at 1 block/s, turning
around at water, drops of more than one block and walls it cannot step onto. Its random
choices come from its own splitmix64 stream, so a mob's path depends only on the seed and on
the blocks around it, never on the renderer or on other envs of a batch.
"""

from __future__ import annotations

import math

import numba as nb
import numpy as np

from .blocks import WATER

#: Mob kinds: name, width, height (blocks). Colours live in render.MOB_COLOURS.
MOB_KINDS = (("pig", 0.9, 0.9), ("zombie", 0.6, 1.95), ("sheep", 0.9, 1.3), ("cow", 0.9, 1.4))
MOB_SIZES = np.array([[w, h] for _, w, h in MOB_KINDS], np.float64)
WALK_SPEED = 0.05  # blocks per tick (1 block/s)

# Mob state layout (float64 rows).
MX, MY, MZ, MHEADING, MKIND, MTIMER, MMOVING = range(7)
MOB_STATE_SIZE = 7


@nb.njit(cache=True)
def _next(rng, k):
    """splitmix64 step of stream k; returns a float in [0, 1)."""
    rng[k] += np.uint64(0x9E3779B97F4A7C15)
    z = rng[k]
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    z = z ^ (z >> np.uint64(31))
    return (z >> np.uint64(11)) * (1.0 / 9007199254740992.0)


@nb.njit(cache=True)
def ground_below(blocks, solid_table, x, y, z):
    """y of the feet of something standing in column (x, z) at or below height y (-1: none)."""
    X, Y, Z = blocks.shape
    if x < 0 or z < 0 or x >= X or z >= Z:
        return -1
    cy = min(Y - 1, int(math.floor(y)))
    while cy >= 0:
        if solid_table[blocks[x, cy, z]] or blocks[x, cy, z] == WATER:
            return cy + 1
        cy -= 1
    return -1


@nb.njit(cache=True)
def footprint_ground(blocks, solid_table, x, y, z, half):
    """Ground under a mob's whole footprint: the feet y of the highest column it overlaps.

    Args:
        x, z: centre of the footprint; half: half its width.
        y: look for ground at or below this height (as ``ground_below``).

    Returns:
        (feet y, or -1 when some column has no ground; whether some column's ground is water).
    """
    best, water = -1, False
    for cx in range(int(math.floor(x - half + 1e-7)), int(math.floor(x + half - 1e-7)) + 1):
        for cz in range(int(math.floor(z - half + 1e-7)), int(math.floor(z + half - 1e-7)) + 1):
            g = ground_below(blocks, solid_table, cx, y, cz)
            if g < 0:
                return -1, water
            if blocks[cx, g - 1, cz] == WATER:
                water = True
            best = max(best, g)
    return best, water


@nb.njit(cache=True)
def _headroom(blocks, solid_table, x, y, z, half, height):
    """True when the mob's box with feet at y has no solid cell in it."""
    Y = blocks.shape[1]
    for cx in range(int(math.floor(x - half + 1e-7)), int(math.floor(x + half - 1e-7)) + 1):
        for cz in range(int(math.floor(z - half + 1e-7)), int(math.floor(z + half - 1e-7)) + 1):
            for cy in range(int(math.floor(y)), int(math.floor(y + height - 1e-6)) + 1):
                if cy < Y and solid_table[blocks[cx, cy, cz]]:
                    return False
    return True


@nb.njit(cache=True)
def mobs_tick(blocks, solid_table, mobs, rng, n_mobs):
    """Advance every mob one tick in place.

    Args:
        blocks: uint8 (X, Y, Z).
        solid_table: bool (NUM_BLOCKS,).
        mobs: float64 (M, MOB_STATE_SIZE) mob states.
        rng: uint64 (M,) random streams.
        n_mobs: number of live rows.
    """
    X, Y, Z = blocks.shape
    for k in range(n_mobs):
        mobs[k, MTIMER] -= 1
        if mobs[k, MTIMER] <= 0:
            if _next(rng, k) < 0.6:
                mobs[k, MMOVING] = 1.0
                mobs[k, MHEADING] = 360.0 * _next(rng, k)
                mobs[k, MTIMER] = 20 + int(60 * _next(rng, k))
            else:
                mobs[k, MMOVING] = 0.0
                mobs[k, MTIMER] = 10 + int(40 * _next(rng, k))
        if mobs[k, MMOVING] == 0.0:
            continue
        h = math.radians(mobs[k, MHEADING])
        nx = mobs[k, MX] - math.sin(h) * WALK_SPEED
        nz = mobs[k, MZ] + math.cos(h) * WALK_SPEED
        half = 0.5 * MOB_SIZES[int(mobs[k, MKIND]), 0]
        ok = half + 1 <= nx < X - half - 1 and half + 1 <= nz < Z - half - 1
        if ok:
            # every column under the new footprint counts (not only the leading edge, or a box
            # walking along a step sinks into it): stand on the highest, step up or drop at most
            # one block, never onto water, with headroom in every column
            g, water = footprint_ground(blocks, solid_table, nx, mobs[k, MY] + 1.0, nz, half)
            height = MOB_SIZES[int(mobs[k, MKIND]), 1]
            if g < 0 or water or abs(g - mobs[k, MY]) > 1.0:
                ok = False
            elif not _headroom(blocks, solid_table, nx, g, nz, half, height):
                ok = False
        if ok:
            mobs[k, MX], mobs[k, MZ], mobs[k, MY] = nx, nz, g
        else:
            mobs[k, MHEADING] = (mobs[k, MHEADING] + 180.0) % 360.0


@nb.njit(cache=True)
def mobs_tick_batch(blocks, solid_table, mobs, rng, n_mobs, active):
    """``mobs_tick`` for the mobs of a batch of worlds in one compiled call.

    Args:
        blocks: uint8 (N, X, Y, Z).
        solid_table: bool (NUM_BLOCKS,).
        mobs: float64 (N, M, MOB_STATE_SIZE) mob states, updated in place for the active worlds.
        rng: uint64 (N, M) random streams.
        n_mobs: int64 (N,) live rows per world.
        active: bool (N,) which worlds to advance.
    """
    for n in range(mobs.shape[0]):
        if active[n]:
            mobs_tick(blocks[n], solid_table, mobs[n], rng[n], n_mobs[n])


@nb.njit(cache=True)
def settle(blocks, solid_table, mobs, n_mobs):
    """Drop or lift every mob onto the ground under its footprint (after the world changed)."""
    for k in range(n_mobs):
        half = 0.5 * MOB_SIZES[int(mobs[k, MKIND]), 0]
        g, _ = footprint_ground(blocks, solid_table, mobs[k, MX], mobs[k, MY] + 1.0, mobs[k, MZ], half)
        if g >= 0:
            mobs[k, MY] = g


def mob_boxes(mobs: np.ndarray, n_mobs: int, out: np.ndarray) -> None:
    """Write renderer boxes (min xyz, max xyz, kind, facing quadrant) for the live mobs into ``out``."""
    mob_boxes_batch(mobs[None], np.array([n_mobs], np.int64), out[None])


@nb.njit(cache=True)
def mob_boxes_batch(mobs, n_mobs, out):
    """``mob_boxes`` for a batch of worlds in one compiled call.

    Args:
        mobs: float64 (N, M, MOB_STATE_SIZE) mob states.
        n_mobs: int64 (N,) live rows per world.
        out: float64 (N, M, 8) renderer boxes (min xyz, max xyz, kind, facing quadrant), written.
    """
    for n in range(mobs.shape[0]):
        for k in range(n_mobs[n]):
            kind = int(mobs[n, k, MKIND])
            half = MOB_SIZES[kind, 0] / 2
            out[n, k, 0] = mobs[n, k, MX] - half
            out[n, k, 1] = mobs[n, k, MY]
            out[n, k, 2] = mobs[n, k, MZ] - half
            out[n, k, 3] = mobs[n, k, MX] + half
            out[n, k, 4] = mobs[n, k, MY] + MOB_SIZES[kind, 1]
            out[n, k, 5] = mobs[n, k, MZ] + half
            out[n, k, 6] = mobs[n, k, MKIND]
            out[n, k, 7] = math.floor(((mobs[n, k, MHEADING] + 45.0) % 360.0) / 90.0)


def spawn_mobs(
    blocks: np.ndarray,
    solid_table: np.ndarray,
    rng: np.random.Generator,
    count: int,
    centre: np.ndarray,
    radius: float = 16.0,
) -> tuple[np.ndarray, np.ndarray]:
    """Place ``count`` mobs on dry ground within ``radius`` of ``centre``.

    Returns:
        (states float64 (count, MOB_STATE_SIZE), random streams uint64 (count,)).
    """
    X, Y, Z = blocks.shape
    states = np.zeros((count, MOB_STATE_SIZE))
    for k in range(count):
        for _ in range(500):
            x = float(np.clip(centre[0] + rng.uniform(-radius, radius), 3, X - 4))
            z = float(np.clip(centre[2] + rng.uniform(-radius, radius), 3, Z - 4))
            g = ground_below(blocks, solid_table, int(x), Y - 1, int(z))
            if (
                g > 0
                and blocks[int(x), g - 1, int(z)] != WATER
                and g + 2 < Y
                and not blocks[int(x), g : g + 2, int(z)].any()
            ):
                break
        states[k] = (
            math.floor(x) + 0.5,
            g,
            math.floor(z) + 0.5,
            rng.uniform(0, 360),
            k % len(MOB_KINDS),
            0,
            0,
        )
    streams = rng.integers(0, 2**63, size=count, dtype=np.uint64)
    return states, streams
