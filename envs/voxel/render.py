"""First-person voxel renderer: one ray per pixel, traversed through the block grid.

The traversal is Amanatides & Woo's voxel DDA ("A Fast Voxel Traversal Algorithm for Ray
Tracing", Eurographics 1987), compiled with numba and parallel over the image rows of all
worlds of a batch, so one call renders every env of a vector env. Each pixel is computed
independently of the others, so the result does not depend on the thread count.

Camera conventions (Minecraft's): x east, y up, z south; yaw 0 faces +z and grows turning
right (yaw 90 faces -x); pitch grows looking down. Intrinsics are OpenCV's pinhole model
(x right, y down, z forward), square pixels, principal point at the image centre, and the
returned depth is the planar depth z along the viewing axis, so that
``X_cam = depth * K^-1 [u + 0.5, v + 0.5, 1]``.
"""

from __future__ import annotations

import math
import os

import numba as nb
import numpy as np

from .blocks import FACE_BOTTOM, FACE_SIDE, FACE_TOP, TEXTURE_SIZE, WATER
from .dda import INF, dda_start, dda_step

# Threading layer. numba's default OpenMP layer is the fastest on an idle machine (single env
# 64×64: 4,461 vs 2,248 steps/s with workqueue, benchmarks/results/voxel_env*.md) but spin-waits
# between parallel regions: with other processes on the cores (an RL learner beside the env) a
# step took 16 ms instead of 1 ms (63 vs 898 steps/s measured), and it shares libgomp's thread
# count with torch. The workqueue layer sleeps instead; we default to it for robustness. Set
# NUMBA_THREADING_LAYER=omp for peak speed on a dedicated machine. (workqueue allows one parallel
# region at a time per process: step envs from one Python thread, or use processes.)
if "NUMBA_THREADING_LAYER" not in os.environ:
    nb.config.THREADING_LAYER = "workqueue"

#: Segmentation ids: 0 sky, 1..255 block ids, ENTITY_SEG_OFFSET + k the k-th entity.
SKY_SEG = 0
ENTITY_SEG_OFFSET = 1000
#: Empty-space skipping works on square column tiles of 2**TILE_SHIFT blocks.
TILE_SHIFT = 2
#: Rows per band of ``render_batch``'s load-balanced row order.
ROW_BAND = 8
#: Colours (RGB) of mob kinds, indexed by kind id.
MOB_COLOURS = np.array([[240, 160, 170], [70, 150, 60], [230, 230, 230], [140, 90, 50]], np.float64)

_SKY_ZENITH = (110.0, 160.0, 255.0)
_SKY_HORIZON = (190.0, 215.0, 255.0)
_WATER_ALPHA = 0.65
# Face brightness by axis and side, as Minecraft's flat lighting: top, bottom, east/west, north/south.
_SHADE_TOP, _SHADE_BOTTOM, _SHADE_X, _SHADE_Z = 1.0, 0.5, 0.8, 0.65


def intrinsics(width: int, height: int, fov_y_deg: float) -> np.ndarray:
    """Pinhole intrinsics of the renderer's camera.

    Args:
        width: image width in pixels.
        height: image height in pixels.
        fov_y_deg: vertical field of view in degrees.

    Returns:
        float64 (3, 3) matrix K (OpenCV convention, pixel centres at integer + 0.5).
    """
    f = 0.5 * height / math.tan(math.radians(fov_y_deg) / 2)
    return np.array([[f, 0.0, width / 2], [0.0, f, height / 2], [0.0, 0.0, 1.0]])


def camera_basis(yaw_deg: float, pitch_deg: float) -> np.ndarray:
    """Camera-to-world rotation with columns (right, down, forward), OpenCV camera axes.

    Args:
        yaw_deg: Minecraft yaw in degrees.
        pitch_deg: Minecraft pitch in degrees (positive looks down).

    Returns:
        float64 (3, 3) rotation R so that ``X_world = R @ X_cam + eye``.
    """
    yaw, pitch = math.radians(yaw_deg), math.radians(pitch_deg)
    fwd = np.array([-math.sin(yaw) * math.cos(pitch), -math.sin(pitch), math.cos(yaw) * math.cos(pitch)])
    right = np.array([-math.cos(yaw), 0.0, -math.sin(yaw)])
    up = np.cross(right, fwd)
    return np.stack([right, -up, fwd], axis=1)


def tile_heights(blocks: np.ndarray) -> np.ndarray:
    """Per 4×4 column tile, one above the highest non-air cell (0 for an empty tile).

    Args:
        blocks: uint8 (X, Y, Z).

    Returns:
        int32 (ceil(X/4), ceil(Z/4)).
    """
    X, Y, Z = blocks.shape
    nonair = blocks != 0
    col = np.where(nonair.any(1), Y - np.argmax(nonair[:, ::-1, :], axis=1), 0)
    s = 1 << TILE_SHIFT
    tx, tz = -(-X // s), -(-Z // s)
    padded = np.zeros((tx * s, tz * s), np.int32)
    padded[:X, :Z] = col
    return padded.reshape(tx, s, tz, s).max(axis=(1, 3)).astype(np.int32)


@nb.njit(cache=True)
def _mob_rects(cams, mobs, n_mobs, f, width, height):
    """Screen rectangle (row min, row max, col min, col max) of every mob's box, for culling rays."""
    n_worlds, m = mobs.shape[0], mobs.shape[1]
    rects = np.empty((n_worlds, m, 4), np.int64)
    for n in range(n_worlds):
        ox, oy, oz = cams[n, 0], cams[n, 1], cams[n, 2]
        yaw, pitch = math.radians(cams[n, 3]), math.radians(cams[n, 4])
        fx, fy, fz = -math.sin(yaw) * math.cos(pitch), -math.sin(pitch), math.cos(yaw) * math.cos(pitch)
        rx, ry, rz = -math.cos(yaw), 0.0, -math.sin(yaw)
        ux, uy, uz = ry * fz - rz * fy, rz * fx - rx * fz, rx * fy - ry * fx
        for k in range(n_mobs[n]):
            i0, i1, j0, j1 = 1e30, -1e30, 1e30, -1e30
            visible_all = True
            for c in range(8):
                px = mobs[n, k, 3] if c & 1 else mobs[n, k, 0]
                py = mobs[n, k, 4] if c & 2 else mobs[n, k, 1]
                pz = mobs[n, k, 5] if c & 4 else mobs[n, k, 2]
                vx, vy, vz = px - ox, py - oy, pz - oz
                z = vx * fx + vy * fy + vz * fz
                if z < 1e-3:
                    visible_all = False  # a corner behind the camera: do not cull
                    break
                col = width / 2 + f * (vx * rx + vy * ry + vz * rz) / z
                row = height / 2 - f * (vx * ux + vy * uy + vz * uz) / z
                i0, i1, j0, j1 = min(i0, row), max(i1, row), min(j0, col), max(j1, col)
            if visible_all:
                rects[n, k, 0] = int(math.floor(i0)) - 1
                rects[n, k, 1] = int(math.ceil(i1)) + 1
                rects[n, k, 2] = int(math.floor(j0)) - 1
                rects[n, k, 3] = int(math.ceil(j1)) + 1
            else:
                rects[n, k, 0], rects[n, k, 1], rects[n, k, 2], rects[n, k, 3] = (
                    -(1 << 40),
                    1 << 40,
                    -(1 << 40),
                    1 << 40,
                )
    return rects


@nb.njit(cache=True, fastmath=False, inline="always")
def _sky(dy: float, norm: float) -> tuple[float, float, float]:
    s = max(0.0, dy / norm) if norm > 0 else 0.0
    s = min(1.0, s * 1.6)
    return (
        _SKY_HORIZON[0] + (_SKY_ZENITH[0] - _SKY_HORIZON[0]) * s,
        _SKY_HORIZON[1] + (_SKY_ZENITH[1] - _SKY_HORIZON[1]) * s,
        _SKY_HORIZON[2] + (_SKY_ZENITH[2] - _SKY_HORIZON[2]) * s,
    )


@nb.njit(cache=True, fastmath=False, inline="always")
def _mob_hit(mobs, n_mobs, rects, pi, pj, ox, oy, oz, dx, dy, dz):
    """Nearest ray-box hit among the mobs (slab test). Returns (t, mob index, axis, sign)."""
    best_t, best_k, best_axis, best_sign = 1e30, -1, 0, 0
    for k in range(n_mobs):
        if pi < rects[k, 0] or pi > rects[k, 1] or pj < rects[k, 2] or pj > rects[k, 3]:
            continue  # the mob's screen rectangle does not cover this pixel
        tmin, tmax, axis, sign = 0.0, 1e30, -1, 0
        inside = True
        for a in range(3):
            o = ox if a == 0 else (oy if a == 1 else oz)
            d = dx if a == 0 else (dy if a == 1 else dz)
            lo, hi = mobs[k, a], mobs[k, 3 + a]
            if abs(d) < 1e-12:
                if o < lo or o > hi:
                    inside = False
                    break
                continue
            t1, t2 = (lo - o) / d, (hi - o) / d
            s = -1
            if t1 > t2:
                t1, t2, s = t2, t1, 1
            if t1 > tmin:
                tmin, axis, sign = t1, a, s
            tmax = min(tmax, t2)
            if tmin > tmax:
                inside = False
                break
        if inside and axis >= 0 and tmin < best_t:
            best_t, best_k, best_axis, best_sign = tmin, k, axis, sign
    return best_t, best_k, best_axis, best_sign


@nb.njit(cache=True, fastmath=False, inline="always")
def _mob_colour(mobs, k, axis, sign, px, py, pz):
    """Shaded colour of a mob face: its kind's colour, a 4×4 patch pattern and eyes on the front."""
    kind = int(mobs[k, 6])
    facing = int(mobs[k, 7])  # 0 +z, 1 -x, 2 -z, 3 +x (Minecraft yaw quadrants)
    lo_x, lo_y, lo_z = mobs[k, 0], mobs[k, 1], mobs[k, 2]
    sx, sy, sz = mobs[k, 3] - lo_x, mobs[k, 4] - lo_y, mobs[k, 5] - lo_z
    if axis == 0:
        u, v = (pz - lo_z) / sz, 1.0 - (py - lo_y) / sy
        shade = _SHADE_X
    elif axis == 1:
        u, v = (px - lo_x) / sx, (pz - lo_z) / sz
        shade = _SHADE_TOP if sign > 0 else _SHADE_BOTTOM
    else:
        u, v = (px - lo_x) / sx, 1.0 - (py - lo_y) / sy
        shade = _SHADE_Z
    iu, iv = min(3, max(0, int(u * 4))), min(3, max(0, int(v * 4)))
    pattern = 0.85 + 0.15 * ((iu + iv) % 2)
    front = (
        (facing == 0 and axis == 2 and sign > 0)
        or (facing == 2 and axis == 2 and sign < 0)
        or (facing == 1 and axis == 0 and sign < 0)
        or (facing == 3 and axis == 0 and sign > 0)
    )
    if front and iv == 1 and (iu == 0 or iu == 3):
        pattern = 0.15  # eyes
    f = shade * pattern
    return MOB_COLOURS[kind, 0] * f, MOB_COLOURS[kind, 1] * f, MOB_COLOURS[kind, 2] * f


@nb.njit(cache=True, fastmath=False, inline="always")
def _trace(blocks, top, tiles, textures, mobs, n_mobs, rects, pi, pj, ox, oy, oz, dx, dy, dz, max_t):
    """Trace one ray. Returns (r, g, b, planar depth, segmentation id); depth inf for sky."""
    nx, nz = blocks.shape[0], blocks.shape[2]
    inf = INF
    ix, iy, iz, sx, sy, sz, idx, idy, idz, tdx, tdy, tdz, tmx, tmy, tmz = dda_start(ox, oy, oz, dx, dy, dz)
    norm = math.sqrt(dx * dx + dy * dy + dz * dz)
    t_mob, k_mob, axis_mob, sign_mob = _mob_hit(mobs, n_mobs, rects, pi, pj, ox, oy, oz, dx, dy, dz)
    t, axis = 0.0, -1
    # water seen on the way: where it starts and which face it was entered by
    t_water, water_r, water_g, water_b = -1.0, 0.0, 0.0, 0.0
    r = g = b = 0.0
    depth, seg = inf, 0
    hit = False
    while t < max_t:
        if ix < 0 or iz < 0 or ix >= nx or iz >= nz or iy < 0:
            break
        if iy >= top:
            if dy >= 0:
                break  # above every column and rising: only sky ahead (mobs are tested apart)
        elif iy >= tiles[ix >> TILE_SHIFT, iz >> TILE_SHIFT]:
            # Empty-space skipping: every cell of this 4×4 column tile is air from here up. If the
            # ray is still above the tile's top where it leaves the tile, jump to that exit.
            tile_h = tiles[ix >> TILE_SHIFT, iz >> TILE_SHIFT]
            tex = ((((ix >> TILE_SHIFT) + (1 if dx > 0 else 0)) << TILE_SHIFT) - ox) * idx if dx != 0 else inf
            tez = ((((iz >> TILE_SHIFT) + (1 if dz > 0 else 0)) << TILE_SHIFT) - oz) * idz if dz != 0 else inf
            te = min(tex, tez)
            # te > t: where the ray grazes a tile corner, rounding can put the exit at or behind t
            # (jumping there would bounce between two tiles forever); take a plain DDA step instead
            if te < inf and te > t and oy + te * dy >= tile_h:
                if te >= max_t:
                    break
                t = te
                py = oy + t * dy
                if tex <= tez:
                    axis, ix = (
                        0,
                        (((ix >> TILE_SHIFT) + (1 if dx > 0 else 0)) << TILE_SHIFT) - (0 if dx > 0 else 1),
                    )
                    iz = int(math.floor(oz + t * dz))
                else:
                    axis, iz = (
                        2,
                        (((iz >> TILE_SHIFT) + (1 if dz > 0 else 0)) << TILE_SHIFT) - (0 if dz > 0 else 1),
                    )
                    ix = int(math.floor(ox + t * dx))
                iy = int(math.floor(py))
                tmx = ((ix + (1 if dx > 0 else 0)) - ox) * idx if dx != 0 else inf
                tmy = ((iy + (1 if dy > 0 else 0)) - oy) * idy if dy != 0 else inf
                tmz = ((iz + (1 if dz > 0 else 0)) - oz) * idz if dz != 0 else inf
                continue
        elif axis >= 0:
            blk = blocks[ix, iy, iz]
            if blk != 0:
                px, py, pz = ox + t * dx, oy + t * dy, oz + t * dz
                if axis == 0:
                    face, u, v, shade = FACE_SIDE, pz - math.floor(pz), 1.0 - (py - math.floor(py)), _SHADE_X
                elif axis == 1:
                    face = FACE_TOP if sy < 0 else FACE_BOTTOM
                    u, v = px - math.floor(px), pz - math.floor(pz)
                    shade = _SHADE_TOP if sy < 0 else _SHADE_BOTTOM
                else:
                    face, u, v, shade = FACE_SIDE, px - math.floor(px), 1.0 - (py - math.floor(py)), _SHADE_Z
                tu = min(TEXTURE_SIZE - 1, int(u * TEXTURE_SIZE))
                tv = min(TEXTURE_SIZE - 1, int(v * TEXTURE_SIZE))
                if blk == WATER:
                    if t_water < 0:
                        t_water = t
                        water_r = textures[blk, face, tv, tu, 0] * shade
                        water_g = textures[blk, face, tv, tu, 1] * shade
                        water_b = textures[blk, face, tv, tu, 2] * shade
                elif textures[blk, face, tv, tu, 3] != 0:
                    r = textures[blk, face, tv, tu, 0] * shade
                    g = textures[blk, face, tv, tu, 1] * shade
                    b = textures[blk, face, tv, tu, 2] * shade
                    depth, seg, hit = t, blk, True
                    break
        t, axis, ix, iy, iz, tmx, tmy, tmz = dda_step(ix, iy, iz, sx, sy, sz, tdx, tdy, tdz, tmx, tmy, tmz)
    if t_mob < inf and t_mob < max_t and (not hit or t_mob < depth):
        px, py, pz = ox + t_mob * dx, oy + t_mob * dy, oz + t_mob * dz
        r, g, b = _mob_colour(mobs, k_mob, axis_mob, sign_mob, px, py, pz)
        depth, seg, hit = t_mob, ENTITY_SEG_OFFSET + k_mob, True
    if t_water >= 0 and (not hit or t_water < depth):
        if hit:
            r = r * (1 - _WATER_ALPHA) + water_r * _WATER_ALPHA
            g = g * (1 - _WATER_ALPHA) + water_g * _WATER_ALPHA
            b = b * (1 - _WATER_ALPHA) + water_b * _WATER_ALPHA
        else:
            r, g, b = water_r, water_g, water_b
        depth, seg, hit = t_water, WATER, True
    return r, g, b, depth, seg, hit, norm


@nb.njit(cache=True)
def band_stride(n_bands):
    """Stride coprime to ``n_bands`` near n_bands / golden ratio, for ``render_batch``'s row order.

    ``b -> (b * stride) % n_bands`` is then a permutation whose contiguous ranges of b are spread
    evenly over the bands (the golden-ratio sequence of low discrepancy), whatever the thread count.
    """
    stride = max(1, int(n_bands * 0.6180339887498949))
    while True:
        a, b = stride, n_bands
        while b:
            a, b = b, a % b
        if a == 1:
            return stride
        stride += 1


@nb.njit(cache=True, parallel=True, fastmath=False)
def render_batch(
    blocks,
    tops,
    tiles,
    textures,
    cams,
    mobs,
    n_mobs,
    fov_y_deg,
    view_distance,
    fog_start,
    out_rgb,
    out_depth,
    out_seg,
    want_gt,
):
    """Render a batch of first-person views.

    Args:
        blocks: uint8 (N, X, Y, Z) block ids per world.
        tops: int32 (N,) one above the highest non-air cell of each world.
        tiles: int32 (N, ceil(X/4), ceil(Z/4)) one above the highest non-air cell of each 4×4
            column tile (``tile_heights``), for empty-space skipping.
        textures: uint8 (NUM_BLOCKS, 3, 16, 16, 4) atlas from ``blocks.make_textures``.
        cams: float64 (N, 5) eye x, y, z, yaw, pitch (degrees).
        mobs: float64 (N, M, 8) entity boxes: min xyz, max xyz, kind, facing quadrant.
        n_mobs: int64 (N,) number of valid rows of ``mobs`` per world.
        fov_y_deg: vertical field of view in degrees.
        view_distance: blocks; beyond it everything is sky.
        fog_start: distance in blocks where fog starts blending towards the sky colour.
        out_rgb: uint8 (N, H, W, 3), written.
        out_depth: float32 (N, H, W) planar depth in blocks (inf for sky), written when want_gt.
        out_seg: int16 (N, H, W) segmentation ids, written when want_gt.
        want_gt: also write depth and segmentation.
    """
    n_worlds, height, width = out_rgb.shape[0], out_rgb.shape[1], out_rgb.shape[2]
    f = 0.5 * height / math.tan(math.radians(fov_y_deg) / 2)
    rects = _mob_rects(cams, mobs, n_mobs, f, width, height)
    n_rows = n_worlds * height
    n_bands = n_rows // ROW_BAND  # whole bands; the rows after them keep their place
    stride = band_stride(n_bands)
    for k in nb.prange(n_rows):
        # numba's threading layers give each thread one contiguous block of the prange (static
        # schedule); visiting bands of rows in a strided order gives every block a mix of cheap sky
        # rows and expensive terrain rows of every world instead of, say, the sky half of an image,
        # while the rows of a band, consecutive in one world, keep its blocks in cache
        row = np.int64(k)  # one integer type on both branches (the prange index may be unsigned)
        if row < n_bands * ROW_BAND:
            row = (row // ROW_BAND * stride) % n_bands * ROW_BAND + row % ROW_BAND
        n, i = row // height, row % height
        ox, oy, oz = cams[n, 0], cams[n, 1], cams[n, 2]
        yaw, pitch = math.radians(cams[n, 3]), math.radians(cams[n, 4])
        fx, fy, fz = -math.sin(yaw) * math.cos(pitch), -math.sin(pitch), math.cos(yaw) * math.cos(pitch)
        rx, ry, rz = -math.cos(yaw), 0.0, -math.sin(yaw)
        ux, uy, uz = ry * fz - rz * fy, rz * fx - rx * fz, rx * fy - ry * fx
        yc = (i + 0.5 - height / 2) / f
        # views taken once per row: a view per pixel costs a reference-count round trip
        blocks_n, tiles_n, mobs_n, rects_n = blocks[n], tiles[n], mobs[n], rects[n]
        top_n, n_mobs_n = tops[n], n_mobs[n]
        for j in range(width):
            xc = (j + 0.5 - width / 2) / f
            dx, dy, dz = fx + xc * rx - yc * ux, fy + xc * ry - yc * uy, fz + xc * rz - yc * uz
            norm0 = math.sqrt(dx * dx + dy * dy + dz * dz)
            r, g, b, depth, seg, hit, norm = _trace(
                blocks_n,
                top_n,
                tiles_n,
                textures,
                mobs_n,
                n_mobs_n,
                rects_n,
                i,
                j,
                ox,
                oy,
                oz,
                dx,
                dy,
                dz,
                view_distance / norm0,
            )
            sr, sg, sb = _sky(dy, norm)
            if hit:
                dist = depth * norm
                fog = min(1.0, max(0.0, (dist - fog_start) / max(1e-6, view_distance - fog_start)))
                r, g, b = r + (sr - r) * fog, g + (sg - g) * fog, b + (sb - b) * fog
            else:
                r, g, b = sr, sg, sb
            out_rgb[n, i, j, 0] = np.uint8(min(255.0, r + 0.5))
            out_rgb[n, i, j, 1] = np.uint8(min(255.0, g + 0.5))
            out_rgb[n, i, j, 2] = np.uint8(min(255.0, b + 0.5))
            if want_gt:
                out_depth[n, i, j] = depth if hit else np.inf
                out_seg[n, i, j] = seg if hit else SKY_SEG
