"""Tasks of the voxel world: what earns reward and what ends an episode.

A task is reset with the world at the start of an episode and then scores every step from
the world's state and the step's block events. Each is registered as its own Gymnasium id
(``envs.registration``) so that RL agents can learn them.
"""

from __future__ import annotations

import math

import numpy as np

from .blocks import block_id
from .world import DROPS, BlockEvent, VoxelWorld


class Task:
    """Free play: no reward, no termination (the base class of every task)."""

    name = "free"

    def reset(self, world: VoxelWorld, rng: np.random.Generator) -> dict:
        """Start an episode in ``world``; returns the task's part of the reset info."""
        return {"task": self.name}

    def score(self, world: VoxelWorld, events: list[BlockEvent]) -> tuple[float, bool, dict]:
        """Reward, termination and task info after a step."""
        return 0.0, False, {}


class NavigateTask(Task):
    """Walk to a landmark: dense reward for horizontal progress, +10 and the end on arrival.

    Args:
        radius: arrival distance in blocks (horizontal, feet to the landmark's centre).
        bonus: reward on arrival.
    """

    name = "navigate"

    def __init__(self, radius: float = 2.5, bonus: float = 10.0) -> None:
        if radius <= 0:
            raise ValueError(f"radius must be > 0 blocks, got {radius}")
        self.radius, self.bonus = float(radius), float(bonus)
        self.goal = np.zeros(3)
        self._dist = 0.0

    def _distance(self, world: VoxelWorld) -> float:
        p = world.player
        return math.hypot(p[0] - self.goal[0], p[2] - self.goal[2])

    def reset(self, world: VoxelWorld, rng: np.random.Generator) -> dict:
        if not world.landmarks:
            raise ValueError("the navigate task needs landmarks: set num_landmarks >= 1")
        landmark = world.landmarks[int(rng.integers(len(world.landmarks)))]
        self.goal = landmark.centre
        self._dist = self._distance(world)
        return {"task": self.name, "goal": landmark.name, "goal_position": self.goal.copy()}

    def score(self, world: VoxelWorld, events: list[BlockEvent]) -> tuple[float, bool, dict]:
        dist = self._distance(world)
        reward, self._dist = self._dist - dist, dist
        arrived = dist <= self.radius
        return reward + (self.bonus if arrived else 0.0), arrived, {"goal_distance": dist}


class CollectTask(Task):
    """Break blocks and collect ``count`` of one type: +1 per collected block, the end at ``count``.

    Args:
        block: block name as it lands in the inventory (grass drops "dirt").
        count: how many to collect.
    """

    name = "collect"

    def __init__(self, block: str = "log", count: int = 4) -> None:
        self.block_id = block_id(block)
        if count < 1:
            raise ValueError(f"count must be >= 1, got {count}")
        self.block, self.count = block, int(count)
        self._start = 0

    def reset(self, world: VoxelWorld, rng: np.random.Generator) -> dict:
        self._start = int(world.inventory[self.block_id])
        return {"task": self.name, "goal": f"{self.count} x {self.block}"}

    def score(self, world: VoxelWorld, events: list[BlockEvent]) -> tuple[float, bool, dict]:
        got = int(world.inventory[self.block_id]) - self._start
        reward = float(sum(1 for e in events if e.kind == "break" and DROPS.get(e.old, e.old) == self.block))
        return reward, got >= self.count, {"collected": got}


TASKS = {"free": Task, "navigate": NavigateTask, "collect": CollectTask}


def make_task(task: str | Task | None, **kwargs) -> Task:
    """Build a task from its name (``free``, ``navigate``, ``collect``) or pass an instance through.

    Raises:
        ValueError: unknown task name; the message lists the valid ones.
    """
    if isinstance(task, Task):
        return task
    name = task or "free"
    if name not in TASKS:
        raise ValueError(f"unknown task {name!r}; valid tasks: {', '.join(TASKS)}")
    return TASKS[name](**kwargs)
