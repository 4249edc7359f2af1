"""The worked example of docs/byo_env.md: a Gymnasium env with image observations, in our schema.

``GridChaseEnv`` stands for "your game": any ``gymnasium.Env`` whose observations are uint8
(H, W, 3) frames (or a dict with the frame under ``pov``, ``rgb``, ``image`` or ``pixels``). Its
own action space is ``Discrete(5)``; ``CanonicalActions`` is the small wrapper that makes it take
the canonical action of ``simworld.actions`` instead, so that ``simworld collect``, training and
the learned env (``simworld/WorldModel-v0``) all see the same actions. Importing this module
registers ``byo/GridChase-v0`` (the wrapped env); use the module-qualified id
``"envs.byo.example:byo/GridChase-v0"`` so that ``gymnasium.make`` imports it first.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces
from gymnasium.envs.registration import register, registry

from simworld import actions as A

ENV_ID = "byo/GridChase-v0"
"""Gymnasium id of the wrapped example (registered at import)."""

MOVES = {0: (0, 0), 1: (-1, 0), 2: (1, 0), 3: (0, -1), 4: (0, 1)}
"""``GridChaseEnv`` actions: 0 stay, 1 up, 2 down, 3 left, 4 right, as (d_row, d_col) in cells."""


class GridChaseEnv(gym.Env):
    """A top-down grid: a white agent chases a red target (+1 reward when it reaches it).

    Args:
        size: frame height and width in pixels (a multiple of ``cells``).
        cells: grid cells per side.
        render_mode: None or ``"rgb_array"``.

    Raises:
        ValueError: ``size`` is not a positive multiple of ``cells``.
    """

    metadata = {"render_modes": ["rgb_array"], "render_fps": 10}

    def __init__(self, size: int = 32, cells: int = 8, render_mode: str | None = None) -> None:
        if cells < 2 or size < cells or size % cells:
            raise ValueError(
                f"size must be a positive multiple of cells >= 2, got size={size}, cells={cells}"
            )
        self.size, self.cells, self.render_mode = size, cells, render_mode
        self.observation_space = spaces.Box(0, 255, shape=(size, size, 3), dtype=np.uint8)
        self.action_space = spaces.Discrete(len(MOVES))
        self._agent = np.zeros(2, np.int64)
        self._target = np.zeros(2, np.int64)

    def _draw(self) -> np.ndarray:
        c = self.size // self.cells
        frame = np.full((self.size, self.size, 3), 30, np.uint8)
        frame[::c, :] = frame[:, ::c] = 60  # grid lines: motion is visible everywhere
        for (row, col), colour in ((self._target, (220, 40, 40)), (self._agent, (240, 240, 240))):
            frame[row * c : (row + 1) * c, col * c : (col + 1) * c] = colour
        return frame

    def _place_target(self) -> None:
        while np.array_equal(self._target, self._agent):
            self._target = self.np_random.integers(0, self.cells, size=2)

    def reset(self, *, seed: int | None = None, options: dict | None = None) -> tuple[np.ndarray, dict]:
        """Random agent and target cells (seeded)."""
        super().reset(seed=seed)
        self._agent = self.np_random.integers(0, self.cells, size=2)
        self._target = self._agent.copy()
        self._place_target()
        return self._draw(), {}

    def step(self, action: int) -> tuple[np.ndarray, float, bool, bool, dict]:
        """Move one cell (clamped at the border); reward 1 and a new target on reaching it."""
        self._agent = np.clip(self._agent + MOVES[int(action)], 0, self.cells - 1)
        reward = 0.0
        if np.array_equal(self._agent, self._target):
            reward = 1.0
            self._place_target()
        return self._draw(), reward, False, False, {}

    def render(self) -> np.ndarray | None:
        """The current frame (``render_mode="rgb_array"``)."""
        return self._draw() if self.render_mode == "rgb_array" else None


class CanonicalActions(gym.ActionWrapper):
    """Make a ``Discrete`` env take canonical actions: each canonical key maps to one of its actions.

    The first pressed key in ``key_to_action`` order wins; with none pressed the env gets
    ``noop_action``. Camera and hotbar are ignored (say so in your dataset card: a model can still
    be conditioned on them, but they change nothing in this game).

    Args:
        env: an env with a ``Discrete`` action space.
        key_to_action: canonical key (``simworld.actions.ACTION_KEYS``) -> the env's action.
        noop_action: the env's action when no mapped key is pressed.

    Raises:
        TypeError: the env's action space is not ``Discrete``.
        ValueError: an unknown canonical key, or an action outside the env's space.
    """

    def __init__(self, env: gym.Env, key_to_action: Mapping[str, int], noop_action: int = 0) -> None:
        super().__init__(env)
        if not isinstance(env.action_space, spaces.Discrete):
            raise TypeError(f"CanonicalActions needs a Discrete action space, got {env.action_space}")
        unknown = sorted(set(key_to_action) - set(A.ACTION_KEYS))
        if unknown:
            raise ValueError(f"unknown canonical keys {unknown}; valid: {list(A.ACTION_KEYS)}")
        bad = [a for a in (*key_to_action.values(), noop_action) if not env.action_space.contains(a)]
        if bad:
            raise ValueError(f"actions {bad} are not in the env's {env.action_space}")
        self.key_to_action, self.noop_action = dict(key_to_action), int(noop_action)
        self.action_space = A.action_space()

    def action(self, action: Mapping[str, Any]) -> int:
        """The env's action for a canonical ``action`` (checked with ``simworld.actions.validate``)."""
        action = A.validate(action)
        for key, env_action in self.key_to_action.items():
            if action[key]:
                return int(env_action)
        return self.noop_action


def make_grid_chase(size: int = 32, cells: int = 8, render_mode: str | None = None) -> gym.Env:
    """``GridChaseEnv`` wrapped to take canonical actions (the entry point of ``byo/GridChase-v0``)."""
    keys = {"forward": 1, "back": 2, "left": 3, "right": 4}
    return CanonicalActions(GridChaseEnv(size, cells, render_mode), keys, noop_action=0)


def chase_policy(obs: np.ndarray, info: dict[str, Any]) -> A.Action:
    """A ``collect`` policy (``policy=envs.byo.example:chase_policy``): one random move key or none.

    Draws from NumPy's global generator, which ``collect`` seeds per episode.
    """
    action = A.noop()
    key = np.random.choice(["forward", "back", "left", "right", "none"])
    if key != "none":
        action[key] = 1
    return action


if ENV_ID not in registry:
    register(id=ENV_ID, entry_point="envs.byo.example:make_grid_chase")
