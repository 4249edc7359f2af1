"""A stand-in for the ``minerl`` package: MineRL 0.4's and 1.0's spaces and old-gym API, no Minecraft.

MineRL cannot be installed on our machines (its build downloads Minecraft and needs Java 8), so
``envs.minerl.adapter`` is tested against this module. It reproduces what the adapter relies on:

- the env ids, observation and action spaces published by MineRL (names, shapes, dtypes, key
  order, camera ``Box(-180, 180, (2,), float32)`` of ``[pitch, yaw]`` degrees, enum actions
  whose no-op is ``"none"``), with ``action_space.no_op()`` / ``noop()``;
- the old gym API: ``env.seed(s)`` (seed of the next world), ``env.reset() -> obs`` and
  ``env.step(action) -> (obs, reward, done, info)``, ``env.close()``.

Spaces follow minerllabs/minerl: 0.4 ``minerl/herobraine/env_specs/simple_embodiment.py``
(keyboard keys + camera, pov 64x64), ``navigate_specs.py`` (``compass.angle``, ``inventory.dirt``,
``place`` enum), ``obtain_specs.py`` (inventory items, ``equipped_items.mainhand``, ``craft``,
``equip``, ``nearbyCraft``, ``nearbySmelt``, ``place``); 1.0 ``human_controls.py`` (the VPT key
set with ``hotbar.1..9``, ``ESC``, ``inventory``...; pov 360x640 by default, ``resolution``
(width, height)). Their gym ``Dict`` sorts keys, and so do these spaces.

Frames are synthetic and deterministic given the seed and the actions, and they react to every
action the canonical schema carries, so that collected data is meaningful: the yaw scrolls a
skyline, the pitch moves the horizon, forward/back/left/right scroll a checkered ground, jump
raises the view, attack damages the log in the centre (reward 1 when it breaks, like Treechop's
``log`` reward), ``use`` tints it, and 1.0 draws a hotbar with the selected slot highlighted. It is
not Minecraft: nothing here says how a model trained on these frames does on the real game.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from gymnasium import spaces

VERSIONS = ("0.4", "1.0")
"""MineRL versions this stand-in reproduces."""

_KEYS_04 = ("forward", "back", "left", "right", "jump", "sneak", "sprint", "attack")
_KEYS_10 = (
    "ESC",
    "attack",
    "back",
    "drop",
    "forward",
    *(f"hotbar.{k}" for k in range(1, 10)),
    "inventory",
    "jump",
    "left",
    "pickItem",
    "right",
    "sneak",
    "sprint",
    "swapHands",
    "use",
)
_OBTAIN_ITEMS = (
    "coal",
    "cobblestone",
    "crafting_table",
    "dirt",
    "furnace",
    "iron_axe",
    "iron_ingot",
    "iron_ore",
    "iron_pickaxe",
    "log",
    "planks",
    "stick",
    "stone",
    "stone_axe",
    "stone_pickaxe",
    "torch",
    "wooden_axe",
    "wooden_pickaxe",
)
_TOOLS = ("wooden_axe", "wooden_pickaxe", "stone_axe", "stone_pickaxe", "iron_axe", "iron_pickaxe")
_OBTAIN_ENUMS = {
    "craft": ("none", "torch", "stick", "planks", "crafting_table"),
    "equip": ("none", "air", *_TOOLS),
    "nearbyCraft": ("none", *_TOOLS, "furnace"),
    "nearbySmelt": ("none", "iron_ingot", "coal"),
    "place": ("none", "dirt", "stone", "cobblestone", "crafting_table", "furnace", "torch"),
}

ENV_IDS: dict[str, tuple[str, ...]] = {
    "0.4": (
        "MineRLTreechop-v0",
        "MineRLNavigate-v0",
        "MineRLNavigateDense-v0",
        "MineRLNavigateExtreme-v0",
        "MineRLObtainDiamond-v0",
        "MineRLObtainDiamondDense-v0",
        "MineRLObtainIronPickaxe-v0",
    ),
    "1.0": (
        "MineRLBasaltFindCave-v0",
        "MineRLBasaltMakeWaterfall-v0",
        "MineRLBasaltCreateVillageAnimalPen-v0",
        "MineRLBasaltBuildVillageHouse-v0",
        "MineRLObtainDiamondShovel-v0",
    ),
}
"""Env ids of each version that the stand-in makes."""


class Enum(spaces.Space):
    """MineRL's ``Enum`` space: one of a tuple of strings (``minerl.herobraine.hero.spaces.Enum``).

    Args:
        values: the allowed strings; ``"none"`` (when present) is the no-op.
    """

    def __init__(self, *values: str) -> None:
        super().__init__(shape=(), dtype=None)
        self.values = tuple(values)

    def sample(self, mask: Any = None, probability: Any = None) -> str:
        """A uniformly drawn value."""
        return self.values[int(self.np_random.integers(len(self.values)))]

    def contains(self, x: Any) -> bool:
        """Whether ``x`` is one of the values."""
        return isinstance(x, str) and x in self.values

    def no_op(self) -> str:
        """``"none"``, else the first value."""
        return "none" if "none" in self.values else self.values[0]

    def __repr__(self) -> str:
        return f"Enum({','.join(self.values)})"


class Dict(spaces.Dict):
    """Gym ``Dict`` with sorted keys and MineRL's ``no_op()`` (alias ``noop()``)."""

    def __init__(self, members: Mapping[str, spaces.Space]) -> None:
        super().__init__({key: members[key] for key in sorted(members)})

    def no_op(self) -> dict[str, Any]:
        """The action (or observation) that does nothing: zeros and ``"none"``."""
        return {key: _no_op(space) for key, space in self.spaces.items()}

    noop = no_op


def _no_op(space: spaces.Space) -> Any:
    if isinstance(space, (Dict, Enum)):
        return space.no_op()
    if isinstance(space, spaces.Discrete):
        return 0
    return np.zeros(space.shape, dtype=space.dtype)


def _camera() -> spaces.Box:
    return spaces.Box(-180.0, 180.0, shape=(2,), dtype=np.float32)


def _count(high: int = 2304) -> spaces.Box:
    return spaces.Box(0, high, shape=(), dtype=np.int64)


def env_spaces(version: str, env_id: str, resolution: tuple[int, int] | None = None) -> tuple[Dict, Dict]:
    """The (observation, action) spaces of ``env_id`` in MineRL ``version``.

    Args:
        version: one of ``VERSIONS``.
        env_id: one of ``ENV_IDS[version]``.
        resolution: (width, height) of ``pov``; MineRL's default is (64, 64) in 0.4, (640, 360) in 1.0.

    Returns:
        ``(observation_space, action_space)``.

    Raises:
        ValueError: unknown version or id (the message lists the valid ones).
    """
    if version not in VERSIONS:
        raise ValueError(f"version must be one of {VERSIONS}, got {version!r}")
    if env_id not in ENV_IDS[version]:
        raise ValueError(
            f"unknown MineRL {version} env {env_id!r}; the stand-in has {list(ENV_IDS[version])}"
        )
    width, height = resolution or ((64, 64) if version == "0.4" else (640, 360))
    obs: dict[str, spaces.Space] = {"pov": spaces.Box(0, 255, shape=(height, width, 3), dtype=np.uint8)}
    if version == "1.0":
        act: dict[str, spaces.Space] = {key: spaces.Discrete(2) for key in _KEYS_10}
        act["camera"] = _camera()
        return Dict(obs), Dict(act)
    act = {key: spaces.Discrete(2) for key in _KEYS_04}
    act["camera"] = _camera()
    if "Navigate" in env_id:
        obs["compass"] = Dict({"angle": spaces.Box(-180.0, 180.0, shape=(), dtype=np.float32)})
        obs["inventory"] = Dict({"dirt": _count()})
        act["place"] = Enum("none", "dirt")
    elif "Obtain" in env_id:
        obs["inventory"] = Dict({item: _count() for item in _OBTAIN_ITEMS})
        obs["equipped_items"] = Dict(
            {
                "mainhand": Dict(
                    {
                        "damage": spaces.Box(-1, 1562, shape=(), dtype=np.int64),
                        "maxDamage": spaces.Box(-1, 1562, shape=(), dtype=np.int64),
                        "type": Enum("none", "air", *_TOOLS, "other"),
                    }
                )
            }
        )
        act.update({key: Enum(*values) for key, values in _OBTAIN_ENUMS.items()})
    return Dict(obs), Dict(act)


_FOV_X = 70.0  # degrees across the frame
_LOG_HITS = 4  # attack steps that break the log


class StandinEnv:
    """One stand-in MineRL env with the old gym API (not a Gymnasium env, like MineRL's).

    Args:
        version: MineRL version, one of ``VERSIONS``.
        env_id: one of ``ENV_IDS[version]``.
        resolution: (width, height) of ``pov``, or None for MineRL's default.
        max_steps: ``done`` after this many steps (MineRL's own timeouts are far longer).

    Attributes:
        actions: every action dict ``step`` received since the last ``reset`` (for tests).
    """

    def __init__(
        self, version: str, env_id: str, resolution: Sequence[int] | None = None, max_steps: int = 1000
    ) -> None:
        size = None if resolution is None else (int(resolution[0]), int(resolution[1]))
        self.observation_space, self.action_space = env_spaces(version, env_id, size)
        self.version, self.env_id, self.max_steps = version, env_id, int(max_steps)
        self.height, self.width = self.observation_space["pov"].shape[:2]
        self.actions: list[dict[str, Any]] = []
        self._next_seed: int | None = None
        self._state: dict[str, Any] | None = None

    def seed(self, seed: int | None = None) -> list[int | None]:
        """Set the seed of the next ``reset`` (old gym / MineRL ``env.seed``)."""
        self._next_seed = None if seed is None else int(seed)
        return [self._next_seed]

    def reset(self) -> dict[str, Any]:
        """Start a new world (seeded by the last ``seed`` call, else fresh entropy); its observation."""
        rng = np.random.default_rng(self._next_seed)
        self._state = {
            "phases": rng.uniform(0, 2 * np.pi, size=4),
            "hue": rng.uniform(0, 1),
            "x": 0.0,
            "z": 0.0,
            "yaw": float(rng.uniform(-180, 180)),
            "pitch": 0.0,
            "jump": 0,
            "damage": 0,
            "logs": 0,
            "slot": 1,
            "use": 0,
            "steps": 0,
        }
        self.actions = []
        return self._observation()

    def step(self, action: Mapping[str, Any]) -> tuple[dict[str, Any], float, bool, dict[str, Any]]:
        """Apply one action dict; ``(obs, reward, done, info)``.

        Raises:
            RuntimeError: called before ``reset``.
            ValueError: the action lacks a key of the action space, has an unknown one, or a value
                outside its space (MineRL rejects such actions too).
        """
        if self._state is None:
            raise RuntimeError("call reset() before step()")
        self._check(action)
        self.actions.append({key: _copy(value) for key, value in action.items()})
        s = self._state
        camera = np.asarray(action["camera"], dtype=np.float64)
        s["pitch"] = float(np.clip(s["pitch"] + camera[0], -90.0, 90.0))
        s["yaw"] = float((s["yaw"] + camera[1] + 180.0) % 360.0 - 180.0)
        speed = 1.5 if action.get("sprint") else (0.3 if action.get("sneak") else 1.0)
        ahead = (int(action["forward"]) - int(action["back"])) * speed
        side = (int(action["right"]) - int(action["left"])) * speed
        yaw = np.deg2rad(s["yaw"])
        s["x"] += ahead * np.sin(yaw) + side * np.cos(yaw)
        s["z"] += ahead * np.cos(yaw) - side * np.sin(yaw)
        s["jump"] = 3 if action["jump"] and s["jump"] == 0 else max(0, s["jump"] - 1)
        s["use"] = int(action.get("use", 0))
        for k in range(1, 10):
            if action.get(f"hotbar.{k}"):
                s["slot"] = k
        reward = 0.0
        if action["attack"]:
            s["damage"] += 1
            if s["damage"] >= _LOG_HITS:
                s["damage"], s["logs"] = 0, s["logs"] + 1
                s["hue"] = (s["hue"] + 0.37) % 1.0
                reward = 1.0
        s["steps"] += 1
        done = s["steps"] >= self.max_steps or bool(action.get("ESC", 0))
        return self._observation(), reward, done, {}

    def close(self) -> None:
        """Release the env (nothing to release here)."""
        self._state = None

    def _check(self, action: Mapping[str, Any]) -> None:
        keys = set(self.action_space.spaces)
        missing, unknown = sorted(keys - set(action)), sorted(set(action) - keys)
        if missing or unknown:
            raise ValueError(
                f"MineRL {self.version} {self.env_id}: missing keys {missing}, unknown {unknown}"
            )
        for key, space in self.action_space.spaces.items():
            value = action[key]
            if isinstance(space, spaces.Box):
                value = np.asarray(value, dtype=np.float32)
            elif isinstance(space, spaces.Discrete):
                value = int(value)
            if not space.contains(value):
                raise ValueError(f"MineRL {self.version} {self.env_id}: {key}={action[key]!r} not in {space}")

    def _observation(self) -> dict[str, Any]:
        obs = self.observation_space.no_op()
        obs["pov"] = self._render()
        if "compass" in obs:
            obs["compass"]["angle"] = np.float32(((self._state["yaw"] + 180.0) % 360.0) - 180.0)
        if "inventory" in obs and "log" in obs["inventory"]:
            obs["inventory"]["log"] = np.int64(self._state["logs"])
        return obs

    def _render(self) -> np.ndarray:
        """The pov frame, uint8 (H, W, 3)."""
        s, H, W = self._state, self.height, self.width
        p0, p1, p2, p3 = s["phases"]
        angle = np.deg2rad(s["yaw"] + (np.arange(W) / W - 0.5) * _FOV_X)  # (W,) ray yaw
        horizon = H / 2 - s["pitch"] / 45.0 * (H / 2) + s["jump"] * H / 32
        rows = np.arange(H, dtype=np.float64)[:, None]  # (H, 1)
        skyline = horizon - H / 6 * (1.2 + np.sin(3 * angle + p0) * 0.5 + np.sin(7 * angle + p1) * 0.3)
        frame = np.empty((H, W, 3), dtype=np.float64)
        sky = rows < skyline[None, :]
        frame[...] = np.array([110.0, 160.0, 230.0]) + (rows / H * 60.0)[..., None]
        hills = ~sky & (rows < horizon)
        frame[hills] = [60.0, 110.0, 70.0]
        # ground: a checkerboard on the plane, seen from eye height 1; depth = 1 / (row - horizon)
        below = rows >= horizon
        depth = (H / 2) / np.maximum(rows - horizon, 0.5)  # (H, 1)
        ground_x = s["x"] + depth * np.sin(angle)[None, :] + p2
        ground_z = s["z"] + depth * np.cos(angle)[None, :] + p3
        checker = (np.floor(ground_x) + np.floor(ground_z)) % 2
        shade = np.clip(1.0 - depth / 40.0, 0.3, 1.0)
        ground = np.stack([120 + 50 * checker, 90 + 40 * checker, 50 + 20 * checker], axis=-1)
        frame = np.where(below[..., None], ground * shade[..., None], frame)
        # the log in the centre: darker with each hit, tinted by `use`, a new hue when it breaks
        h0, h1, w0, w1 = int(H * 0.35), int(H * 0.65), int(W * 0.42), int(W * 0.58)
        hue = np.array([np.cos(2 * np.pi * (s["hue"] + k / 3)) for k in range(3)]) * 60 + 130
        frame[h0:h1, w0:w1] = hue * (1.0 - 0.2 * s["damage"]) + (np.array([0, 0, 80]) if s["use"] else 0)
        if self.version == "1.0":
            self._draw_hotbar(frame)
        return np.clip(frame, 0, 255).astype(np.uint8)

    def _draw_hotbar(self, frame: np.ndarray) -> None:
        H, W = frame.shape[:2]
        top, cell = H - max(2, H // 16), max(1, W // 20)
        left = W // 2 - 9 * cell // 2
        frame[top:, left : left + 9 * cell] = 40.0
        slot = left + (self._state["slot"] - 1) * cell
        frame[top:, slot : slot + cell] = 230.0


def _copy(value: Any) -> Any:
    return np.array(value, copy=True) if isinstance(value, np.ndarray) else value


class StandinMineRL:
    """The stand-in ``minerl`` module of one version: ``__version__`` and ``make(env_id, **kwargs)``.

    The real package registers its ids with gym at import (``import minerl; gym.make(id)``); the
    adapter calls ``make`` on an injected module instead.

    Args:
        version: one of ``VERSIONS``.
    """

    def __init__(self, version: str) -> None:
        if version not in VERSIONS:
            raise ValueError(f"version must be one of {VERSIONS}, got {version!r}")
        self.__version__ = {"0.4": "0.4.4", "1.0": "1.0.2"}[version]
        self.version = version

    def make(self, env_id: str, **kwargs: Any) -> StandinEnv:
        """A new env (keyword arguments: ``resolution`` (width, height), ``max_steps``)."""
        return StandinEnv(self.version, env_id, **kwargs)


v04 = StandinMineRL("0.4")
"""Stand-in of MineRL 0.4.4 (``module="envs.minerl.standin:v04"``)."""

v10 = StandinMineRL("1.0")
"""Stand-in of MineRL 1.0.2 (``module="envs.minerl.standin:v10"``)."""
