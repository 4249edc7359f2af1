"""Scripted exploration policies for the Doom envs, usable by ``simworld collect``.

Each public name is a policy ``policy(obs, info) -> canonical action`` for
``policy=envs.vizdoom.policies:<name>``:

- ``wander``: walk forward, steer away from walls seen in the depth map, commit to a turn
  direction until the way ahead is clear, and now and then turn at random;
- ``patrol``: walk until blocked, turn around (180 degrees over six steps) and walk back, so
  corridors are seen again from both directions (revisits);
- ``spin``: turn in place, 15 degrees a step, with a short walk every 48 steps;
- ``mixture``: one of the three per episode.

They read ``info["depth"]`` (planar depth in map units; the Doom envs report it by default) and
draw randomness from NumPy's global generator, which ``collect`` seeds with the episode seed, so
an episode is reproducible. A policy notices a new episode by the ``world_seed`` key that only
``reset`` puts in ``info``, and then forgets its state. Pitch stays 0 (see the pose caveat in
``envs.vizdoom.env``).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from simworld import actions as A

BLOCKED_UNITS = 72.0
"""Free distance ahead (map units) below which the way is blocked (the player is 32 units wide)."""

TURN_DEG = 30.0
"""Yaw per step while turning away from a wall."""


def _action(forward: int = 0, yaw: float = 0.0) -> A.Action:
    action = A.noop()
    action["forward"] = int(forward)
    action["camera"][1] = np.float32(yaw)
    return action


def _free_space(info: dict[str, Any]) -> tuple[float, float, float]:
    """Free distance to the left, ahead and to the right, from the horizon band of the depth map."""
    if "depth" not in info:
        raise ValueError(
            "the Doom policies need info['depth']: make the env with ground_truth including 'depth' "
            f"(the default of DoomEnv); info has {sorted(info)}"
        )
    depth = np.asarray(info["depth"], np.float32)
    H, W = depth.shape
    band = depth[int(0.4 * H) : int(0.6 * H) + 1]
    thirds = np.array_split(band, 3, axis=1)
    # a low percentile: the nearest obstacle in the band, robust to single-pixel noise
    left, ahead, right = (float(np.percentile(t, 10)) for t in thirds)
    return left, ahead, right


class _Stateful:
    """A policy with per-episode state, reset when ``info`` carries ``world_seed`` (a reset)."""

    def __init__(self) -> None:
        self.state: dict[str, Any] = {}

    def __call__(self, obs: np.ndarray, info: dict[str, Any]) -> A.Action:
        """The action for this step (see the module docstring)."""
        if "world_seed" in info or not self.state:
            self.state = {"turn": 0.0, "turn_steps": 0, "step": 0}
        self.state["step"] += 1
        return self.act(info)

    def act(self, info: dict[str, Any]) -> A.Action:  # pragma: no cover - abstract
        """The action of this policy; subclasses define it."""
        raise NotImplementedError


class Wander(_Stateful):
    """Forward with wall avoidance and random turns (``wander``)."""

    def act(self, info: dict[str, Any]) -> A.Action:
        """Walk, or keep turning while blocked or during a random turn."""
        s = self.state
        left, ahead, right = _free_space(info)
        if s["turn_steps"] > 0:
            s["turn_steps"] -= 1
            return _action(forward=int(ahead > 2 * BLOCKED_UNITS), yaw=s["turn"])
        if ahead < BLOCKED_UNITS:
            if s["turn"] == 0.0:  # choose a side once, keep it until the way is clear
                s["turn"] = TURN_DEG if right >= left else -TURN_DEG
            return _action(yaw=s["turn"])
        s["turn"] = 0.0
        if np.random.random() < 0.05:
            s["turn"] = float(np.random.choice([-1.0, 1.0])) * TURN_DEG / 2
            s["turn_steps"] = int(np.random.randint(2, 7))
        return _action(forward=1, yaw=float(np.random.normal(0.0, 2.0)))


class Patrol(_Stateful):
    """Walk until blocked, turn around, walk back (``patrol``)."""

    def act(self, info: dict[str, Any]) -> A.Action:
        """Walk, or continue the 180-degree turn."""
        s = self.state
        if s["turn_steps"] > 0:
            s["turn_steps"] -= 1
            return _action(yaw=s["turn"])
        _, ahead, _ = _free_space(info)
        if ahead < BLOCKED_UNITS:
            s["turn"] = float(np.random.choice([-1.0, 1.0])) * 30.0
            s["turn_steps"] = 5  # this step and five more: 6 x 30 = 180 degrees
            return _action(yaw=s["turn"])
        return _action(forward=1)


class Spin(_Stateful):
    """Turn in place, with a short walk every 48 steps (``spin``)."""

    def act(self, info: dict[str, Any]) -> A.Action:
        """Turn 15 degrees, or walk for 6 of every 48 steps when the way is clear."""
        if self.state["step"] % 48 >= 42 and _free_space(info)[1] > BLOCKED_UNITS:
            return _action(forward=1)
        return _action(yaw=15.0)


class Mixture(_Stateful):
    """One of wander, patrol and spin per episode, drawn at its first step (``mixture``)."""

    def act(self, info: dict[str, Any]) -> A.Action:
        """Delegate to this episode's policy."""
        if "policy" not in self.state:
            self.state["policy"] = [Wander, Patrol, Spin][int(np.random.randint(3))]()
        return self.state["policy"](None, info)


wander = Wander()
"""``policy=envs.vizdoom.policies:wander``."""
patrol = Patrol()
"""``policy=envs.vizdoom.policies:patrol``."""
spin = Spin()
"""``policy=envs.vizdoom.policies:spin``."""
mixture = Mixture()
"""``policy=envs.vizdoom.policies:mixture``."""

POLICIES = {"wander": wander, "patrol": patrol, "spin": spin, "mixture": mixture}
"""The policies by name."""
