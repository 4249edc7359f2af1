"""MineRL 0.4 / 1.0 as a Gymnasium env in the canonical action schema (``simworld.actions``).

MineRL envs speak the old gym API (``reset() -> obs``, ``step(a) -> (obs, reward, done, info)``,
``seed(s)``) with dict actions and a ``pov`` frame. ``MineRLEnv`` translates:

- actions: canonical dict -> MineRL dict with ``simworld.action_formats.to_minerl`` (the keys
  the canonical schema lacks get the env's no-op: 1.0 ``ESC, drop, inventory, pickItem,
  swapHands`` = 0, 0.4 enum actions such as ``place`` = ``"none"``). 0.4 has no ``use`` and no
  hotbar: a non-zero one is dropped with a ``LossyActionWarning`` (``strict=True``: an error);
- observations: the ``pov`` frame, uint8 (H, W, 3); the other entries (``compass``,
  ``inventory``, ``equipped_items``) go to ``info["minerl_obs"]``;
- ``done`` -> ``terminated``, or ``truncated`` when the old-gym ``TimeLimit.truncated`` flag is set;
  rewards and the rest of ``info`` pass through;
- ``reset(seed=s)`` -> ``env.seed(s)`` then ``env.reset()``; without a seed, one is drawn from
  ``self.np_random``, so a seeded first reset makes the whole run reproducible.

``minerl`` is imported lazily on the first ``MineRLEnv``; tests inject the stand-in
(``envs.minerl.standin``) with ``module=``. Use it through Gymnasium with
``gymnasium.make("envs.minerl:simworld/MineRL-v0", minerl_id=..., module=...)``.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces
from gymnasium.error import DependencyNotInstalled

from simworld import action_formats as F
from simworld import actions as A

MINERL_ID = "simworld/MineRL-v0"
"""Gymnasium id of ``MineRLEnv`` (registered by ``import envs.minerl``)."""


def _version_of(module: Any, version: str | None) -> str:
    if version is not None:
        if version not in F.MINERL_VERSIONS:
            raise ValueError(f"version must be one of {F.MINERL_VERSIONS}, got {version!r}")
        return version
    found = str(getattr(module, "__version__", ""))
    for known in F.MINERL_VERSIONS:
        if found == known or found.startswith(known + "."):
            return known
    raise ValueError(
        f"cannot tell the MineRL action API from minerl.__version__={found!r}; "
        f"pass version= one of {F.MINERL_VERSIONS}"
    )


class _RealMineRL:
    """The installed ``minerl`` package seen as ``make(env_id, **kwargs)`` (ids registered with gym)."""

    def __init__(self) -> None:
        try:
            import gym as old_gym
            import minerl
        except ImportError as err:
            raise DependencyNotInstalled(
                f"MineRL is not installed ({err}); `pip install simworld[minerl]` needs Java 8 and a "
                "network that reaches Minecraft's servers. Tests use module='envs.minerl.standin:v04'."
            ) from err
        self.__version__ = getattr(minerl, "__version__", "")
        self._gym = old_gym

    def make(self, env_id: str, **kwargs: Any) -> Any:
        return self._gym.make(env_id, **kwargs)


def load_module(module: Any = None) -> Any:
    """The MineRL module to make envs with.

    Args:
        module: None for the installed ``minerl`` (imported now), an object with ``__version__``
            and ``make(env_id, **kwargs)`` (e.g. ``envs.minerl.standin.v04``), or its import path
            ``"package.module:attribute"`` (JSON-friendly, for ``gymnasium.make`` keyword arguments
            recorded in dataset manifests).

    Returns:
        The module object.

    Raises:
        gymnasium.error.DependencyNotInstalled: ``module`` is None and MineRL is not installed.
        ValueError: the path cannot be imported, or the object has no ``make``.
    """
    if module is None:
        return _RealMineRL()
    if isinstance(module, str):
        path, _, attr = module.partition(":")
        try:
            loaded = importlib.import_module(path)
        except ImportError as err:
            raise ValueError(f"cannot import MineRL module {module!r}: {err}") from None
        module = getattr(loaded, attr) if attr else loaded
    if not callable(getattr(module, "make", None)):
        raise ValueError(
            f"a MineRL module needs make(env_id, **kwargs) and __version__; got {module!r} "
            "(None: the installed minerl; e.g. 'envs.minerl.standin:v04' or 'envs.minerl.standin:v10')"
        )
    return module


def _no_op(space: Any) -> dict[str, Any]:
    """The MineRL no-op action of ``space`` (``no_op()`` in 1.0 docs, ``noop()`` in 0.4)."""
    for name in ("no_op", "noop"):
        if callable(getattr(space, name, None)):
            return dict(getattr(space, name)())
    return {key: np.zeros(getattr(sub, "shape", ()) or (), np.float32) for key, sub in space.spaces.items()}


class MineRLEnv(gym.Env):
    """A MineRL env behind Gymnasium, acting in the canonical action schema.

    Args:
        minerl_id: MineRL env id, e.g. ``"MineRLTreechop-v0"`` (0.4) or ``"MineRLBasaltFindCave-v0"``.
        module: the MineRL module (see ``load_module``): None for the installed one.
        version: ``"0.4"`` or ``"1.0"``; None reads it from ``module.__version__``.
        strict: raise instead of warning when an action loses ``use``/``hotbar`` (0.4).
        make_kwargs: keyword arguments of the module's ``make`` (the stand-in takes ``resolution``
            (width, height) and ``max_steps``).
        render_mode: None or ``"rgb_array"`` (the last frame).

    Raises:
        ValueError: unknown ``version`` or ``render_mode``, or the env has no uint8 (H, W, 3) ``pov``.
    """

    metadata = {"render_modes": ["rgb_array"], "render_fps": 20}

    def __init__(
        self,
        minerl_id: str = "MineRLTreechop-v0",
        module: Any = None,
        version: str | None = None,
        strict: bool = False,
        make_kwargs: Mapping[str, Any] | None = None,
        render_mode: str | None = None,
    ) -> None:
        if render_mode not in (None, *self.metadata["render_modes"]):
            raise ValueError(f"render_mode must be None or one of {self.metadata['render_modes']}")
        loaded = load_module(module)
        self.version = _version_of(loaded, version)
        self.minerl_id, self.strict, self.render_mode = minerl_id, strict, render_mode
        self.minerl_env = loaded.make(minerl_id, **dict(make_kwargs or {}))
        pov = self.minerl_env.observation_space["pov"]
        if tuple(pov.shape)[-1:] != (3,) or len(pov.shape) != 3 or np.dtype(pov.dtype) != np.uint8:
            raise ValueError(f"{minerl_id}: pov must be uint8 (H, W, 3), got {pov}")
        self.observation_space = spaces.Box(0, 255, shape=tuple(pov.shape), dtype=np.uint8)
        self.action_space = A.action_space()
        self._no_op = _no_op(self.minerl_env.action_space)
        self._frame: np.ndarray | None = None

    def minerl_action(self, action: Mapping[str, Any]) -> dict[str, Any]:
        """The MineRL action dict this env sends for a canonical ``action``.

        Raises:
            gymnasium.error.InvalidAction: ``action`` is not a canonical action.
            ValueError: ``strict`` and the action loses ``use``/``hotbar`` (0.4).
        """
        converted = F.to_minerl(action, self.version, strict=self.strict)
        return {**self._no_op, **{k: v for k, v in converted.items() if k in self._no_op}}

    def canonical_action(self, minerl_action: Mapping[str, Any]) -> A.Action:
        """The canonical action of a MineRL action dict of this env (``from_minerl``; lossy entries warn)."""
        return F.from_minerl(minerl_action, self.version, strict=self.strict)

    def _split(self, obs: Mapping[str, Any]) -> tuple[np.ndarray, dict[str, Any]]:
        frame = np.asarray(obs["pov"], dtype=np.uint8)
        self._frame = frame
        return frame, {"minerl_obs": {k: v for k, v in obs.items() if k != "pov"}}

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        """Seed the next MineRL world (``seed``, else a draw from ``np_random``) and reset it.

        Returns:
            ``(frame uint8 (H, W, 3), info)``; ``info["minerl_obs"]`` holds the non-pov observations.
        """
        super().reset(seed=seed)
        world_seed = int(seed) if seed is not None else int(self.np_random.integers(2**31 - 1))
        self.minerl_env.seed(world_seed)
        return self._split(self.minerl_env.reset())

    def step(self, action: Mapping[str, Any]) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        """Send ``action`` (canonical) to MineRL; old-gym ``done`` becomes terminated or truncated.

        Returns:
            ``(frame, reward, terminated, truncated, info)``; ``info`` is MineRL's plus ``minerl_obs``.
        """
        obs, reward, done, minerl_info = self.minerl_env.step(self.minerl_action(action))
        frame, info = self._split(obs)
        info.update(minerl_info or {})
        truncated = bool(done) and bool(info.pop("TimeLimit.truncated", False))
        return frame, float(reward), bool(done) and not truncated, truncated, info

    def render(self) -> np.ndarray | None:
        """The last frame (``render_mode="rgb_array"``), else None."""
        return None if self.render_mode is None or self._frame is None else self._frame.copy()

    def close(self) -> None:
        """Close the MineRL env."""
        self.minerl_env.close()


def make_minerl_env(minerl_id: str = "MineRLTreechop-v0", module: Any = None, **kwargs: Any) -> MineRLEnv:
    """Build a ``MineRLEnv`` (same arguments); the Gymnasium id ``simworld/MineRL-v0`` does the same."""
    return MineRLEnv(minerl_id, module=module, **kwargs)


def explore_policy(obs: Any, info: dict[str, Any]) -> A.Action:
    """A ``collect`` policy (``policy=envs.minerl.adapter:explore_policy``): walk, look around, chop.

    Draws from NumPy's global generator (``collect`` seeds it per episode). Never presses ``use``
    or a hotbar key, so its actions are exact in MineRL 0.4 as well as 1.0.
    """
    action = A.noop()
    action["forward"] = int(np.random.random() < 0.6)
    action["jump"] = int(np.random.random() < 0.1)
    action["attack"] = int(np.random.random() < 0.3)
    action["camera"] = np.array([np.random.uniform(-5, 5), np.random.uniform(-15, 15)], np.float32)
    return action
