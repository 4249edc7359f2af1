"""Scripted Doom policies explore, and ``collect`` records them into a valid dataset."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("vizdoom")

from envs.vizdoom import policies as P  # noqa: E402
from envs.vizdoom.env import DoomEnv  # noqa: E402
from simworld import actions as A  # noqa: E402
from simworld.data.collect import CollectConfig, CollectEnvConfig, collect  # noqa: E402
from simworld.data.format import load_manifest  # noqa: E402
from simworld.data.shards import read_shard  # noqa: E402


@pytest.mark.parametrize("name", ["wander", "patrol", "spin", "mixture"])
def test_policies_run_and_wander_explores(name: str) -> None:
    env = DoomEnv("my_way_home")
    try:
        np.random.seed(0)
        obs, info = env.reset(seed=3)
        cells = set()
        for _ in range(200):
            obs, _, terminated, truncated, info = env.step(P.POLICIES[name](obs, info))
            cells.add((int(info["pose"][0] // 64), int(info["pose"][2] // 64)))
            assert info["pose"][4] == 0.0  # pitch stays level
            if terminated or truncated:
                break
        if name == "wander":
            assert len(cells) >= 10  # 64-unit cells visited: it walks through rooms, not into a wall
    finally:
        env.close()


def test_policy_needs_depth() -> None:
    with pytest.raises(ValueError, match="depth"):
        P.wander(None, {"world_seed": 0, "pose": np.zeros(5)})


def test_collect_doom_dataset_validates(tmp_path: Path) -> None:
    cfg = CollectConfig(
        env=CollectEnvConfig(id="simworld/Doom-v0", kwargs={"frame_size": [64, 64]}),
        out=str(tmp_path / "doom"),
        episodes=2,
        steps=16,
        policy="envs.vizdoom.policies:wander",
        num_workers=0,
        ground_truth=["pose", "intrinsics", "depth"],
        progress=False,
    )
    result = collect(cfg)
    assert result.episodes_written == 2 and result.frames_written == 2 * 17
    manifest = load_manifest(tmp_path / "doom")
    assert manifest.env["id"] == "simworld/Doom-v0" and manifest.action_schema["flat_dim"] == A.FLAT_DIM
    shard = read_shard(tmp_path / "doom", manifest.episodes[0])
    assert shard["frames"].shape == (17, 64, 64, 3)
    assert shard["pose"].shape == (17, 5) and shard["depth"].shape == (17, 64, 64)
    np.testing.assert_allclose(shard["intrinsics"], [[32, 0, 32], [0, 32, 32], [0, 0, 1]])
    script = Path(sys.executable).parent / "simworld"
    command = [str(script)] if script.is_file() else [sys.executable, "-m", "simworld.cli"]
    ok = subprocess.run([*command, "validate", f"path={tmp_path / 'doom'}"], capture_output=True, text=True)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert "valid: 0 errors" in ok.stdout
