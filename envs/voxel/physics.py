"""Player physics at 20 ticks/s with Minecraft's constants, and the block-targeting ray cast.

The movement model follows Minecraft Java Edition 1.12's ``EntityLivingBase.travel``: inputs
accelerate the player (0.1 blocks/tick² on the ground, ×1.3 sprinting, ×0.3 sneaking; 0.02 in
the air), horizontal velocity is multiplied by the ground friction 0.546 (0.6 × 0.91) or the
air friction 0.91 each tick, gravity subtracts 0.08 blocks/tick and drag multiplies vertical
velocity by 0.98, a jump sets it to 0.42 (≈1.25 blocks high). Terminal walking speed is thus
0.1 / (1 − 0.546) = 0.22 blocks/tick ≈ 4.4 m/s (Minecraft: 4.317 m/s). The player is a
0.6 × 1.8 × 0.6 box with eyes 1.62 above the feet; collisions resolve Y first, then X, then Z,
against every solid cell, and the world's horizontal border and floor are walls.
"""

from __future__ import annotations

import math

import numba as nb
import numpy as np

from .blocks import SOLID, WATER
from .dda import INF, dda_start, dda_step

PLAYER_WIDTH = 0.6
PLAYER_HEIGHT = 1.8
EYE_HEIGHT = 1.62
REACH = 4.5
GRAVITY = 0.08
DRAG_Y = 0.98
JUMP_VELOCITY = 0.42
GROUND_FRICTION = 0.6 * 0.91
AIR_FRICTION = 0.91
WATER_FRICTION = 0.8
GROUND_ACCEL = 0.1
AIR_ACCEL = 0.02
SPRINT_FACTOR = 1.3
SNEAK_FACTOR = 0.3
SPRINT_JUMP_BOOST = 0.2
# Vertical velocity of a player standing still on the ground (gravity, then drag, each tick);
# Minecraft's resting motionY. A grounded player with exactly 0 would not count as landed on its
# next tick (landing needs a clipped downward move) and take one tick of air movement.
RESTING_VY = -GRAVITY * DRAG_Y
_EPS = 1e-7

# Player state vector layout (float64): position of the feet centre, velocity, orientation, flags.
PX, PY, PZ, VX, VY, VZ, YAW, PITCH, ON_GROUND, IN_WATER = range(10)
STATE_SIZE = 10


@nb.njit(cache=True)
def _solid(blocks, solid_table, x, y, z):
    nx, ny, nz = blocks.shape
    if x < 0 or z < 0 or x >= nx or z >= nz or y < 0:
        return True  # the world's border and floor are walls
    if y >= ny:
        return False
    return solid_table[blocks[x, y, z]]


@nb.njit(cache=True)
def _clip_axis(blocks, solid_table, lo, hi, axis, d):
    """Largest displacement up to ``d`` along ``axis`` that keeps the box [lo, hi] out of solids."""
    if d == 0.0:
        return 0.0
    # cell range of the box on the two other axes
    a1, a2 = (1, 2) if axis == 0 else ((0, 2) if axis == 1 else (0, 1))
    c1a, c1b = int(math.floor(lo[a1] + _EPS)), int(math.floor(hi[a1] - _EPS))
    c2a, c2b = int(math.floor(lo[a2] + _EPS)), int(math.floor(hi[a2] - _EPS))
    if d > 0:
        start = int(math.floor(hi[axis] - _EPS)) + 1
        end = int(math.floor(hi[axis] + d - _EPS))
        step = 1
    else:
        start = int(math.floor(lo[axis] + _EPS)) - 1
        end = int(math.floor(lo[axis] + d + _EPS))
        step = -1
    c = start
    while (step > 0 and c <= end) or (step < 0 and c >= end):
        for u in range(c1a, c1b + 1):
            for v in range(c2a, c2b + 1):
                if axis == 0:
                    x, y, z = c, u, v
                elif axis == 1:
                    x, y, z = u, c, v
                else:
                    x, y, z = u, v, c
                if _solid(blocks, solid_table, x, y, z):
                    return (c - hi[axis]) if step > 0 else (c + 1 - lo[axis])
        c += step
    return d


@nb.njit(cache=True)
def box_hits_solid(blocks, solid_table, lo, hi):
    """True when the box [lo, hi] overlaps a solid cell (or the world's walls)."""
    for x in range(int(math.floor(lo[0] + _EPS)), int(math.floor(hi[0] - _EPS)) + 1):
        for y in range(int(math.floor(lo[1] + _EPS)), int(math.floor(hi[1] - _EPS)) + 1):
            for z in range(int(math.floor(lo[2] + _EPS)), int(math.floor(hi[2] - _EPS)) + 1):
                if _solid(blocks, solid_table, x, y, z):
                    return True
    return False


@nb.njit(cache=True)
def _in_water(blocks, state):
    x, z = int(math.floor(state[PX])), int(math.floor(state[PZ]))
    nx, ny, nz = blocks.shape
    if x < 0 or z < 0 or x >= nx or z >= nz:
        return False
    for y in (int(math.floor(state[PY] + 0.1)), int(math.floor(state[PY] + 1.0))):
        if 0 <= y < ny and blocks[x, y, z] == WATER:
            return True
    return False


@nb.njit(cache=True)
def player_tick(blocks, solid_table, state, fwd, strafe, jump, sneak, sprint):
    """Advance the player one 20 Hz tick in place.

    Args:
        blocks: uint8 (X, Y, Z) block ids.
        solid_table: bool (NUM_BLOCKS,) which block ids collide.
        state: float64 (STATE_SIZE,) player state, updated in place.
        fwd: +1 forward, -1 back, 0 neither.
        strafe: +1 left, -1 right, 0 neither (Minecraft's moveStrafing sign).
        jump, sneak, sprint: key states (0/1).
    """
    in_water = _in_water(blocks, state)
    state[IN_WATER] = 1.0 if in_water else 0.0
    f, s = float(fwd), float(strafe)
    if sneak:
        f, s = f * SNEAK_FACTOR, s * SNEAK_FACTOR
    sprinting = sprint and fwd > 0 and not sneak
    on_ground = state[ON_GROUND] > 0
    yaw = math.radians(state[YAW])
    sin_y, cos_y = math.sin(yaw), math.cos(yaw)
    if in_water:
        accel, friction = AIR_ACCEL, WATER_FRICTION
        if jump:
            state[VY] += 0.04
    else:
        friction = GROUND_FRICTION if on_ground else AIR_FRICTION
        accel = GROUND_ACCEL if on_ground else AIR_ACCEL
        if sprinting:
            accel *= SPRINT_FACTOR
        if jump and on_ground:
            state[VY] = JUMP_VELOCITY
            if sprinting:
                state[VX] -= sin_y * SPRINT_JUMP_BOOST
                state[VZ] += cos_y * SPRINT_JUMP_BOOST
    mag = math.sqrt(f * f + s * s)
    if mag >= 1e-4:
        k = accel / max(mag, 1.0)
        f, s = f * k, s * k
        state[VX] += s * cos_y - f * sin_y
        state[VZ] += f * cos_y + s * sin_y
    half = PLAYER_WIDTH / 2
    lo = np.array([state[PX] - half, state[PY], state[PZ] - half])
    hi = np.array([state[PX] + half, state[PY] + PLAYER_HEIGHT, state[PZ] + half])
    order = (1, 0, 2)
    landed = False
    for axis in order:
        want = state[VX + axis]
        got = _clip_axis(blocks, solid_table, lo, hi, axis, want)
        lo[axis] += got
        hi[axis] += got
        if got != want:
            if axis == 1 and want < 0:
                landed = True
            state[VX + axis] = 0.0
    state[PX], state[PY], state[PZ] = lo[0] + half, lo[1], lo[2] + half
    state[ON_GROUND] = 1.0 if landed else 0.0
    if in_water:
        state[VY] = (state[VY] - 0.02) * WATER_FRICTION
    else:
        state[VY] = (state[VY] - GRAVITY) * DRAG_Y
    state[VX] *= friction
    state[VZ] *= friction


@nb.njit(cache=True)
def players_tick_batch(
    blocks, solid_table, states, active, camera, turn, forward, back, left, right, jump, sneak, sprint
):
    """``player_tick`` for the players of a batch of worlds in one compiled call.

    Args:
        blocks: uint8 (N, X, Y, Z) block ids per world.
        solid_table: bool (NUM_BLOCKS,).
        states: float64 (N, STATE_SIZE) player states, updated in place for the active worlds.
        active: bool (N,) which worlds to advance.
        camera: float32 (N, 2) pitch and yaw change in degrees, applied first when ``turn``.
        turn: apply ``camera`` (the first tick of a step) before the tick.
        forward, back, left, right, jump, sneak, sprint: int64 (N,) key states (0/1).
    """
    for n in range(states.shape[0]):
        if not active[n]:
            continue
        state = states[n]
        if turn:  # as VoxelWorld.step: pitch clamped to [-90, 90], yaw wrapped to [0, 360)
            state[PITCH] = min(90.0, max(-90.0, state[PITCH] + np.float64(camera[n, 0])))
            state[YAW] = (state[YAW] + np.float64(camera[n, 1])) % 360.0
        player_tick(
            blocks[n],
            solid_table,
            state,
            forward[n] - back[n],
            left[n] - right[n],
            jump[n] != 0,
            sneak[n] != 0,
            sprint[n] != 0,
        )


@nb.njit(cache=True)
def cameras_batch(states, out):
    """Renderer camera rows (eye x, y, z, yaw, pitch) of a batch of players.

    Args:
        states: float64 (N, STATE_SIZE) player states.
        out: float64 (N, 5), written.
    """
    for n in range(states.shape[0]):
        out[n, 0] = states[n, PX]
        out[n, 1] = states[n, PY] + EYE_HEIGHT
        out[n, 2] = states[n, PZ]
        out[n, 3] = states[n, YAW]
        out[n, 4] = states[n, PITCH]


@nb.njit(cache=True)
def raycast(blocks, ox, oy, oz, dx, dy, dz, reach):
    """First non-air, non-water cell along a ray (the block Minecraft's crosshair targets).

    Args:
        blocks: uint8 (X, Y, Z) block ids.
        ox, oy, oz: ray origin (the eye).
        dx, dy, dz: unit direction.
        reach: maximum distance in blocks.

    Returns:
        (hit, x, y, z, nx, ny, nz, distance): the cell, the outward normal of the face entered,
        and the Euclidean distance to the entry point; hit False when nothing is within reach.
    """
    X, Y, Z = blocks.shape
    ix, iy, iz, sx, sy, sz, _, _, _, tdx, tdy, tdz, tmx, tmy, tmz = dda_start(ox, oy, oz, dx, dy, dz)
    t, axis = 0.0, -1
    while t <= reach:
        if 0 <= ix < X and 0 <= iy < Y and 0 <= iz < Z and axis >= 0:
            b = blocks[ix, iy, iz]
            if b != 0 and b != WATER:
                nx = -sx if axis == 0 else 0
                ny = -sy if axis == 1 else 0
                nz = -sz if axis == 2 else 0
                return True, ix, iy, iz, nx, ny, nz, t
        t, axis, ix, iy, iz, tmx, tmy, tmz = dda_step(ix, iy, iz, sx, sy, sz, tdx, tdy, tdz, tmx, tmy, tmz)
    return False, 0, 0, 0, 0, 0, 0, INF


def view_direction(yaw_deg: float, pitch_deg: float) -> np.ndarray:
    """Unit viewing direction for a Minecraft yaw/pitch in degrees."""
    yaw, pitch = math.radians(yaw_deg), math.radians(pitch_deg)
    return np.array([-math.sin(yaw) * math.cos(pitch), -math.sin(pitch), math.cos(yaw) * math.cos(pitch)])


SOLID_TABLE = SOLID
