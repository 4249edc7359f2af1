"""Scripted policies that make useful training video in the voxel world.

Random actions alone jitter in place; these policies move like a player: exploring with
momentum and looking around, walking A→B→A loops, circling a landmark, building and
breaking. They are privileged (they read the simulator's state through the ``VoxelWorld``)
and deterministic given their seed. Each is a ``ScriptedPolicy``: ``reset(world, rng)`` at the
start of an episode, then ``act(world) -> canonical action`` every step.
"""

from __future__ import annotations

import numpy as np

from simworld import actions as A

from . import physics as P
from .world import VoxelWorld


class ScriptedPolicy:
    """Base class: a policy that reads the world and returns canonical actions."""

    name = "noop"

    def reset(self, world: VoxelWorld, rng: np.random.Generator) -> None:
        """Start an episode."""
        self.rng = rng

    def act(self, world: VoxelWorld) -> dict:
        """The next action."""
        return A.noop()


def _wrap(deg: float) -> float:
    return (deg + 180.0) % 360.0 - 180.0


def _turn_towards(current: float, goal: float, max_step: float) -> float:
    return float(np.clip(_wrap(goal - current), -max_step, max_step))


class RandomPolicy(ScriptedPolicy):
    """Uniform random actions held for a random 1–8 steps (sticky), camera deltas within ±10°."""

    name = "random"

    def reset(self, world: VoxelWorld, rng: np.random.Generator) -> None:
        super().reset(world, rng)
        self._left, self._action = 0, A.noop()

    def act(self, world: VoxelWorld) -> dict:
        if self._left <= 0:
            a = {k: int(self.rng.random() < 0.25) for k in A.ACTION_KEYS}
            a["camera"] = self.rng.uniform(-10, 10, 2).astype(np.float32)
            a["hotbar"] = int(self.rng.integers(0, 10)) if self.rng.random() < 0.1 else 0
            self._action, self._left = a, int(self.rng.integers(1, 9))
        self._left -= 1
        return dict(self._action)


class ExplorePolicy(ScriptedPolicy):
    """Walk forward with smooth, momentum-driven turns; jump over obstacles; glance around.

    Yaw rate follows a damped random walk (so turns are smooth arcs), pitch drifts back to
    slightly below the horizon, a blocked walk triggers a jump or a turn, and now and then the
    player stops to look around or sprints.
    """

    name = "explore"

    def reset(self, world: VoxelWorld, rng: np.random.Generator) -> None:
        super().reset(world, rng)
        self._yaw_rate, self._stuck, self._mode, self._mode_left = 0.0, 0, "walk", 40
        self._prev = world.player[[P.PX, P.PZ]].copy()

    def act(self, world: VoxelWorld) -> dict:
        a, rng = A.noop(), self.rng
        self._mode_left -= 1
        if self._mode_left <= 0:
            self._mode = rng.choice(["walk", "walk", "walk", "sprint", "look"])
            self._mode_left = int(rng.integers(10, 40) if self._mode == "look" else rng.integers(30, 90))
        self._yaw_rate = 0.9 * self._yaw_rate + rng.normal(0, 1.2)
        pitch = world.player[P.PITCH]
        if self._mode == "look":
            self._yaw_rate = float(np.clip(self._yaw_rate * 1.1, -12, 12))
            a["camera"] = np.array([rng.normal(0, 3) - 0.05 * pitch, self._yaw_rate], np.float32)
            return a
        a["forward"] = 1
        a["sprint"] = int(self._mode == "sprint")
        pos = world.player[[P.PX, P.PZ]]
        moved = float(np.hypot(*(pos - self._prev)))
        self._prev = pos.copy()
        self._stuck = self._stuck + 1 if moved < 0.02 else 0
        if self._stuck >= 2:
            a["jump"] = 1
            if self._stuck >= 6:  # a wall higher than a jump: turn away
                self._yaw_rate = 25.0 * (1 if rng.random() < 0.5 else -1)
        target_pitch = 8.0
        a["camera"] = np.array(
            [
                np.clip(0.1 * (target_pitch - pitch) + rng.normal(0, 0.5), -5, 5),
                np.clip(self._yaw_rate, -15, 15),
            ],
            np.float32,
        )
        return a


class LoopPolicy(ScriptedPolicy):
    """A→B→A loops: walk ``walk_steps`` forward, turn 180° in ``turn_steps``, walk back, turn again.

    On open flat ground the player returns to the exact starting pose (the forward and return legs
    are mirror images under Minecraft's velocity model), so revisits can be compared frame to frame.
    """

    name = "loop"

    def __init__(self, walk_steps: int = 24, turn_steps: int = 12) -> None:
        if walk_steps < 1 or turn_steps < 1:
            raise ValueError(f"walk_steps and turn_steps must be >= 1, got {walk_steps}, {turn_steps}")
        self.walk_steps, self.turn_steps = walk_steps, turn_steps
        # coast until the velocity has decayed before turning, so the legs mirror each other
        self.coast_steps = 30

    @property
    def period(self) -> int:
        """Steps of one full A→B→A loop."""
        return 2 * (self.walk_steps + self.coast_steps + self.turn_steps)

    def reset(self, world: VoxelWorld, rng: np.random.Generator) -> None:
        super().reset(world, rng)
        self._t = 0

    def act(self, world: VoxelWorld) -> dict:
        a = A.noop()
        phase = self._t % (self.period // 2)
        self._t += 1
        if phase < self.walk_steps:
            a["forward"] = 1
        elif phase >= self.walk_steps + self.coast_steps:
            a["camera"] = np.array([0.0, 180.0 / self.turn_steps], np.float32)
        return a


class CirclePolicy(ScriptedPolicy):
    """Strafe around the nearest landmark (or a point ahead) while keeping it centred in view.

    Args:
        max_distance: landmarks farther than this (blocks) are ignored.
    """

    name = "circle"

    def __init__(self, max_distance: float = 24.0) -> None:
        self.max_distance = float(max_distance)

    def reset(self, world: VoxelWorld, rng: np.random.Generator) -> None:
        super().reset(world, rng)
        eye = world.eye()
        near = [
            lm.centre for lm in world.landmarks if np.hypot(*(lm.centre - eye)[[0, 2]]) <= self.max_distance
        ]
        if near:
            self.centre = min(near, key=lambda c: np.hypot(*(c - eye)[[0, 2]]))
        else:  # no landmark close by: orbit a point ahead
            self.centre = eye + 6.0 * P.view_direction(world.player[P.YAW], 0.0)
        self.direction = 1 if rng.random() < 0.5 else -1
        self._prev, self._stuck = world.player[[P.PX, P.PZ]].copy(), 0

    def act(self, world: VoxelWorld) -> dict:
        a = A.noop()
        yaw, pitch = world.look_at(self.centre)
        dist = float(np.hypot(*(self.centre - world.eye())[[0, 2]]))
        a["camera"] = np.array(
            [
                _turn_towards(world.player[P.PITCH], pitch, 10.0),
                _turn_towards(world.player[P.YAW], yaw, 15.0),
            ],
            np.float32,
        )
        a["left" if self.direction > 0 else "right"] = 1
        if dist > 9.0:
            a["forward"] = 1
        elif dist < 4.0:
            a["back"] = 1
        pos = world.player[[P.PX, P.PZ]]
        self._stuck = self._stuck + 1 if np.hypot(*(pos - self._prev)) < 0.02 else 0
        self._prev = pos.copy()
        a["jump"] = int(self._stuck >= 2)
        return a


class BuildBreakPolicy(ScriptedPolicy):
    """Look at the ground ahead, place a few blocks from a random hotbar slot, break them, move on."""

    name = "build_break"

    def reset(self, world: VoxelWorld, rng: np.random.Generator) -> None:
        super().reset(world, rng)
        self._plan: list[dict] = []

    def _make_plan(self) -> list[dict]:
        rng, plan = self.rng, []
        slot = int(rng.integers(1, 10))
        a = A.noop()
        a["hotbar"] = slot
        plan.append(a)
        for _ in range(6):  # look down towards the ground in front
            a = A.noop()
            a["camera"] = np.array([8.0, 0.0], np.float32)
            plan.append(a)
        for _ in range(int(rng.integers(2, 5))):
            for _ in range(5):  # place (cooldown 4 ticks), then pause
                a = A.noop()
                a["use"] = 1
                plan.append(a)
            a = A.noop()
            a["camera"] = np.array([0.0, float(rng.uniform(-20, 20))], np.float32)
            plan.append(a)
        for _ in range(int(rng.integers(8, 16))):  # hold attack: breaks what is targeted
            a = A.noop()
            a["attack"] = 1
            plan.append(a)
        for _ in range(6):
            a = A.noop()
            a["camera"] = np.array([-8.0, float(rng.uniform(-10, 10))], np.float32)
            plan.append(a)
        for _ in range(int(rng.integers(10, 30))):
            a = A.noop()
            a["forward"] = 1
            a["jump"] = int(rng.random() < 0.1)
            plan.append(a)
        return plan

    def act(self, world: VoxelWorld) -> dict:
        if not self._plan:
            self._plan = self._make_plan()
        return self._plan.pop(0)


POLICIES = {
    p.name: p
    for p in (ScriptedPolicy, RandomPolicy, ExplorePolicy, LoopPolicy, CirclePolicy, BuildBreakPolicy)
}


def make_policy(name: str, **kwargs) -> ScriptedPolicy:
    """Build a scripted policy by name.

    Raises:
        ValueError: unknown name; the message lists the valid ones.
    """
    if name not in POLICIES:
        raise ValueError(f"unknown scripted policy {name!r}; valid policies: {', '.join(POLICIES)}")
    return POLICIES[name](**kwargs)


def mixture_policy_name(rng: np.random.Generator) -> str:
    """Draw a policy for one episode of a data-collection mix (explore-heavy)."""
    names, weights = ["explore", "loop", "circle", "build_break", "random"], [0.4, 0.15, 0.15, 0.2, 0.1]
    return str(rng.choice(names, p=weights))
