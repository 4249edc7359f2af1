"""``simworld train`` from the command line: config errors, a subprocess smoke run, and DDP with
two CPU processes on gloo under torchrun."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from simworld.cli import main
from simworld.world_model import WorldModel


def test_misspelled_key_fails_naming_it(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["train", "data.path=x", "trainer.max_stepz=3"]) == 2
    err = capsys.readouterr().err
    assert "unknown config key 'trainer.max_stepz'" in err and "Did you mean 'trainer.max_steps'?" in err


def test_stage_dit_with_an_untrained_vae_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["train", "data.path=x", "vae=tiny", "trainer.stage=dit"]) == 2
    assert "needs vae.pretrained" in capsys.readouterr().err


def test_ddp_two_cpu_processes_end_with_identical_weights(
    tmp_path: Path, tiny_overrides: Callable[..., list[str]]
) -> None:
    torchrun = Path(sys.executable).with_name("torchrun")
    args = tiny_overrides(tmp_path / "ddp", "trainer.max_steps=3")
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    # --standalone: rendezvous on a port the OS picks (no race for a "free" port with other jobs)
    cmd = [str(torchrun), "--standalone", "--nproc_per_node=2", "-m", "simworld.cli", "train"]
    result = subprocess.run([*cmd, *args], capture_output=True, text=True, env=env, timeout=300)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-3000:]
    assert "trained 3 steps" in result.stdout, result.stdout[-2000:]
    card = json.loads((tmp_path / "ddp" / "model_card.json").read_text())
    assert card["world_size"] == 2 and card["samples_seen"] == 3 * 2 * 2
    digests = card["rank_weight_sha256"]
    assert len(digests) == 2 and digests[0] == digests[1]
    assert WorldModel.load(tmp_path / "ddp" / "checkpoint").training["world_size"] == 2


def test_modes_recipe_runs_mixed_size_bidirectional_training(tmp_path: Path, tiny_dataset: Path) -> None:
    # the command of docs/modes.md, with a tiny model, batch and budget
    recipe = ["train", "trainer=modes", "model=modes", "data=mixed", "vae=pixel", f"data.path={tiny_dataset}"]
    tiny = [
        f"trainer.out={tmp_path / 'modes'}",
        "trainer.max_steps=3",
        "trainer.sample_every=0",
        "trainer.device=cpu",
        "trainer.progress=false",
        "model.preset=tiny",
        "data.batch_size=2",
    ]
    assert main([*recipe, *tiny]) == 0
    model = WorldModel.load(tmp_path / "modes" / "checkpoint")
    assert not model.dit.config.causal  # backward extension and interpolation need it
    saved = json.loads((tmp_path / "modes" / "train_config.json").read_text())["data"]
    assert saved["sizes"] and saved["windows"] == [4, 8, 12, 16]
    card = json.loads((tmp_path / "modes" / "model_card.json").read_text())["data"]
    assert card["windows"] == [4, 8, 12, 16] and [64, 48] in card["sizes"]  # the card says sizes were mixed
    md = (tmp_path / "modes" / "model_card.md").read_text()
    assert "mixed sizes 64x64, 32x32, 48x48, 48x64, 64x48, clips of 4, 8, 12, 16 frames" in md
    assert "- objective: diffusion forcing" in md


def test_teacher_forcing_reference_run_says_so_in_its_card_and_steps(
    tmp_path: Path, tiny_overrides: Callable[..., list[str]]
) -> None:
    args = tiny_overrides(
        tmp_path / "tf",
        "trainer.max_steps=2",
        "model.objective.teacher_forcing=true",
        "model.reference=previous",
    )
    assert main(["train", *args]) == 0
    card = json.loads((tmp_path / "tf" / "model_card.json").read_text())
    assert card["config"]["model"]["objective"]["teacher_forcing"] is True
    assert card["final_losses"]["diffusion"] > 0
    md = (tmp_path / "tf" / "model_card.md").read_text()
    assert "- objective: teacher forcing, denoised relative to the previous frame" in md
    model = WorldModel.load(tmp_path / "tf" / "checkpoint")
    assert model.dit.config.causal and model.dit.config.reference == "previous"
    H, W = model.frame_size
    model.reset(np.zeros((1, 2, H, W, 3), np.uint8), seed=0)  # the learned path runs on it
    assert model.step(np.zeros((1, model.dit.config.action_dim), np.float32)).frames.shape[-3:] == (H, W, 3)
