"""Voxel traversal shared by the renderer and the crosshair ray cast.

Amanatides & Woo, "A Fast Voxel Traversal Algorithm for Ray Tracing" (Eurographics 1987): a ray
o + t·d visits the cells it crosses in order; ``tm*`` is the t of the next boundary on each axis
and ``td*`` the t between two boundaries. Both users step with the same arithmetic, so the
renderer's depth and the ray cast's distance agree exactly.
"""

from __future__ import annotations

import math

import numba as nb

INF = 1e30


@nb.njit(cache=True, inline="always")
def dda_start(ox, oy, oz, dx, dy, dz):
    """Set up a traversal from origin ``o`` along ``d`` (not necessarily unit).

    Returns:
        (ix, iy, iz, sx, sy, sz, idx, idy, idz, tdx, tdy, tdz, tmx, tmy, tmz): the start cell,
        the step signs, 1/d per axis (INF where d is 0), t between boundaries, t of the next one.
    """
    ix, iy, iz = int(math.floor(ox)), int(math.floor(oy)), int(math.floor(oz))
    sx = 1 if dx > 0 else -1
    sy = 1 if dy > 0 else -1
    sz = 1 if dz > 0 else -1
    # one division per axis: every boundary crossing is a multiply by these
    idx = 1.0 / dx if dx != 0 else INF
    idy = 1.0 / dy if dy != 0 else INF
    idz = 1.0 / dz if dz != 0 else INF
    tmx = ((ix + 1 - ox) * idx if dx > 0 else (ox - ix) * -idx) if dx != 0 else INF
    tmy = ((iy + 1 - oy) * idy if dy > 0 else (oy - iy) * -idy) if dy != 0 else INF
    tmz = ((iz + 1 - oz) * idz if dz > 0 else (oz - iz) * -idz) if dz != 0 else INF
    return ix, iy, iz, sx, sy, sz, idx, idy, idz, abs(idx), abs(idy), abs(idz), tmx, tmy, tmz


@nb.njit(cache=True, inline="always")
def dda_step(ix, iy, iz, sx, sy, sz, tdx, tdy, tdz, tmx, tmy, tmz):
    """Cross the nearest boundary.

    Returns:
        (t, axis, ix, iy, iz, tmx, tmy, tmz): t of the boundary crossed, its axis (0, 1, 2), the
        new cell and the updated next-boundary t's.
    """
    if tmx < tmy and tmx < tmz:
        return tmx, 0, ix + sx, iy, iz, tmx + tdx, tmy, tmz
    if tmy < tmz:
        return tmy, 1, ix, iy + sy, iz, tmx, tmy + tdy, tmz
    return tmz, 2, ix, iy, iz + sz, tmx, tmy, tmz + tdz
