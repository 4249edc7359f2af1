"""Gymnasium adapter of ViZDoom (``simworld/Doom-v0`` and its scenario variants).

Observations are the first-person RGB frame, uint8 (H, W, 3): ViZDoom's screen at
``resolution`` (4:3 only, default 120 × 160), or resized to ``frame_size`` with
``cv2.INTER_AREA`` (e.g. (64, 64) for small models). Actions are canonical actions
(``simworld.actions``), mapped onto ViZDoom buttons; the scenario's own button list is replaced by
this fixed set (its map, rewards, timeout and skill are kept):

=====================  ==============================================================
canonical              ViZDoom button
=====================  ==============================================================
forward / back         MOVE_FORWARD / MOVE_BACKWARD
left / right           MOVE_LEFT / MOVE_RIGHT (strafe)
jump / sneak / sprint  JUMP / CROUCH / SPEED
attack / use           ATTACK / USE
camera[1] (yaw)        TURN_LEFT_RIGHT_DELTA, ``camera[1] / frame_skip`` degrees per tic
camera[0] (pitch)      LOOK_UP_DOWN_DELTA, ``-camera[0] / frame_skip`` degrees per tic
hotbar k (1..9)        SELECT_WEAPONk (0 keeps the weapon)
=====================  ==============================================================

so ``camera[1] > 0`` turns right and ``camera[0] > 0`` looks down, as in the canonical schema
(delta buttons act on every tic of a step, hence the division by ``frame_skip``). One step
advances ``frame_skip`` tics of 35 Hz. The episode terminates when the player dies or exits the
map and is truncated at the scenario's ``episode_timeout``; the observation returned with the last
step is the last rendered frame (ViZDoom renders none once the episode has finished).

Ground truth is returned in ``info`` for the keys asked for with ``ground_truth=`` (default
pose, intrinsics and depth, which the scripted policies and ``simworld collect`` use):

- ``pose``: float64 (5,) camera eye x, y, z, yaw, pitch in the voxel env's (Minecraft)
  convention, so the pose probes apply unchanged: ``x = doom_x``, ``y = camera_z`` (up),
  ``z = -doom_y``, in Doom map units (the player is 56 units tall, the eye 41 above the floor and
  bobbing a few units while walking);
  ``yaw = -doom_angle - 90`` wrapped to [-180, 180) (0 faces -doom_y, grows clockwise seen from
  above), ``pitch = doom_pitch`` (positive looks down). ``doom_pose`` holds the raw
  CAMERA_POSITION_X/Y/Z, CAMERA_ANGLE (degrees counter-clockwise from +x) and CAMERA_PITCH.
- ``intrinsics``: float64 (3, 3) pinhole K (OpenCV convention) from the horizontal FOV
  (CAMERA_FOV, 90 degrees) over the frame width, square pixels, principal point at the centre.
  Doom's software renderer looks up and down by shearing the image, not by rotating the camera,
  so K with the pose's pitch is exact only at pitch 0 (the scripted policies keep it there).
- ``depth``: float32 (H, W) planar depth along the viewing axis in map units, from ViZDoom's
  8-bit depth buffer times ``DEPTH_UNITS_PER_LEVEL`` (7.5, fitted against ray casts to the map's
  walls in my_way_home: median relative error 3%, quantised in steps of 7.5 units, saturating at
  255 levels ≈ 1,900 units).
- ``segmentation``: uint8 (H, W) ViZDoom labels buffer: 0 for walls, floors and ceilings, else
  the label value of the object (actor or item) drawn at the pixel.
- ``labels``: list of dicts of the objects visible in this frame: ``value`` (its id in
  ``segmentation``), ``id`` (object id, stable over the episode), ``name`` (Doom class, e.g.
  ``GreenArmor``), ``position`` (float64 (3,) in the pose's world convention, map units) and
  ``box`` ((x, y, width, height) in pixels of the frame).

With ``frame_size`` the depth and segmentation maps are resized with nearest-neighbour sampling
and K is scaled to the new size.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Iterable
from typing import Any

import cv2
import gymnasium as gym
import numpy as np
from gymnasium import spaces
from gymnasium.error import DependencyNotInstalled, ResetNeeded

from envs.ground_truth import parse_ground_truth as parse_keys
from simworld import actions as A

SCENARIOS: dict[str, str] = {
    "basic": "basic.cfg",
    "my_way_home": "my_way_home.cfg",
    "deathmatch": "deathmatch.cfg",
    "health_gathering": "health_gathering.cfg",
    "defend_the_center": "defend_the_center.cfg",
}
"""Scenario names accepted by ``DoomEnv`` -> the config file bundled with the vizdoom wheel."""

RESOLUTIONS: tuple[tuple[int, int], ...] = (
    (120, 160),
    (150, 200),
    (192, 256),
    (240, 320),
    (300, 400),
    (384, 512),
    (480, 640),
    (600, 800),
)
"""ViZDoom screen resolutions accepted as ``resolution``, (height, width); 4:3 only, where the
90-degree horizontal FOV and square pixels give the documented intrinsics."""

GROUND_TRUTH_KEYS = ("pose", "intrinsics", "depth", "segmentation", "labels")
"""Ground-truth keys ``DoomEnv`` can put in ``info``."""

DEFAULT_GROUND_TRUTH = ("pose", "intrinsics", "depth")
"""Ground truth on by default: cheap, and what the scripted policies and ``collect`` use."""

DEPTH_UNITS_PER_LEVEL = 7.5
"""Doom map units per level of ViZDoom's uint8 depth buffer (fitted, see the module docstring)."""

BUTTON_NAMES: tuple[str, ...] = (
    "MOVE_FORWARD",
    "MOVE_BACKWARD",
    "MOVE_LEFT",
    "MOVE_RIGHT",
    "JUMP",
    "CROUCH",
    "SPEED",
    "ATTACK",
    "USE",
    "TURN_LEFT_RIGHT_DELTA",
    "LOOK_UP_DOWN_DELTA",
    *(f"SELECT_WEAPON{k}" for k in range(1, A.NUM_HOTBAR + 1)),
)
"""The ViZDoom buttons the env enables, in the order of its button vector: the nine canonical keys
in ``ACTION_KEYS`` order, the two camera deltas, then one weapon slot per hotbar slot."""

_TURN, _LOOK, _WEAPON0 = A.NUM_KEYS, A.NUM_KEYS + 1, A.NUM_KEYS + 2

_GAME_VARIABLES = (
    "CAMERA_POSITION_X",
    "CAMERA_POSITION_Y",
    "CAMERA_POSITION_Z",
    "CAMERA_ANGLE",
    "CAMERA_PITCH",
    "CAMERA_FOV",
)


def _import_vizdoom():
    try:
        import vizdoom
    except ImportError as exc:
        raise DependencyNotInstalled(
            f"the Doom envs need ViZDoom: pip install 'simworld[vizdoom]' ({exc})"
        ) from None
    return vizdoom


def parse_ground_truth(ground_truth: str | Iterable[str] | None) -> frozenset[str]:
    """Normalise ``ground_truth``: None, "all", or names from ``GROUND_TRUTH_KEYS`` (``envs.ground_truth``).

    Raises:
        ValueError: an unknown key, naming the valid ones.
    """
    return parse_keys(ground_truth, GROUND_TRUTH_KEYS)


def doom_to_pose(doom_pose: np.ndarray) -> np.ndarray:
    """Convert a raw Doom camera pose to the voxel env's (Minecraft) pose convention.

    Args:
        doom_pose: float64 (..., 5) camera x, y, z (z up), angle (degrees counter-clockwise from
            +x), pitch (degrees, positive looks down).

    Returns:
        float64 (..., 5) eye x, y (up), z, yaw, pitch with ``(x, y, z) = (doom_x, doom_z,
        -doom_y)``, ``yaw = -angle - 90`` wrapped to [-180, 180), pitch unchanged.
    """
    d = np.asarray(doom_pose, np.float64)
    yaw = np.mod(-d[..., 3] - 90.0 + 180.0, 360.0) - 180.0
    return np.stack([d[..., 0], d[..., 2], -d[..., 1], yaw, d[..., 4]], axis=-1)


def intrinsics(width: int, height: int, fov_x_deg: float) -> np.ndarray:
    """Pinhole K of a camera with horizontal FOV ``fov_x_deg`` and square pixels.

    Returns:
        float64 (3, 3), OpenCV convention, principal point at the frame centre.
    """
    f = 0.5 * width / np.tan(np.radians(fov_x_deg) / 2)
    return np.array([[f, 0.0, width / 2], [0.0, f, height / 2], [0.0, 0.0, 1.0]])


class DoomEnv(gym.Env):
    """A ViZDoom scenario behind the canonical action schema (see the module docstring).

    Args:
        scenario: a name from ``SCENARIOS`` or a path to a ViZDoom ``.cfg`` file.
        render_mode: None or "rgb_array" (``render()`` returns the current frame).
        resolution: ViZDoom screen (height, width), one of ``RESOLUTIONS``.
        frame_size: None (observations at ``resolution``) or (height, width) to resize to with
            ``cv2.INTER_AREA``.
        frame_skip: tics of 35 Hz per step (>= 1).
        ground_truth: None, "all", or names from ``GROUND_TRUTH_KEYS`` to return in ``info``.
        world_seed: fix the game seed of every episode; None draws one per episode from the env's
            seed (``reset(seed=...)``).
        height: with ``width``, another spelling of ``frame_size=(height, width)``, the voxel env's
            (``evals.probes.base.ProbeEnv`` passes a checkpoint's frame size this way).
        width: see ``height``.

    ``reset(options=...)`` accepts ``world_seed`` (this episode's game seed; Doom maps are fixed,
    the seed drives monsters, item spawns and damage rolls) and ``scenario`` (None, or a callable
    ``scenario(game)`` given the ``vizdoom.DoomGame`` after the episode starts, e.g. to send
    console commands, before the first frame is returned).
    """

    metadata = {"render_modes": ["rgb_array"], "render_fps": 35}

    def __init__(
        self,
        scenario: str = "my_way_home",
        render_mode: str | None = None,
        resolution: tuple[int, int] = (120, 160),
        frame_size: tuple[int, int] | None = None,
        frame_skip: int = 4,
        ground_truth: str | Iterable[str] | None = DEFAULT_GROUND_TRUTH,
        world_seed: int | None = None,
        height: int | None = None,
        width: int | None = None,
    ) -> None:
        if (height is None) != (width is None):
            raise ValueError(f"give both height and width, or neither; got height={height}, width={width}")
        if height is not None:
            if frame_size is not None and tuple(frame_size) != (height, width):
                raise ValueError(f"frame_size={frame_size} contradicts (height, width)=({height}, {width})")
            frame_size = (height, width)
        if render_mode not in (None, *self.metadata["render_modes"]):
            raise ValueError(
                f"render_mode must be one of {[None, *self.metadata['render_modes']]}, got {render_mode!r}"
            )
        resolution = tuple(int(v) for v in resolution)
        if resolution not in RESOLUTIONS:
            raise ValueError(
                f"resolution must be one of {list(RESOLUTIONS)} (height, width), got {resolution}"
            )
        if frame_size is not None:
            frame_size = tuple(int(v) for v in frame_size)
            if len(frame_size) != 2 or min(frame_size) < 1:
                raise ValueError(f"frame_size must be None or (height, width) >= 1, got {frame_size}")
        if int(frame_skip) < 1:
            raise ValueError(f"frame_skip must be >= 1, got {frame_skip}")
        self.config_path = self._config_path(scenario)
        self.scenario = scenario
        self.render_mode = render_mode
        self.resolution = resolution
        self.frame_size = frame_size
        self.frame_skip = int(frame_skip)
        self.ground_truth = parse_ground_truth(ground_truth)
        self.world_seed = world_seed
        H, W = frame_size or resolution
        self.observation_space = spaces.Box(0, 255, (H, W, 3), np.uint8)
        self.action_space = A.action_space()
        self.game = self._make_game()
        self._frame: np.ndarray | None = None
        self._info: dict[str, Any] = {}

    @staticmethod
    def _config_path(scenario: str) -> str:
        if scenario in SCENARIOS:
            return os.path.join(_import_vizdoom().scenarios_path, SCENARIOS[scenario])
        if scenario.endswith(".cfg") and os.path.isfile(scenario):
            return scenario
        raise ValueError(
            f"scenario must be one of {list(SCENARIOS)} or a path to a .cfg file, got {scenario!r}"
        )

    def _make_game(self):
        vzd = _import_vizdoom()
        game = vzd.DoomGame()
        game.load_config(self.config_path)
        # ViZDoom writes its engine settings to ./_vizdoom.ini unless told otherwise
        settings = os.path.join(tempfile.gettempdir(), f"simworld_vizdoom_{os.getpid()}.ini")
        game.set_doom_config_path(settings)
        game.set_window_visible(False)
        game.set_sound_enabled(False)
        game.set_mode(vzd.Mode.PLAYER)
        # cheats on from the first tic, so that a reset scenario can ``summon`` objects (the probes'
        # Doom scenes, evals.probes.doom_scenes); sent later, the cvar misses the first episode
        game.add_game_args("+sv_cheats 1")
        H, W = self.resolution
        game.set_screen_resolution(getattr(vzd.ScreenResolution, f"RES_{W}X{H}"))
        game.set_screen_format(vzd.ScreenFormat.RGB24)
        game.set_depth_buffer_enabled("depth" in self.ground_truth)
        game.set_labels_buffer_enabled(bool(self.ground_truth & {"segmentation", "labels"}))
        game.set_available_buttons([getattr(vzd.Button, name) for name in BUTTON_NAMES])
        game.set_available_game_variables([getattr(vzd.GameVariable, name) for name in _GAME_VARIABLES])
        game.init()
        return game

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        """Start an episode. See the class docstring for the options."""
        super().reset(seed=seed)
        options = dict(options or {})
        unknown = sorted(set(options) - {"world_seed", "scenario"})
        if unknown:
            raise ValueError(f"unknown reset options {unknown}; valid: ['world_seed', 'scenario']")
        world_seed = options.get("world_seed")
        if world_seed is None:
            world_seed = self.world_seed
        if world_seed is None:
            world_seed = int(self.np_random.integers(0, 2**31 - 1))
        self.game.set_seed(int(world_seed))
        self.game.new_episode()
        scenario: Callable[[Any], None] | None = options.get("scenario")
        if scenario is not None:
            if not callable(scenario):
                raise ValueError(
                    f"options['scenario'] must be None or a callable scenario(game), got {scenario!r}"
                )
            scenario(self.game)
        return self._observe({"world_seed": int(world_seed)})

    def step(self, action: dict):
        """Advance ``frame_skip`` tics with a canonical action."""
        if self._frame is None:
            raise ResetNeeded("call reset() before step()")
        if self.game.is_episode_finished():
            raise ResetNeeded("the episode has finished: call reset()")
        reward = self.game.make_action(self.buttons(action), self.frame_skip)
        finished = self.game.is_episode_finished()
        truncated = finished and self.game.is_episode_timeout_reached()
        terminated = finished and not truncated
        obs, info = self._observe({})
        return obs, float(reward), bool(terminated), bool(truncated), info

    def buttons(self, action: dict) -> list[float]:
        """The ViZDoom button vector (``BUTTON_NAMES`` order) of a canonical action."""
        action = A.validate(action)
        values = [float(action[key]) for key in A.ACTION_KEYS]
        values.append(float(action["camera"][1]) / self.frame_skip)
        values.append(-float(action["camera"][0]) / self.frame_skip)
        weapons = [0.0] * A.NUM_HOTBAR
        if action["hotbar"]:
            weapons[action["hotbar"] - 1] = 1.0
        return values + weapons

    def _observe(self, extra: dict[str, Any]) -> tuple[np.ndarray, dict[str, Any]]:
        state = self.game.get_state()
        if state is None:  # finished: repeat the last frame and ground truth
            return self._frame.copy(), {**self._info, **extra}
        info: dict[str, Any] = {"tic": int(state.tic)}
        self._frame = self._resize(state.screen_buffer, cv2.INTER_AREA)
        doom_pose = np.asarray(state.game_variables[:5], np.float64)
        if "pose" in self.ground_truth:
            info["pose"] = doom_to_pose(doom_pose)
            info["doom_pose"] = doom_pose
        if "intrinsics" in self.ground_truth:
            H, W = self.observation_space.shape[:2]
            info["intrinsics"] = intrinsics(W, H, float(state.game_variables[5]))
        if "depth" in self.ground_truth:
            depth = self._resize(state.depth_buffer, cv2.INTER_NEAREST)
            info["depth"] = depth.astype(np.float32) * np.float32(DEPTH_UNITS_PER_LEVEL)
        if "segmentation" in self.ground_truth:
            info["segmentation"] = self._resize(state.labels_buffer, cv2.INTER_NEAREST)
        if "labels" in self.ground_truth:
            info["labels"] = self._labels(state)
        self._info = info
        return self._frame.copy(), {**info, **extra}

    def _resize(self, image: np.ndarray, interpolation: int) -> np.ndarray:
        if self.frame_size is None or image.shape[:2] == self.frame_size:
            return np.ascontiguousarray(image)
        H, W = self.frame_size
        return cv2.resize(image, (W, H), interpolation=interpolation)

    def _labels(self, state) -> list[dict[str, Any]]:
        sy, sx = 1.0, 1.0
        if self.frame_size is not None:
            sy = self.frame_size[0] / self.resolution[0]
            sx = self.frame_size[1] / self.resolution[1]
        labels = []
        for label in state.labels:
            doom = [label.object_position_x, label.object_position_y, label.object_position_z]
            labels.append(
                {
                    "value": int(label.value),
                    "id": int(label.object_id),
                    "name": str(label.object_name),
                    "position": np.array([doom[0], doom[2], -doom[1]], np.float64),
                    "box": (label.x * sx, label.y * sy, label.width * sx, label.height * sy),
                }
            )
        return labels

    def render(self) -> np.ndarray | None:
        """The current frame, uint8 (H, W, 3), when render_mode is "rgb_array"."""
        if self.render_mode == "rgb_array" and self._frame is not None:
            return self._frame.copy()
        return None

    def close(self) -> None:
        """Stop the ViZDoom engine."""
        game = getattr(self, "game", None)
        if game is not None:
            game.close()
            self.game = None
