"""The simulated voxel world: blocks, the player, mobs, falling blocks, interaction and ground truth.

``VoxelWorld`` is the simulator behind the Gymnasium envs, and also the scenario API with which
probes build scenes in code (``set_block``, ``set_pose``, ``spawn_mob``). It consumes canonical
actions (``simworld.actions``) and advances ``ticks_per_step`` ticks of 20 Hz each step.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from simworld import actions as A

from . import physics as P
from .blocks import BLOCK_IDS, BLOCKS, GRAVITY, NUM_BLOCKS, SOLID, WATER, block_id
from .config import VoxelWorldConfig
from .mobs import (
    MHEADING,
    MKIND,
    MMOVING,
    MOB_KINDS,
    MOB_STATE_SIZE,
    MTIMER,
    MX,
    MY,
    MZ,
    mob_boxes,
    mobs_tick,
    settle,
    spawn_mobs,
)
from .render import TILE_SHIFT, tile_heights
from .terrain import Landmark, generate

#: Blocks in hotbar slots 1..9 (creative: unlimited).
HOTBAR = ("dirt", "stone", "planks", "glass", "sand", "gravel", "log", "red_wool", "blue_wool")
#: Ticks of holding attack on the same block to break it (bedrock never breaks).
BREAK_TICKS = {
    "leaves": 1,
    "glass": 1,
    "grass": 2,
    "dirt": 2,
    "sand": 2,
    "gravel": 2,
    "log": 3,
    "planks": 3,
    "stone": 4,
    "red_wool": 2,
    "blue_wool": 2,
    "yellow_wool": 2,
    "magenta_wool": 2,
}
#: What breaking a block adds to the inventory (Minecraft: grass drops dirt, glass and leaves drop nothing).
DROPS = {"grass": "dirt", "glass": None, "leaves": None}
USE_COOLDOWN_TICKS = 4  # Minecraft's right-click delay
FALL_INTERVAL_TICKS = 2  # a falling block drops one cell every 2 ticks (10 blocks/s)
MAX_MOBS = 64
_BREAK = np.array([BREAK_TICKS.get(b.name, 0) for b in BLOCKS], np.int64)


@dataclass(frozen=True)
class BlockEvent:
    """A change of one cell.

    Attributes:
        tick: world tick at which it happened.
        kind: "break", "place", "fall" (a gravity block left this cell) or "land"/"set".
        cell: (x, y, z).
        old: block name before.
        new: block name after.
    """

    tick: int
    kind: str
    cell: tuple[int, int, int]
    old: str
    new: str


class VoxelWorld:
    """One world and its player.

    Args:
        config: world parameters.
        seed: world seed (terrain, spawn, mobs).
        blocks_out: optional uint8 (X, Y, Z) array to hold the blocks (a vector env passes views of
            one stacked array so that one renderer call sees every world).
        tiles_out: optional int32 array to hold the tile heights (``render.tile_heights``), likewise.
        player_out: optional float64 (STATE_SIZE,) array to hold the player state, likewise.
        mobs_out: optional float64 (MAX_MOBS, MOB_STATE_SIZE) array to hold the mob states, likewise.
        mob_rng_out: optional uint64 (MAX_MOBS,) array to hold the mobs' random streams, likewise.
    """

    def __init__(
        self,
        config: VoxelWorldConfig,
        seed: int,
        blocks_out: np.ndarray | None = None,
        tiles_out: np.ndarray | None = None,
        player_out: np.ndarray | None = None,
        mobs_out: np.ndarray | None = None,
        mob_rng_out: np.ndarray | None = None,
    ) -> None:
        self.config = config
        self.seed = int(seed)
        terrain = generate(config, self.seed)
        if blocks_out is None:
            blocks_out = np.empty_like(terrain.blocks)
        blocks_out[...] = terrain.blocks
        self.blocks = blocks_out
        tiles = tile_heights(self.blocks)
        if tiles_out is None:
            tiles_out = np.empty_like(tiles)
        tiles_out[...] = tiles
        self.tiles = tiles_out
        self.landmarks: list[Landmark] = terrain.landmarks
        self.top = int(terrain.heights.max()) + 1
        rng = np.random.default_rng([self.seed, 0xA11CE])
        self.player = np.zeros(P.STATE_SIZE) if player_out is None else player_out
        self.player[:] = 0.0
        self.player[P.PX : P.PZ + 1] = terrain.spawn
        self.player[P.YAW] = float(rng.integers(0, 8)) * 45.0
        self.player[P.ON_GROUND] = 1.0
        self.player[P.VY] = P.RESTING_VY
        self.mobs = np.zeros((MAX_MOBS, MOB_STATE_SIZE)) if mobs_out is None else mobs_out
        self.mobs[:] = 0.0
        self.mob_rng = np.zeros(MAX_MOBS, np.uint64) if mob_rng_out is None else mob_rng_out
        self.mob_rng[:] = 0
        n = config.num_mobs
        self.mobs[:n], self.mob_rng[:n] = spawn_mobs(self.blocks, SOLID, rng, n, terrain.spawn)
        self.n_mobs = n
        self.slot = 0
        self.inventory = np.zeros(NUM_BLOCKS, np.int64)
        self.tick = 0
        self._break_cell: tuple[int, int, int] | None = None
        self._break_ticks = 0
        self._use_cooldown = 0
        self._pending: set[tuple[int, int, int]] = set()
        self.events: list[BlockEvent] = []

    # ------------------------------------------------------------------ stepping
    def step(self, action: dict) -> list[BlockEvent]:
        """Apply one validated canonical action for ``ticks_per_step`` ticks.

        Returns:
            The block events of this step.
        """
        self.events = []
        pitch_d, yaw_d = float(action["camera"][0]), float(action["camera"][1])
        self.player[P.PITCH] = min(90.0, max(-90.0, self.player[P.PITCH] + pitch_d))
        self.player[P.YAW] = (self.player[P.YAW] + yaw_d) % 360.0
        if action["hotbar"]:
            self.slot = int(action["hotbar"]) - 1
        fwd = int(action["forward"]) - int(action["back"])
        strafe = int(action["left"]) - int(action["right"])
        for _ in range(self.config.ticks_per_step):
            P.player_tick(
                self.blocks,
                SOLID,
                self.player,
                fwd,
                strafe,
                bool(action["jump"]),
                bool(action["sneak"]),
                bool(action["sprint"]),
            )
            self.interact_tick(bool(action["attack"]), bool(action["use"]))
            mobs_tick(self.blocks, SOLID, self.mobs, self.mob_rng, self.n_mobs)
            self.tick += 1
        return self.events

    def interact_tick(self, attack: bool, use: bool) -> None:
        """The part of a tick between the player's and the mobs' physics: interaction, falling blocks.

        ``step`` calls it every tick; the vector env's batched step (``FrameRenderer.step``) too.
        """
        if attack or use or self._use_cooldown or self._break_cell is not None:
            self._interact(attack, use)  # otherwise a no-op
        if self._pending:
            self._fall()

    def _interact(self, attack: bool, use: bool) -> None:
        self._use_cooldown = max(0, self._use_cooldown - 1)
        if not attack and not use:
            self._break_cell = None
            return
        target = self.target()
        if attack and target is not None:
            cell = target[0]
            if cell != self._break_cell:
                self._break_cell, self._break_ticks = cell, 0
            self._break_ticks += 1
            need = _BREAK[self.blocks[cell]]
            if need and self._break_ticks >= need:
                name = BLOCKS[self.blocks[cell]].name
                drop = DROPS.get(name, name)
                if drop is not None:
                    self.inventory[BLOCK_IDS[drop]] += 1
                self._set(cell, 0, "break")
                self._break_cell = None
        else:
            self._break_cell = None
        if use and target is not None and self._use_cooldown == 0:
            cell, normal = target
            place = (cell[0] + normal[0], cell[1] + normal[1], cell[2] + normal[2])
            if self._can_place(place):
                self._set(place, BLOCK_IDS[HOTBAR[self.slot]], "place")
                self._use_cooldown = USE_COOLDOWN_TICKS

    def _can_place(self, cell: tuple[int, int, int]) -> bool:
        X, Y, Z = self.blocks.shape
        if not (0 <= cell[0] < X and 0 <= cell[1] < Y and 0 <= cell[2] < Z):
            return False
        if self.blocks[cell] not in (0, WATER):
            return False
        lo, hi = np.array(cell, np.float64), np.array(cell, np.float64) + 1.0
        boxes = [self.player_box()] + [tuple(b) for b in self._mob_box_pairs()]
        return not any(np.all(lo < bhi) and np.all(blo < hi) for blo, bhi in boxes)

    def _mob_box_pairs(self):
        boxes = np.zeros((self.n_mobs, 8))
        mob_boxes(self.mobs, self.n_mobs, boxes)
        return [(b[:3], b[3:6]) for b in boxes]

    def _set(self, cell: tuple[int, int, int], new: int, kind: str) -> None:
        old = int(self.blocks[cell])
        self.blocks[cell] = new
        self.top = max(self.top, cell[1] + 1 if new else self.top)
        self._update_tile(cell)
        self.events.append(
            BlockEvent(self.tick, kind, tuple(int(c) for c in cell), BLOCKS[old].name, BLOCKS[new].name)
        )
        x, y, z = cell
        for c in ((x, y, z), (x, y + 1, z)):
            if 0 <= c[1] < self.blocks.shape[1] and GRAVITY[self.blocks[c]]:
                self._pending.add(c)
        if kind in ("break", "set") and new == 0:
            settle(self.blocks, SOLID, self.mobs, self.n_mobs)

    def _update_tile(self, cell: tuple[int, int, int]) -> None:
        """Keep the renderer's tile heights exact after a cell changed."""
        tx, tz = cell[0] >> TILE_SHIFT, cell[2] >> TILE_SHIFT
        s = 1 << TILE_SHIFT
        self.tiles[tx, tz] = tile_heights(self.blocks[tx * s : (tx + 1) * s, :, tz * s : (tz + 1) * s])[0, 0]

    def _fall(self) -> None:
        """Drop unsupported sand and gravel one cell (every FALL_INTERVAL_TICKS ticks)."""
        if not self._pending or self.tick % FALL_INTERVAL_TICKS:
            return
        lo, hi = self.player_box()
        for cell in sorted(self._pending, key=lambda c: (c[1], c[0], c[2])):  # bottom-up, deterministic
            self._pending.discard(cell)
            x, y, z = cell
            blk = int(self.blocks[cell])
            if not GRAVITY[blk] or y == 0:
                continue
            below = (x, y - 1, z)
            in_player = (
                lo[0] < x + 1 and x < hi[0] and lo[1] < y and y - 1 < hi[1] and lo[2] < z + 1 and z < hi[2]
            )
            if SOLID[self.blocks[below]]:
                continue
            if in_player:
                self._pending.add(cell)  # held up by the player: falls once the player moves away
                continue
            self._set(cell, 0, "fall")
            self._set(below, blk, "land")
            self._pending.add(below)

    # ------------------------------------------------------------------ queries
    def eye(self) -> np.ndarray:
        """Eye position (x, y, z)."""
        return np.array([self.player[P.PX], self.player[P.PY] + P.EYE_HEIGHT, self.player[P.PZ]])

    def camera(self) -> np.ndarray:
        """Renderer camera row: eye x, y, z, yaw, pitch."""
        e = self.eye()
        return np.array([e[0], e[1], e[2], self.player[P.YAW], self.player[P.PITCH]])

    def player_box(self) -> tuple[np.ndarray, np.ndarray]:
        """The player's collision box (min corner, max corner)."""
        half = P.PLAYER_WIDTH / 2
        p = self.player
        return (
            np.array([p[P.PX] - half, p[P.PY], p[P.PZ] - half]),
            np.array([p[P.PX] + half, p[P.PY] + P.PLAYER_HEIGHT, p[P.PZ] + half]),
        )

    def target(self) -> tuple[tuple[int, int, int], tuple[int, int, int]] | None:
        """The block under the crosshair within reach, and the face normal, or None."""
        e = self.eye()
        d = P.view_direction(self.player[P.YAW], self.player[P.PITCH])
        hit, x, y, z, nx, ny, nz, _ = P.raycast(self.blocks, e[0], e[1], e[2], d[0], d[1], d[2], P.REACH)
        return ((x, y, z), (nx, ny, nz)) if hit else None

    def entities(self) -> np.ndarray:
        """float64 (n_mobs, 5): feet x, y, z, kind id, heading (degrees) of every mob."""
        m = self.mobs[: self.n_mobs]
        return np.stack([m[:, MX], m[:, MY], m[:, MZ], m[:, MKIND], m[:, MHEADING]], axis=1)

    # ------------------------------------------------------------------ scenario API
    def set_block(self, x: int, y: int, z: int, name: str) -> None:
        """Put a block (by name, "air" removes) at a cell; sand and gravel then fall if unsupported.

        Raises:
            ValueError: unknown block name or a cell outside the world.
        """
        X, Y, Z = self.blocks.shape
        if not (0 <= x < X and 0 <= y < Y and 0 <= z < Z):
            raise ValueError(f"cell {(x, y, z)} is outside the world [0, {X}) × [0, {Y}) × [0, {Z})")
        self._set((int(x), int(y), int(z)), block_id(name), "set")

    def fill(self, lo: tuple[int, int, int], hi: tuple[int, int, int], name: str) -> None:
        """Fill the inclusive box of cells [lo, hi] with a block ("air" clears it), in one write.

        Emits a "set" event per changed cell, as ``set_block`` does.

        Raises:
            ValueError: unknown block name, or a box that is empty or leaves the world.
        """
        new = block_id(name)
        X, Y, Z = self.blocks.shape
        lo, hi = tuple(int(v) for v in lo), tuple(int(v) for v in hi)
        if not all(0 <= a <= b < n for a, b, n in zip(lo, hi, (X, Y, Z))):
            raise ValueError(f"box {lo}..{hi} must satisfy 0 <= lo <= hi < {(X, Y, Z)} on every axis")
        box = (slice(lo[0], hi[0] + 1), slice(lo[1], hi[1] + 1), slice(lo[2], hi[2] + 1))
        region = self.blocks[box]
        for off in np.argwhere(region != new):
            cell = (lo[0] + int(off[0]), lo[1] + int(off[1]), lo[2] + int(off[2]))
            self.events.append(BlockEvent(self.tick, "set", cell, BLOCKS[region[tuple(off)]].name, name))
        region[...] = new
        if new:
            self.top = max(self.top, hi[1] + 1)
        s = 1 << TILE_SHIFT
        t0, t1 = (lo[0] >> TILE_SHIFT, lo[2] >> TILE_SHIFT), (hi[0] >> TILE_SHIFT, hi[2] >> TILE_SHIFT)
        self.tiles[t0[0] : t1[0] + 1, t0[1] : t1[1] + 1] = tile_heights(
            self.blocks[t0[0] * s : (t1[0] + 1) * s, :, t0[1] * s : (t1[1] + 1) * s]
        )
        above = (box[0], slice(lo[1], min(Y, hi[1] + 2)), box[2])
        for off in np.argwhere(GRAVITY[self.blocks[above]]):
            self._pending.add((lo[0] + int(off[0]), lo[1] + int(off[1]), lo[2] + int(off[2])))
        if new == 0:
            settle(self.blocks, SOLID, self.mobs, self.n_mobs)

    def ground(self, x: int, z: int) -> int:
        """y where something standing on column (x, z) has its feet."""
        col = self.blocks[int(x), :, int(z)]
        solid = np.nonzero(SOLID[col] | (col == WATER))[0]
        return int(solid[-1]) + 1 if len(solid) else 0

    def set_pose(
        self,
        position: tuple[float, float, float] | None = None,
        yaw: float | None = None,
        pitch: float | None = None,
    ) -> None:
        """Teleport the player (feet position) and/or set its view, stopping all motion.

        Raises:
            ValueError: the position puts the player inside a block or outside the world, or pitch
                is outside [-90, 90].
        """
        if position is not None:
            old = self.player[P.PX : P.PZ + 1].copy()
            self.player[P.PX : P.PZ + 1] = position
            lo, hi = self.player_box()
            if P.box_hits_solid(self.blocks, SOLID, lo, hi):
                self.player[P.PX : P.PZ + 1] = old
                raise ValueError(
                    f"position {tuple(position)} puts the player inside a solid block or outside the world"
                )
        if yaw is not None:
            self.player[P.YAW] = float(yaw) % 360.0
        if pitch is not None:
            if not -90.0 <= pitch <= 90.0:
                raise ValueError(f"pitch must be in [-90, 90] degrees, got {pitch}")
            self.player[P.PITCH] = float(pitch)
        self.player[P.VX : P.VZ + 1] = 0.0
        lo, hi = self.player_box()
        lo[1] -= 0.01
        self.player[P.ON_GROUND] = (
            1.0 if P.box_hits_solid(self.blocks, SOLID, lo, np.array([hi[0], lo[1] + 0.01, hi[2]])) else 0.0
        )
        if self.player[P.ON_GROUND]:
            self.player[P.VY] = P.RESTING_VY  # at rest on the ground, as after any tick of standing

    def spawn_mob(
        self, kind: str, position: tuple[float, float, float], heading: float = 0.0, wander: bool = True
    ) -> int:
        """Add a mob and return its index (its segmentation id is ENTITY_SEG_OFFSET + index).

        Args:
            kind: one of the MOB_KINDS names.
            position: feet centre.
            heading: degrees, Minecraft yaw convention.
            wander: False keeps it standing still (a static object for permanence probes).

        Raises:
            ValueError: unknown kind, or the world already holds MAX_MOBS mobs.
        """
        names = [k[0] for k in MOB_KINDS]
        if kind not in names:
            raise ValueError(f"unknown mob kind {kind!r}; valid kinds: {', '.join(names)}")
        if self.n_mobs >= MAX_MOBS:
            raise ValueError(f"a world holds at most {MAX_MOBS} mobs")
        k = self.n_mobs
        self.mobs[k] = 0.0
        self.mobs[k, MX], self.mobs[k, MY], self.mobs[k, MZ] = position
        self.mobs[k, MHEADING], self.mobs[k, MKIND] = heading, names.index(kind)
        self.mobs[k, MTIMER] = 1e18 if not wander else 0
        self.mobs[k, MMOVING] = 0.0
        self.mob_rng[k] = np.uint64((self.seed * 1_000_003 + k) % 2**63)
        self.n_mobs += 1
        return k

    def clear_mobs(self) -> None:
        """Remove every mob."""
        self.n_mobs = 0

    def look_at(self, point: np.ndarray) -> tuple[float, float]:
        """Yaw and pitch (degrees) that point the view from the eye at a world point."""
        d = np.asarray(point, np.float64) - self.eye()
        yaw = math.degrees(math.atan2(-d[0], d[2])) % 360.0
        pitch = -math.degrees(math.atan2(d[1], math.hypot(d[0], d[2])))
        return yaw, pitch


def noop_action() -> dict:
    """Canonical no-op action (re-exported for scenario scripts)."""
    return A.noop()
