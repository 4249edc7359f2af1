"""MineRL adapter against the stand-in: recorded MineRL actions round-trip, spaces, old-gym API, collect."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import warnings
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

import envs.minerl  # noqa: F401  (registers simworld/MineRL-v0)
from envs.minerl import MineRLEnv, standin
from simworld import actions as A
from simworld.action_formats import LossyActionWarning

CAM = [0.0, 0.5, -12.25, 1.0 / 3.0, 179.9, -180.0, 0.1]


def _recorded_04() -> list[dict]:
    """A MineRL 0.4 Treechop action sequence (as ``env.action_space.noop()`` + edits would give)."""
    rng = np.random.default_rng(4)
    actions = []
    for t in range(24):
        action = {key: int(rng.random() < 0.4) for key in standin._KEYS_04}
        action["camera"] = np.array([CAM[t % 7], CAM[(3 * t) % 7]], np.float32)
        actions.append(action)
    return actions


def _recorded_10() -> list[dict]:
    """A MineRL 1.0 (VPT key set) sequence: at most one hotbar key, no ESC/drop/inventory/..."""
    rng = np.random.default_rng(10)
    actions = []
    for t in range(24):
        action = {key: 0 for key in standin._KEYS_10}
        for key in A.ACTION_KEYS:
            action[key] = int(rng.random() < 0.4)
        if t % 3 == 0:
            action[f"hotbar.{t % 9 + 1}"] = 1
        action["camera"] = np.array([CAM[(2 * t) % 7], CAM[t % 7]], np.float32)
        actions.append(action)
    return actions


def _same(a: dict, b: dict) -> None:
    assert sorted(a) == sorted(b)
    for key in a:
        np.testing.assert_array_equal(np.asarray(a[key]), np.asarray(b[key]), err_msg=key)


@pytest.mark.parametrize(
    ("module", "minerl_id", "recorded"),
    [
        (standin.v04, "MineRLTreechop-v0", _recorded_04),
        (standin.v10, "MineRLBasaltFindCave-v0", _recorded_10),
    ],
)
def test_recorded_actions_round_trip_and_reach_the_game(module, minerl_id, recorded) -> None:
    env = MineRLEnv(minerl_id, module=module, make_kwargs={"resolution": (32, 24)})
    env.reset(seed=0)
    sequence = recorded()
    with warnings.catch_warnings():
        warnings.simplefilter("error", LossyActionWarning)
        canonical = [env.canonical_action(action) for action in sequence]
        for original, action in zip(sequence, canonical, strict=True):
            _same(env.minerl_action(action), original)
            # through the flat vector of the dataset too (camera / 180 and back)
            _same(env.minerl_action(A.from_flat(A.to_flat(action))), original)
            env.step(action)
    for sent, original in zip(env.minerl_env.actions, sequence, strict=True):
        _same(sent, original)


def test_lossy_entries_are_reported() -> None:
    env04 = MineRLEnv("MineRLObtainDiamond-v0", module=standin.v04)
    with pytest.warns(LossyActionWarning, match="place"):
        action = env04.canonical_action({**env04.minerl_env.action_space.no_op(), "place": "dirt"})
    assert env04.minerl_action(action)["place"] == "none"
    with pytest.warns(LossyActionWarning, match="use"):
        env04.minerl_action({**A.noop(), "use": 1})
    strict = MineRLEnv("MineRLTreechop-v0", module=standin.v04, strict=True)
    with pytest.raises(ValueError, match="hotbar"):
        strict.minerl_action({**A.noop(), "hotbar": 3})
    env10 = MineRLEnv("MineRLBasaltFindCave-v0", module=standin.v10, make_kwargs={"resolution": (32, 24)})
    with pytest.warns(LossyActionWarning, match="inventory"):
        env10.canonical_action({**env10.minerl_env.action_space.no_op(), "inventory": 1})
    both = {**env10.minerl_env.action_space.no_op(), "hotbar.2": 1, "hotbar.7": 1}
    assert env10.canonical_action(both)["hotbar"] == 7  # Minecraft's key loop: the last slot wins


def test_standin_spaces_match_minerl() -> None:
    obs, act = standin.env_spaces("0.4", "MineRLTreechop-v0")
    assert obs["pov"].shape == (64, 64, 3) and obs["pov"].dtype == np.uint8
    assert list(act) == sorted([*standin._KEYS_04, "camera"])
    camera = act["camera"]
    assert camera.shape == (2,) and camera.dtype == np.float32
    assert camera.low.tolist() == [-180, -180] and camera.high.tolist() == [180, 180]
    obs, act = standin.env_spaces("1.0", "MineRLBasaltFindCave-v0")
    assert obs["pov"].shape == (360, 640, 3)
    assert {"ESC", "inventory", "swapHands", "pickItem", "drop", "hotbar.9", "use"} <= set(act)
    obs, act = standin.env_spaces("0.4", "MineRLNavigate-v0")
    assert set(obs) == {"pov", "compass", "inventory"} and act["place"].no_op() == "none"
    with pytest.raises(ValueError, match="MineRLTreechop-v0"):
        standin.env_spaces("0.4", "MineRLNope-v0")


@pytest.mark.parametrize(
    ("module", "minerl_id"),
    [
        ("envs.minerl.standin:v04", "MineRLNavigate-v0"),
        ("envs.minerl.standin:v10", "MineRLBasaltFindCave-v0"),
    ],
)
def test_gymnasium_make_and_check_env(module: str, minerl_id: str) -> None:
    env = gym.make(
        "envs.minerl:simworld/MineRL-v0",
        minerl_id=minerl_id,
        module=module,
        make_kwargs={"resolution": (32, 24)},
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        check_env(env.unwrapped, skip_render_check=True)
    assert env.action_space == A.action_space()
    assert env.observation_space.shape == (24, 32, 3)


def test_frames_react_to_actions_and_old_gym_api() -> None:
    env = MineRLEnv("MineRLTreechop-v0", module=standin.v04, make_kwargs={"max_steps": 6})
    first, info = env.reset(seed=3)
    np.testing.assert_array_equal(env.reset(seed=3)[0], first)
    assert not np.array_equal(env.reset(seed=4)[0], first)
    env.reset(seed=3)
    turned = env.step({**A.noop(), "camera": np.array([0, 20], np.float32)})[0]
    assert np.abs(turned.astype(int) - first).mean() > 1
    rewards, frames = [], []
    for _ in range(5):
        frame, reward, terminated, truncated, _ = env.step({**A.noop(), "attack": 1})
        rewards.append(reward)
        frames.append(frame)
    assert rewards == [0, 0, 0, 1, 0]  # the log breaks on the 4th hit
    assert not np.array_equal(frames[0], frames[1])
    assert terminated and not truncated  # old-gym done at the stand-in's max_steps


def test_missing_minerl_is_a_dependency_error() -> None:
    with pytest.raises(gym.error.DependencyNotInstalled, match="standin"):
        MineRLEnv("MineRLTreechop-v0")
    with pytest.raises(ValueError, match="0.4"):
        MineRLEnv("MineRLTreechop-v0", module=standin.v04, version="2.0")


def test_collect_standin_then_validate(tmp_path: Path) -> None:
    out = tmp_path / "minerl"
    script = Path(sys.executable).parent / "simworld"
    command = [str(script)] if script.is_file() else [sys.executable, "-m", "simworld.cli"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    collect = subprocess.run(
        [
            *command,
            "collect",
            f"out={out}",
            "env.id=envs.minerl:simworld/MineRL-v0",
            "+env.kwargs.minerl_id=MineRLTreechop-v0",
            "+env.kwargs.module=envs.minerl.standin:v04",
            "policy=envs.minerl.adapter:explore_policy",
            "episodes=2",
            "steps=10",
            "num_workers=0",
            "progress=false",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )
    assert collect.returncode == 0, collect.stderr[-3000:]
    validate = subprocess.run(
        [*command, "validate", f"path={out}"], capture_output=True, text=True, timeout=120, env=env
    )
    assert validate.returncode == 0, validate.stdout[-2000:] + validate.stderr[-2000:]
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["env"]["id"] == "envs.minerl:simworld/MineRL-v0"
    assert manifest["env"]["params"]["module"] == "envs.minerl.standin:v04"
