"""Executes docs/byo_env.md: collect a custom env, train 2 steps, step the learned world, score it."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest
import torch
from gymnasium.utils.env_checker import check_env

import envs  # noqa: F401  (registers simworld/WorldModel-v0)
from envs.byo.example import ENV_ID, CanonicalActions, GridChaseEnv, make_grid_chase
from evals.metrics import PerFramePSNR
from simworld import actions as A
from simworld.cli import main
from simworld.data import load_manifest, read_shard

DOC = Path(__file__).parents[2] / "docs" / "byo_env.md"
QUALIFIED_ID = f"envs.byo.example:{ENV_ID}"


def simworld(*args: str) -> None:
    """Run the installed ``simworld`` command as the tutorial does (fails the test on error)."""
    script = Path(sys.executable).parent / "simworld"
    command = [str(script)] if script.is_file() else [sys.executable, "-m", "simworld.cli"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    result = subprocess.run([*command, *args], capture_output=True, text=True, timeout=180, env=env)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-3000:]


def test_example_env_is_a_gymnasium_env() -> None:
    env = gym.make(QUALIFIED_ID)
    check_env(env.unwrapped)
    check_env(make_grid_chase(), skip_render_check=True)
    wrapped = make_grid_chase()
    assert wrapped.action({**A.noop(), "left": 1}) == 3 and wrapped.action(A.noop()) == 0
    with pytest.raises(ValueError, match="forward"):
        CanonicalActions(GridChaseEnv(), {"fly": 1})


def test_tutorial_commands_run(tmp_path: Path) -> None:
    doc = DOC.read_text()
    for command in ("simworld collect env.id=envs.byo.example:byo/GridChase-v0", "simworld train data.path"):
        assert command in doc
    data, held_out, run = tmp_path / "data", tmp_path / "heldout", tmp_path / "train"
    policy = "policy=envs.byo.example:chase_policy"
    common = [f"env.id={QUALIFIED_ID}", policy, "num_workers=0", "progress=false"]
    simworld("collect", *common, "episodes=4", "steps=16", f"out={data}")
    assert main(["collect", *common, "episodes=1", "steps=16", "seed=1", f"out={held_out}"]) == 0
    assert main(["validate", f"path={data}"]) == 0
    simworld(
        "train", f"data.path={data}", "trainer=debug", "vae=pixel", f"trainer.out={run}",
        "trainer.max_steps=2", "data.window=4", "data.batch_size=2", "trainer.progress=false",
    )  # fmt: skip
    assert re.search(r"trainer\.max_steps=2 data\.window=4 data\.batch_size=2", doc)

    env = gym.make("simworld/WorldModel-v0", checkpoint=str(run / "checkpoint"), num_inference_steps=2,
                   live_env=QUALIFIED_ID)  # fmt: skip
    obs, _ = env.reset(seed=0, options={"live": True})
    assert obs.shape == (32, 32, 3) and obs.dtype == np.uint8
    obs, reward, terminated, truncated, _ = env.step({**A.noop(), "forward": 1})
    assert obs.shape == (32, 32, 3) and np.isfinite(reward)

    context, horizon = 4, 3
    psnr = PerFramePSNR(num_frames=horizon)
    for record in load_manifest(held_out).episodes:
        episode = read_shard(held_out, record)
        frames, actions = episode["frames"], episode["actions"]
        env.reset(
            seed=0, options={"context_frames": frames[:context], "context_actions": actions[: context - 1]}
        )
        predicted = [env.step(A.from_flat(a))[0] for a in actions[context - 1 : context - 1 + horizon]]
        truth = frames[context : context + horizon]
        psnr.update(torch.from_numpy(np.stack(predicted))[None], torch.from_numpy(truth)[None])
    curve = psnr.compute()
    assert curve.shape == (horizon,) and torch.all(torch.isfinite(curve))
