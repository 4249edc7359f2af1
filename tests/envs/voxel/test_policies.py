"""Scripted policies: deterministic, valid, and producing the motion they promise (incl. A→B→A loops)."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest

from envs.voxel import physics as P
from envs.voxel.policies import POLICIES, LoopPolicy, make_policy, mixture_policy_name
from simworld import actions as A


def _rollout(small, name, seed=3, steps=100):
    """Flat actions, frames and eye positions of ``steps`` steps of a policy (policy rng seeded too)."""
    env = gym.make("simworld/VoxelWorld-v0", **small).unwrapped
    obs, _ = env.reset(seed=seed)
    policy = make_policy(name)
    policy.reset(env.world, np.random.default_rng(seed))
    actions, frames, eyes, events = [], [obs], [env.world.eye()], []
    for _ in range(steps):
        action = policy.act(env.world)
        A.validate(action)  # every scripted action is a valid canonical action
        actions.append(A.to_flat(action))
        obs, _, _, _, _ = env.step(action)
        events += env.world.events
        frames.append(obs)
        eyes.append(env.world.eye())
    return np.stack(actions), np.stack(frames), np.stack(eyes), events


@pytest.mark.parametrize("name", sorted(POLICIES))
def test_policy_is_deterministic(small, name):
    a_actions, a_frames, _, _ = _rollout(small, name)
    b_actions, b_frames, _, _ = _rollout(small, name)
    np.testing.assert_array_equal(a_actions, b_actions)
    np.testing.assert_array_equal(a_frames, b_frames)
    if name not in ("noop", "loop"):  # the rest draw from their rng: another seed, other actions
        c_actions, _, _, _ = _rollout(small, name, seed=4, steps=30)
        assert not np.array_equal(a_actions[:30], c_actions)


def test_explore_moves_and_looks_around(small):
    _, frames, eyes, _ = _rollout(small, "explore", steps=100)
    assert np.linalg.norm(eyes[-1, [0, 2]] - eyes[0, [0, 2]]) > 5.0
    assert np.linalg.norm(np.diff(eyes[:, [0, 2]], axis=0), axis=1).sum() > 10.0
    changed = (np.diff(frames.astype(np.int16), axis=0) != 0).any(axis=(1, 2, 3))
    assert changed.mean() > 0.9
    assert (frames[-1] != frames[0]).any(axis=-1).mean() > 0.5


def test_noop_policy_keeps_the_player_still(small):
    actions, _, eyes, _ = _rollout(small, "noop", steps=30)
    assert not actions.any() or not actions[:, :11].any()
    np.testing.assert_array_equal(eyes[0], eyes[-1])


def test_build_break_places_and_breaks(small):
    _, _, _, events = _rollout(small, "build_break", steps=100)
    kinds = {e.kind for e in events}
    assert {"place", "break"} <= kinds


def test_circle_orbits_its_centre(flat_env, act):
    env, _, _ = flat_env()
    policy = make_policy("circle")
    policy.reset(env.world, np.random.default_rng(0))
    centre = policy.centre
    angles, distances = [], []
    for _ in range(300):
        env.step(policy.act(env.world))
        d = env.world.eye() - centre
        angles.append(np.arctan2(d[2], d[0]))
        distances.append(np.hypot(d[0], d[2]))
    swept = np.abs(np.sum(np.diff(np.unwrap(angles))))
    assert swept > np.pi  # more than half a turn around the centre
    assert 3.0 < min(distances[50:]) and max(distances[50:]) < 10.0
    # it keeps looking at the centre: the view direction points within 15° of it
    d = P.view_direction(env.world.player[P.YAW], 0.0)
    to_centre = (centre - env.world.eye())[[0, 2]]
    cos = np.dot(d[[0, 2]], to_centre) / np.linalg.norm(to_centre)
    assert cos > np.cos(np.radians(15))


def test_loop_returns_to_the_same_pose_and_frame(flat_env):
    """A→B→A on open flat ground: one full period later the pose matches to 1e-9 and the frame is
    bit-identical (the legs are mirror images under Minecraft's velocity model)."""
    env, obs0, info0 = flat_env()
    policy = LoopPolicy()
    policy.reset(env.world, np.random.default_rng(0))
    pose0, seg0, depth0 = info0["pose"], info0["segmentation"], info0["depth"]
    far = 0.0
    for _ in range(policy.period):
        obs, _, _, _, info = env.step(policy.act(env.world))
        far = max(far, np.linalg.norm(info["pose"][:3] - pose0[:3]))
    assert far > 4.0  # it did go somewhere (B)
    np.testing.assert_allclose(info["pose"], pose0, rtol=0, atol=1e-9)
    np.testing.assert_array_equal(obs, obs0)
    np.testing.assert_array_equal(info["segmentation"], seg0)
    np.testing.assert_allclose(info["depth"], depth0, rtol=0, atol=1e-5)
    # and again: the loop is stable, not drifting
    for _ in range(policy.period):
        obs, _, _, _, info = env.step(policy.act(env.world))
    np.testing.assert_allclose(info["pose"], pose0, rtol=0, atol=1e-9)
    np.testing.assert_array_equal(obs, obs0)


def test_loop_from_a_fresh_spawn_returns_too(small):
    """Without a scene: from the spawn of a flat-enough world the loop also closes.

    The terrain may block the walk, so only the pose after a period on an unobstructed run is
    checked: the run is accepted when the player stayed on one level the whole time.
    """
    env = gym.make(
        "simworld/VoxelWorld-v0",
        world_size=64,
        world_height=24,
        terrain_height=10,
        terrain_amplitude=0.0,
        tree_density=0.0,
        num_landmarks=0,
        num_huts=0,
        num_mobs=0,
        sea_level=2,
    ).unwrapped
    obs0, _ = env.reset(seed=0)
    policy = LoopPolicy(walk_steps=10, turn_steps=6)
    policy.reset(env.world, np.random.default_rng(0))
    pose0 = env.world.camera()
    for _ in range(policy.period):
        obs, *_ = env.step(policy.act(env.world))
    np.testing.assert_allclose(env.world.camera(), pose0, rtol=0, atol=1e-9)
    np.testing.assert_array_equal(obs, obs0)


def test_make_policy_and_mixture():
    with pytest.raises(ValueError, match="unknown scripted policy 'dance'; valid policies: noop, random"):
        make_policy("dance")
    with pytest.raises(ValueError, match="walk_steps and turn_steps must be >= 1"):
        LoopPolicy(walk_steps=0)
    rng = np.random.default_rng(0)
    names = [mixture_policy_name(rng) for _ in range(200)]
    assert set(names) <= set(POLICIES) and names.count("explore") > names.count("random")
