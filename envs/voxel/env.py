"""Gymnasium environment of the voxel world (``simworld/VoxelWorld-v0`` and its task variants).

Observations are the first-person RGB frame, uint8 (H, W, 3). Actions are canonical actions
(``simworld.actions``). Ground truth is returned in ``info`` only for the keys asked for with
``ground_truth=`` so that the fast path stays fast:

- ``pose``: float64 (5,) eye x, y, z, yaw, pitch (degrees, Minecraft conventions);
- ``intrinsics``: float64 (3, 3) pinhole K (OpenCV convention; see ``render.intrinsics``);
- ``depth``: float32 (H, W) planar depth in blocks along the viewing axis, inf for sky;
- ``segmentation``: int16 (H, W): 0 sky, block id, or ``ENTITY_SEG_OFFSET`` + mob index;
- ``entities``: float64 (M, 5) mob feet x, y, z, kind id, heading;
- ``events``: tuple of ``BlockEvent`` of this step (break, place, fall, land, set);
- ``inventory``: int64 (NUM_BLOCKS,) collected blocks per block id;
- ``target``: int64 (7,) hit flag, targeted cell x, y, z and face normal.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import fields
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces
from gymnasium.error import ResetNeeded

from envs.ground_truth import parse_ground_truth as parse_keys
from simworld import actions as A

from . import physics as P
from .blocks import SOLID, TEXTURES
from .config import VoxelWorldConfig
from .mobs import MOB_STATE_SIZE, mob_boxes_batch, mobs_tick_batch
from .render import TILE_SHIFT, intrinsics, render_batch
from .tasks import Task, make_task
from .world import MAX_MOBS, VoxelWorld

GROUND_TRUTH_KEYS = (
    "pose",
    "intrinsics",
    "depth",
    "segmentation",
    "entities",
    "events",
    "inventory",
    "target",
)


def parse_ground_truth(ground_truth: str | Iterable[str] | None) -> frozenset[str]:
    """Normalise ``ground_truth``: None, "all", or names from ``GROUND_TRUTH_KEYS`` (``envs.ground_truth``).

    Raises:
        ValueError: an unknown key, naming the valid ones.
    """
    return parse_keys(ground_truth, GROUND_TRUTH_KEYS)


def make_config(world_kwargs: dict[str, Any]) -> VoxelWorldConfig:
    """Build a VoxelWorldConfig from keyword arguments, naming the valid keys on a typo."""
    valid = [f.name for f in fields(VoxelWorldConfig)]
    unknown = sorted(set(world_kwargs) - set(valid))
    if unknown:
        raise ValueError(f"unknown voxel world parameters {unknown}; valid parameters: {valid}")
    return VoxelWorldConfig(**world_kwargs)


class FrameRenderer:
    """Render buffers and the call into the compiled renderer for a batch of worlds, and their batched step.

    Args:
        config: world parameters (frame size, field of view, view distance).
        num_worlds: batch size.
    """

    def __init__(self, config: VoxelWorldConfig, num_worlds: int) -> None:
        self.config = config
        H, W = config.height, config.width
        self.rgb = np.zeros((num_worlds, H, W, 3), np.uint8)
        self.depth = np.zeros((num_worlds, H, W), np.float32)
        self.seg = np.zeros((num_worlds, H, W), np.int16)
        self.cams = np.zeros((num_worlds, 5))
        self.boxes = np.zeros((num_worlds, MAX_MOBS, 8))
        self.n_mobs = np.zeros(num_worlds, np.int64)
        self.tops = np.zeros(num_worlds, np.int32)
        s = 1 << TILE_SHIFT
        self.blocks = np.zeros(
            (num_worlds, config.world_size, config.world_height, config.world_size), np.uint8
        )
        self.tiles = np.zeros((num_worlds, -(-config.world_size // s), -(-config.world_size // s)), np.int32)
        # Player and mob states of the worlds made by new_world live here too, so that one compiled
        # call per step gathers every camera and mob box (no per-world Python work in render()),
        # and one per tick advances every player and every world's mobs (step()).
        self.players = np.zeros((num_worlds, P.STATE_SIZE))
        self.mobs = np.zeros((num_worlds, MAX_MOBS, MOB_STATE_SIZE))
        self.mob_rng = np.zeros((num_worlds, MAX_MOBS), np.uint64)
        self._player_views = list(self.players)
        self._mob_views = list(self.mobs)
        self._made: list[VoxelWorld | None] = [None] * num_worlds
        self.K = intrinsics(W, H, config.fov_y)

    def new_world(self, i: int, seed: int) -> VoxelWorld:
        """Generate world i of the batch inside the stacked block, tile and state buffers."""
        world = VoxelWorld(
            self.config,
            seed,
            blocks_out=self.blocks[i],
            tiles_out=self.tiles[i],
            player_out=self._player_views[i],
            mobs_out=self._mob_views[i],
            mob_rng_out=self.mob_rng[i],
        )
        self._made[i] = world
        return world

    def step(self, worlds: list[VoxelWorld], actions: dict[str, np.ndarray], active: np.ndarray) -> None:
        """Advance the active worlds one step each, as ``VoxelWorld.step`` would one by one.

        Every tick runs the players' physics of all worlds in one compiled call, then interaction
        and falling blocks in Python for the worlds that have any, then all mobs in one compiled
        call; worlds share nothing, so this is ``VoxelWorld.step``'s per-world order of the same
        arithmetic. The step's block events are left in each world's ``events``.

        Args:
            worlds: the N worlds, made by ``new_world`` (their state lives in the stacked buffers).
            actions: validated batched canonical actions (``simworld.actions.validate_batched``).
            active: bool (N,) the worlds to step.

        Raises:
            ValueError: a world was not made by ``new_world`` at its index.
        """
        if worlds != self._made:  # (compares by identity)
            raise ValueError("every world must be the one new_world(i) made for its index i")
        idx = np.flatnonzero(active).tolist()
        for i in idx:
            worlds[i].events = []
        for i in np.flatnonzero(actions["hotbar"] * active).tolist():
            worlds[i].slot = int(actions["hotbar"][i]) - 1
        attack, use = actions["attack"].tolist(), actions["use"].tolist()
        self.n_mobs[:] = [w.n_mobs for w in worlds]
        a = actions
        for tick in range(self.config.ticks_per_step):
            P.players_tick_batch(
                self.blocks,
                SOLID,
                self.players,
                active,
                a["camera"],
                tick == 0,
                a["forward"],
                a["back"],
                a["left"],
                a["right"],
                a["jump"],
                a["sneak"],
                a["sprint"],
            )
            for i in idx:
                w = worlds[i]
                w.interact_tick(attack[i] != 0, use[i] != 0)
                w.tick += 1  # (mobs do not read the tick)
            mobs_tick_batch(self.blocks, SOLID, self.mobs, self.mob_rng, self.n_mobs, active)

    def render(self, worlds: list[VoxelWorld], want_gt: bool) -> None:
        """Render every world into the buffers.

        Args:
            worlds: the N worlds (made by ``new_world``, so they live in the stacked buffers).
            want_gt: also fill depth and segmentation.
        """
        if worlds != self._made:  # (compares by identity)
            for i, w in enumerate(worlds):
                # a world whose state is not the stacked buffers' (not made by new_world(i)): copy it in
                if w.player is not self._player_views[i]:
                    self.players[i] = w.player
                if w.mobs is not self._mob_views[i]:
                    self.mobs[i, : w.n_mobs] = w.mobs[: w.n_mobs]
        self.n_mobs[:] = [w.n_mobs for w in worlds]
        self.tops[:] = [w.top for w in worlds]
        P.cameras_batch(self.players, self.cams)
        mob_boxes_batch(self.mobs, self.n_mobs, self.boxes)
        c = self.config
        render_batch(
            self.blocks,
            self.tops,
            self.tiles,
            TEXTURES,
            self.cams,
            self.boxes,
            self.n_mobs,
            float(c.fov_y),
            float(c.view_distance),
            float(c.fog_start),
            self.rgb,
            self.depth,
            self.seg,
            want_gt,
        )

    def info(self, i: int, world: VoxelWorld, keys: frozenset[str]) -> dict[str, Any]:
        """Ground-truth info of world i for the requested keys (after ``render``)."""
        info: dict[str, Any] = {}
        if "pose" in keys:
            info["pose"] = world.camera()
        if "intrinsics" in keys:
            info["intrinsics"] = self.K.copy()
        if "depth" in keys:
            info["depth"] = self.depth[i].copy()
        if "segmentation" in keys:
            info["segmentation"] = self.seg[i].copy()
        if "entities" in keys:
            info["entities"] = world.entities()
        if "events" in keys:
            info["events"] = tuple(world.events)
        if "inventory" in keys:
            info["inventory"] = world.inventory.copy()
        if "target" in keys:
            t = world.target()
            info["target"] = np.array([1, *t[0], *t[1]] if t else [0] * 7, np.int64)
        return info


class VoxelWorldEnv(gym.Env):
    """A first-person Minecraft-style voxel world.

    Args:
        render_mode: None or "rgb_array" (``render()`` returns the current frame).
        task: "free", "navigate", "collect" or a ``Task`` instance.
        task_kwargs: keyword arguments of the task (e.g. ``{"block": "log", "count": 4}``).
        ground_truth: None, "all", or names from ``GROUND_TRUTH_KEYS`` to return in ``info``.
        world_seed: fix the world for every episode; None draws a new world per episode from the
            env's seed (``reset(seed=...)``).
        **world_kwargs: fields of ``VoxelWorldConfig`` (world_size, width, height, fov_y, ...).

    ``reset(options=...)`` accepts ``world_seed`` (this episode's world) and ``scenario`` (a
    callable ``scenario(world)`` that edits the world with the scenario API before the first
    frame is rendered).
    """

    metadata = {"render_modes": ["rgb_array"], "render_fps": 20}

    def __init__(
        self,
        render_mode: str | None = None,
        task: str | Task | None = "free",
        task_kwargs: dict | None = None,
        ground_truth: str | Iterable[str] | None = None,
        world_seed: int | None = None,
        **world_kwargs: Any,
    ) -> None:
        if render_mode not in (None, *self.metadata["render_modes"]):
            raise ValueError(
                f"render_mode must be one of {[None, *self.metadata['render_modes']]}, got {render_mode!r}"
            )
        self.config = make_config(world_kwargs)
        self.render_mode = render_mode
        self.task = make_task(task, **(task_kwargs or {}))
        self.ground_truth = parse_ground_truth(ground_truth)
        self._want_pixels_gt = bool(self.ground_truth & {"depth", "segmentation"})
        self.world_seed = world_seed
        c = self.config
        self.observation_space = spaces.Box(0, 255, (c.height, c.width, 3), np.uint8)
        self.action_space = A.action_space()
        self._renderer = FrameRenderer(c, 1)
        self.world: VoxelWorld | None = None

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        """Start an episode in a new (or the fixed) world. See the class docstring for options."""
        super().reset(seed=seed)
        options = dict(options or {})
        unknown = sorted(set(options) - {"world_seed", "scenario"})
        if unknown:
            raise ValueError(f"unknown reset options {unknown}; valid: ['world_seed', 'scenario']")
        world_seed = options.get("world_seed", self.world_seed)
        if world_seed is None:
            world_seed = int(self.np_random.integers(0, 2**31 - 1))
        self.world = self._renderer.new_world(0, int(world_seed))
        scenario: Callable[[VoxelWorld], None] | None = options.get("scenario")
        if scenario is not None:
            scenario(self.world)
            self.world.events = []
        info = {"world_seed": int(world_seed), **self.task.reset(self.world, self.np_random)}
        return self._observe(info)

    def step(self, action: dict):
        """Advance one step (``ticks_per_step`` ticks of 20 Hz) with a canonical action."""
        if self.world is None:
            raise ResetNeeded("call reset() before step()")
        events = self.world.step(A.validate(action))
        reward, terminated, task_info = self.task.score(self.world, events)
        obs, info = self._observe(task_info)
        return obs, float(reward), bool(terminated), False, info

    def _observe(self, extra: dict[str, Any]):
        self._renderer.render([self.world], self._want_pixels_gt)
        info = {"tick": self.world.tick, **extra}
        if self.ground_truth:
            info.update(self._renderer.info(0, self.world, self.ground_truth))
        return self._renderer.rgb[0].copy(), info

    def render(self) -> np.ndarray | None:
        """The current frame, uint8 (H, W, 3), when render_mode is "rgb_array"."""
        if self.render_mode == "rgb_array" and self.world is not None:
            return self._renderer.rgb[0].copy()
        return None
