"""Tasks: navigate to a landmark and collect blocks, with their rewards and termination."""

from __future__ import annotations

import numpy as np
import pytest

from envs.voxel import physics as P
from envs.voxel.blocks import BLOCK_IDS, LANDMARK_BLOCKS
from envs.voxel.tasks import NavigateTask, make_task


def _goal_distance(env):
    p = env.world.player
    return float(np.hypot(p[P.PX] - env.task.goal[0], p[P.PZ] - env.task.goal[2]))


def _face(env, point):
    yaw, _ = env.world.look_at(point)
    env.world.set_pose(yaw=yaw, pitch=0.0)


def _start_near_goal(world):
    """Flat scene; the player 8 blocks from the first landmark (the task's goal may be another one:
    it is drawn at reset, after the scene is built)."""
    centre = world.landmarks[0].centre
    S = world.blocks.shape[0]
    for angle in np.linspace(0, 2 * np.pi, 16, endpoint=False):
        x, z = centre[0] + 8 * np.cos(angle), centre[2] + 8 * np.sin(angle)
        if 2 < x < S - 2 and 2 < z < S - 2:
            world.set_pose((x, 11.0, z))
            return
    raise AssertionError("no start position")


def test_navigate_rewards_progress_and_ends_on_arrival(flat_env, act):
    env, _, info = flat_env(_start_near_goal, env_id="simworld/VoxelNavigate-v0")
    assert info["task"] == "navigate" and info["goal"] in LANDMARK_BLOCKS
    np.testing.assert_array_equal(info["goal_position"], env.task.goal)
    _face(env, env.task.goal)
    start = _goal_distance(env)
    rewards, total = [], 0.0
    for _ in range(200):
        _, reward, terminated, truncated, info = env.step(act(forward=1))
        rewards.append(reward)
        total += reward
        if terminated:
            break
    assert terminated and not truncated
    assert info["goal_distance"] <= 2.5
    assert rewards[-1] >= 10.0  # the arrival bonus
    assert all(r > 0 for r in rewards)  # every step forward is progress
    # dense reward: the progress rewards add up to the distance covered
    assert total - 10.0 == pytest.approx(start - info["goal_distance"], abs=1e-9)


def test_navigate_penalises_walking_away(flat_env, act):
    env, _, _ = flat_env(_start_near_goal, env_id="simworld/VoxelNavigate-v0")
    _face(env, env.task.goal)
    start = _goal_distance(env)
    rewards = [env.step(act(back=1))[1] for _ in range(20)]
    assert all(r < 0 for r in rewards)
    assert sum(rewards) == pytest.approx(start - _goal_distance(env), abs=1e-9)
    assert _goal_distance(env) > start + 2.0


def test_navigate_terminates_when_teleported_next_to_the_goal(flat_env, act):
    env, _, _ = flat_env(env_id="simworld/VoxelNavigate-v0")
    goal = env.task.goal
    _, reward, terminated, _, info = env.step(act())
    assert not terminated
    env.world.set_pose((goal[0] + 1.5, 11.0, goal[2] + 1.0))
    _, reward, terminated, _, info = env.step(act())
    assert terminated and info["goal_distance"] <= 2.5 and reward > 10.0


def test_navigate_needs_landmarks(small):
    import gymnasium as gym

    env = gym.make("simworld/VoxelNavigate-v0", num_landmarks=0, **small)
    with pytest.raises(ValueError, match="num_landmarks >= 1"):
        env.reset(seed=0)
    with pytest.raises(ValueError, match="radius must be > 0"):
        NavigateTask(radius=0.0)


def _logs(world):
    world.fill((24, 11, 26), (24, 14, 26), "log")  # a 4-high trunk in front of the player
    world.set_block(23, 11, 26, "dirt")


def _break(env, act, cell):
    """Aim at a cell and attack until it breaks; returns the rewards and the last step's flags."""
    yaw, pitch = env.world.look_at(np.asarray(cell) + 0.5)
    env.world.set_pose(yaw=yaw, pitch=pitch)
    assert env.world.target()[0] == tuple(cell)
    rewards = []
    for _ in range(10):
        _, reward, terminated, truncated, info = env.step(act(attack=1))
        rewards.append(reward)
        if env.world.blocks[tuple(cell)] == 0:
            return rewards, terminated, info
    raise AssertionError(f"{cell} did not break")


def test_collect_counts_logs_and_ends_at_the_count(flat_env, act):
    env, _, info = flat_env(_logs, env_id="simworld/VoxelCollectLog-v0")
    assert info["goal"] == "4 x log"
    # breaking something else earns nothing
    rewards, terminated, info = _break(env, act, (23, 11, 26))
    assert sum(rewards) == 0 and not terminated and info["collected"] == 0
    for k, y in enumerate((14, 13, 12, 11)):
        rewards, terminated, info = _break(env, act, (24, y, 26))
        assert sum(rewards) == 1.0 and rewards[-1] == 1.0
        assert info["collected"] == k + 1
        assert terminated == (k == 3)
    assert env.world.inventory[BLOCK_IDS["log"]] == 4


def test_collect_dirt_counts_grass_as_dirt(flat_env, act):
    env, _, _ = flat_env(lambda w: w.set_block(24, 12, 26, "grass"), env_id="simworld/VoxelCollectDirt-v0")
    rewards, terminated, info = _break(env, act, (24, 12, 26))
    assert sum(rewards) == 1.0 and info["collected"] == 1 and not terminated


def test_free_task_gives_nothing(flat_env, act):
    env, _, info = flat_env(_logs)
    assert info["task"] == "free"
    rewards, terminated, _ = _break(env, act, (24, 12, 26))
    assert sum(rewards) == 0 and not terminated


def test_make_task():
    assert make_task(None).name == "free"
    task = NavigateTask(radius=1.0)
    assert make_task(task) is task
    with pytest.raises(ValueError, match="unknown task 'fly'; valid tasks: free, navigate, collect"):
        make_task("fly")
