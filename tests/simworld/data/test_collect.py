"""``collect``: kill mid-way and resume to the same bytes, policies, other envs, bad settings."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest

from simworld.data.collect import CollectConfig, CollectEnvConfig, collect
from simworld.data.format import load_manifest
from simworld.data.shards import read_shard
from simworld.data.validate import validate_dataset
from simworld.data.windows import WindowDataset

EPISODES, STEPS = 20, 16


def simworld_command() -> list[str]:
    script = Path(sys.executable).parent / "simworld"
    return [str(script)] if script.is_file() else [sys.executable, "-m", "simworld.cli"]


def committed(root: Path) -> int:
    try:
        return len(json.loads((root / "manifest.json").read_text())["episodes"])
    except (FileNotFoundError, json.JSONDecodeError, KeyError):
        return 0


def checksums(root: Path) -> dict[int, str]:
    return {r.index: r.sha256 for r in load_manifest(root).episodes}


def test_kill_and_resume_gives_the_uninterrupted_dataset(
    tmp_path: Path, small_world, small_world_overrides
) -> None:
    killed = tmp_path / "killed"
    args = [
        *simworld_command(),
        "collect",
        f"out={killed}",
        f"episodes={EPISODES}",
        f"steps={STEPS}",
        "num_workers=2",
        "ground_truth=[pose]",
        "progress=false",
        *small_world_overrides,
    ]
    process = subprocess.Popen(
        args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True
    )
    deadline = time.monotonic() + 120
    while committed(killed) < 3 and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)
    os.killpg(process.pid, signal.SIGKILL)  # the command and its workers, as a preemption would
    process.wait()
    done_before = committed(killed)
    assert 3 <= done_before < EPISODES, f"kill came too late or never ({done_before} episodes)"
    # what the killed run left is a valid dataset of the finished episodes (nothing half-written is listed)
    assert [p for p in validate_dataset(killed) if p.severity == "error"] == []

    resumed = subprocess.run(args, capture_output=True, text=True, timeout=300)
    assert resumed.returncode == 0, resumed.stderr
    assert f"({done_before} already done)" in resumed.stdout
    assert validate_dataset(killed) == []

    straight = tmp_path / "straight"  # one uninterrupted run, in this process, without workers
    collect(
        CollectConfig(
            env=CollectEnvConfig(world=small_world),
            out=str(straight),
            episodes=EPISODES,
            steps=STEPS,
            num_workers=0,
            ground_truth=["pose"],
            progress=False,
        )
    )
    assert checksums(killed) == checksums(straight)
    assert len(checksums(straight)) == EPISODES


def test_random_policy_with_ground_truth(tmp_path: Path, small_world) -> None:
    cfg = CollectConfig(
        env=CollectEnvConfig(world=small_world),
        out=str(tmp_path / "ds"),
        episodes=2,
        steps=5,
        policy="random",
        num_workers=0,
        ground_truth=["pose", "depth", "intrinsics"],
        progress=False,
    )
    result = collect(cfg)
    assert (result.episodes_written, result.frames_written) == (2, 12)
    manifest = load_manifest(cfg.out)
    arrays = read_shard(cfg.out, manifest.episodes[0])
    assert arrays["depth"].shape == (6, 64, 64) and arrays["depth"].dtype == np.float16
    assert arrays["pose"].shape == (6, 5) and arrays["intrinsics"].shape == (3, 3)
    assert arrays["truncated"].tolist() == [False] * 4 + [True]  # the time limit is the step budget
    raw = json.loads(arrays["raw_actions"][0])
    assert set(raw) == {
        "forward",
        "back",
        "left",
        "right",
        "jump",
        "sneak",
        "sprint",
        "attack",
        "use",
        "camera",
        "hotbar",
    }
    assert manifest.episodes[0].info["policy"] == "random"
    assert collect(cfg).episodes_skipped == 2  # a rerun has nothing to do
    with pytest.raises(ValueError, match="other settings.*source.steps: existing 5, requested 6"):
        collect(CollectConfig(**{**cfg.__dict__, "steps": 6}))
    grown = collect(CollectConfig(**{**cfg.__dict__, "episodes": 3}))  # more episodes extend the dataset
    assert (grown.episodes_written, grown.episodes_skipped) == (1, 2)


def test_user_policy_module_function(tmp_path: Path, small_world, monkeypatch) -> None:
    (tmp_path / "my_policy.py").write_text(
        "import numpy as np\n"
        "def walk(obs, info):\n"
        "    a = {k: 0 for k in ('forward','back','left','right','jump','sneak','sprint','attack','use')}\n"
        "    a.update(forward=1, camera=np.array([0.0, np.random.uniform(-5, 5)], np.float32), hotbar=0)\n"
        "    return a\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    outs = []
    for name in ("a", "b"):
        cfg = CollectConfig(
            env=CollectEnvConfig(world=small_world),
            out=str(tmp_path / name),
            episodes=1,
            steps=4,
            policy="my_policy:walk",
            num_workers=0,
            progress=False,
        )
        collect(cfg)
        outs.append(read_shard(cfg.out, load_manifest(cfg.out).episodes[0])["actions"])
    assert (outs[0][:, 0] == 1).all()  # forward held
    np.testing.assert_array_equal(outs[0], outs[1])  # np.random is seeded per episode


class TinyEnv(gym.Env):
    """A non-voxel env with a Discrete action space and 6x6 frames."""

    observation_space = gym.spaces.Box(0, 255, (6, 6, 3), np.uint8)
    action_space = gym.spaces.Discrete(3)

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.t = 0
        return np.full((6, 6, 3), self.t, np.uint8), {}

    def step(self, action):
        self.t += 1
        return np.full((6, 6, 3), 10 * self.t + int(action), np.uint8), 1.0, self.t >= 3, False, {}


def test_any_gymnasium_env_with_its_own_action_space(tmp_path: Path) -> None:
    gym.register("simworld_test/Tiny-v0", entry_point=TinyEnv)
    try:
        cfg = CollectConfig(
            env=CollectEnvConfig(id="simworld_test/Tiny-v0"),
            out=str(tmp_path / "ds"),
            episodes=2,
            steps=10,
            policy="random",
            num_workers=0,
            progress=False,
        )
        collect(cfg)
        manifest = load_manifest(cfg.out)
        assert manifest.action_schema["name"] == "gymnasium.spaces.flatten" and manifest.flat_dim == 3
        arrays = read_shard(cfg.out, manifest.episodes[0])
        assert arrays["frames"].shape == (4, 6, 6, 3) and arrays["terminated"].tolist() == [
            False,
            False,
            True,
        ]
        actions = arrays["actions"].argmax(axis=1)  # one-hot of the Discrete action
        assert (arrays["frames"][1:, 0, 0, 0] % 10 == actions).all()
        assert next(iter(WindowDataset(cfg.out, window=3, split="all")))["actions"].shape == (2, 3)
        with pytest.raises(ValueError, match="does not report ground truth \\['pose'\\]"):
            collect(CollectConfig(**{**cfg.__dict__, "out": str(tmp_path / "gt"), "ground_truth": ["pose"]}))
        with pytest.raises(ValueError, match="needs a voxel env"):
            collect(CollectConfig(**{**cfg.__dict__, "out": str(tmp_path / "sc"), "policy": "explore"}))
    finally:
        gym.registry.pop("simworld_test/Tiny-v0", None)


def test_cli_rejects_bad_settings() -> None:
    result = subprocess.run(
        [*simworld_command(), "collect", "policy=flying", "encoding=webm"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 2
    assert "encoding must be one of ['npz', 'mp4'], got 'webm'" in result.stderr
