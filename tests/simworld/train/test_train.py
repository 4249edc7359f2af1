"""``simworld.train.run.train`` on a tiny collected dataset: every stage runs, the checkpoint loads
and steps, and an interrupted-then-resumed run ends with the same weights as an uninterrupted one."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import torch

from simworld.actions import FLAT_DIM
from simworld.config import ConfigError
from simworld.data.windows import WindowDataset
from simworld.models.vae import VideoVAE
from simworld.train.run import TrainConfig, train
from simworld.train.state import load_train_state, save_train_state
from simworld.world_model import WorldModel


def _flat_tensors(obj: object, prefix: str = "") -> dict[str, torch.Tensor]:
    if isinstance(obj, torch.Tensor):
        return {prefix: obj}
    if isinstance(obj, dict):
        return {k: v for key, val in obj.items() for k, v in _flat_tensors(val, f"{prefix}.{key}").items()}
    if isinstance(obj, list):
        return {k: v for i, val in enumerate(obj) for k, v in _flat_tensors(val, f"{prefix}.{i}").items()}
    return {}


def test_dit_stage_writes_a_checkpoint_that_loads_and_steps(
    tmp_path: Path, tiny_config: Callable[..., TrainConfig], tiny_dataset: Path
) -> None:
    overrides = ("trainer.sample_every=4", "sampler.num_inference_steps=2", "trainer.precision=bf16")
    card = train(tiny_config(tmp_path / "run", *overrides))
    out = tmp_path / "run"
    assert card["steps"] == 4 and card["stage"] == "dit" and "loss" in card["final_losses"]
    rows = (out / "metrics.csv").read_text().splitlines()
    assert rows[0].startswith("step,loss,diffusion") and len(rows) == 5
    assert (out / "samples" / "step_0000004.mp4").stat().st_size > 0
    assert (out / "samples" / "step_0000004.gif").stat().st_size > 0
    assert json.loads((out / "checkpoint" / "model_card.json").read_text())["steps"] == 4
    assert "steps: 4 of 4" in (out / "model_card.md").read_text()
    model = WorldModel.load(out / "checkpoint")
    assert model.training["stage"] == "dit"
    # the data's env travels with the checkpoint (live resets, the probes' env)
    assert model.training["env"] == json.loads((tiny_dataset / "manifest.json").read_text())["env"]
    window = next(iter(WindowDataset(tiny_dataset, 4, split="all", shuffle=False)))
    model.reset(window["frames"][None, :2], window["actions"][None, :1], seed=0)
    step = model.step(np.zeros((1, FLAT_DIM), np.float32))
    assert step.frames.shape == (1, 32, 32, 3) and step.frames.dtype == torch.uint8
    assert step.reward.shape == (1,)


def test_vae_stage_stores_latent_stats_and_feeds_the_dit_stage(
    tmp_path: Path, tiny_config: Callable[..., TrainConfig]
) -> None:
    vae_overrides = ("vae=tiny", "trainer.stage=vae", "vae.loss.lpips_weight=0", "vae.stats_batches=2")
    card = train(tiny_config(tmp_path / "vae", *vae_overrides, "trainer.max_steps=2", "data.window=2"))
    assert card["stage"] == "vae" and "l1" in card["final_losses"]
    vae = VideoVAE.from_pretrained(tmp_path / "vae" / "vae")
    assert vae.has_latent_stats and not torch.equal(vae.latent_scale, torch.ones_like(vae.latent_scale))
    dit = tiny_config(
        tmp_path / "dit", "vae=tiny", f"vae.pretrained={tmp_path / 'vae'}", "trainer.max_steps=2"
    )
    train(dit)
    model = WorldModel.load(tmp_path / "dit" / "checkpoint")
    assert isinstance(model.latent_space, VideoVAE)
    assert torch.equal(model.latent_space.latent_scale, vae.latent_scale)


def test_joint_stage_trains_vae_and_dit_together(
    tmp_path: Path, tiny_config: Callable[..., TrainConfig]
) -> None:
    cfg = tiny_config(
        tmp_path / "joint",
        "vae=tiny",
        "trainer.stage=joint",
        "vae.loss.lpips_weight=0",
        "vae.stats_batches=1",
        "trainer.max_steps=2",
        "trainer.grad_accum=2",
        "trainer.precision=bf16",
    )
    card = train(cfg)
    assert {"loss", "diffusion", "vae_l1", "vae_loss"} <= set(card["final_losses"])
    model = WorldModel.load(tmp_path / "joint" / "checkpoint")
    assert model.latent_space.has_latent_stats


def test_interrupted_and_resumed_run_matches_an_uninterrupted_one(
    tmp_path: Path, tiny_config: Callable[..., TrainConfig]
) -> None:
    # 3 train episodes of 25 frames: 9 windows of 8, 4 batches of 2 per epoch; 4 steps of 2
    # micro-batches take 8, so the resumed half starts exactly where epoch 0 ran out
    steps = ("trainer.max_steps=4", "trainer.save_every=2", "trainer.grad_accum=2", "data.window=8")
    train(tiny_config(tmp_path / "full", *steps))
    train(tiny_config(tmp_path / "split", *steps, "trainer.stop_at=2"))  # stops after the save at 2
    assert load_train_state(tmp_path / "split")["step"] == 2
    train(tiny_config(tmp_path / "split", *steps))  # resumes from train_state/
    full, split = load_train_state(tmp_path / "full"), load_train_state(tmp_path / "split")
    assert full["step"] == split["step"] == 4 and full["data"] == split["data"]
    assert full["data"]["epoch"] >= 1
    a, b = _flat_tensors(full), _flat_tensors(split)
    assert set(a) == set(b)
    different = [k for k in a if not torch.equal(a[k], b[k])]
    assert not different, different[:5]  # weights, EMA, optimizer, RNG: bitwise equal


def test_resume_refuses_another_stage(tmp_path: Path, tiny_config: Callable[..., TrainConfig]) -> None:
    save_train_state(tmp_path / "run", {"stage": "dit", "step": 1})
    cfg = tiny_config(tmp_path / "run", "vae=tiny", "trainer.stage=joint", "vae.loss.lpips_weight=0")
    with pytest.raises(ValueError, match="is from stage 'dit'"):
        train(cfg)


def test_mixed_size_run_trains_packed_and_resumes_to_identical_weights(
    tmp_path: Path, tiny_config: Callable[..., TrainConfig]
) -> None:
    # every clip its own size (upsampled, cropped, downsampled from 32x32) and duration: packed steps
    mixed = (
        "data.sizes=[[32,32],[16,32],[24,24],[40,40]]",
        "data.size_weights=[2,1,1,1]",
        "data.windows=[2,3,4]",
    )
    steps = ("trainer.max_steps=4", "trainer.save_every=2", *mixed)
    card = train(tiny_config(tmp_path / "full", *steps))
    assert np.isfinite(card["final_losses"]["loss"])
    header, *rows = (tmp_path / "full" / "metrics.csv").read_text().splitlines()
    termination = [float(row.split(",")[header.split(",").index("termination")]) for row in rows]
    assert max(termination) > 0  # the head trains on packed clips too (when a frame is usable)
    train(tiny_config(tmp_path / "split", *steps, "trainer.stop_at=2"))
    train(tiny_config(tmp_path / "split", *steps))  # resumes from train_state/
    full, split = load_train_state(tmp_path / "full"), load_train_state(tmp_path / "split")
    assert full["step"] == split["step"] == 4 and full["data"] == split["data"]
    a, b = _flat_tensors(full), _flat_tensors(split)
    different = [k for k in a if not torch.equal(a[k], b[k])]
    assert set(a) == set(b) and not different, different[:5]
    # another draw of sizes trains other weights: the mixed sizes reach the model
    train(tiny_config(tmp_path / "plain", "trainer.max_steps=4", "trainer.save_every=2"))
    key = "dit.patch_embed.weight"
    plain = load_train_state(tmp_path / "plain")["modules"]["denoiser"][key]
    assert not torch.equal(plain, full["modules"]["denoiser"][key])


def test_mixed_sizes_are_refused_off_the_latent_grid_and_off_stage_dit(
    tmp_path: Path, tiny_config: Callable[..., TrainConfig]
) -> None:
    with pytest.raises(ConfigError, match="positive multiples of 4"):  # pixel factor 4 x patch 1
        tiny_config(tmp_path / "run", "data.sizes=[[32,32],[30,32]]")
    with pytest.raises(ConfigError, match="positive multiples of 8"):
        tiny_config(tmp_path / "run", "data.sizes=[[32,32],[36,32]]", "model.patch_size=2")
    with pytest.raises(ConfigError, match="need trainer.stage=dit"):
        tiny_config(tmp_path / "run", "data.windows=[2,4]", "vae=tiny", "trainer.stage=joint")
