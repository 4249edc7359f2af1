"""The training loop's pieces: LR schedule, EMA, config checks, and the DiT stage overfitting a batch."""

from __future__ import annotations

import math

import pytest
import torch

from simworld.actions import FLAT_DIM
from simworld.diffusion.training import diffusion_forcing_loss
from simworld.train.components import Denoiser, ModelConfig
from simworld.train.tasks import DiTTask
from simworld.train.trainer import EMA, Distributed, Trainer, TrainerConfig, lr_at


def test_lr_warms_up_linearly_then_decays_by_cosine_to_the_floor() -> None:
    cfg = TrainerConfig(max_steps=110, warmup_steps=10, lr=1.0, min_lr_ratio=0.1)
    assert lr_at(0, cfg) == pytest.approx(0.1) and lr_at(9, cfg) == pytest.approx(1.0)
    assert lr_at(60, cfg) == pytest.approx(0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * 0.5)))
    assert lr_at(110, cfg) == pytest.approx(0.1) and lr_at(500, cfg) == pytest.approx(0.1)


def test_ema_moves_towards_the_weights() -> None:
    model = torch.nn.Linear(2, 1)
    ema = EMA(model, decay=0.75)
    before = ema.module.weight.clone()
    with torch.no_grad():
        model.weight.add_(4.0)
    ema.update(model)
    assert torch.allclose(ema.module.weight, 0.75 * before + 0.25 * model.weight)
    assert not ema.module.weight.requires_grad


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [("stage", "vea", "stage must be one of"), ("precision", "fp16", "precision must be one of")],
)
def test_bad_trainer_values_name_the_valid_ones(field: str, value: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        TrainerConfig(**{field: value})


def test_dit_stage_overfits_a_fixed_batch() -> None:
    torch.manual_seed(0)
    cfg = TrainerConfig(
        max_steps=25, warmup_steps=2, lr=3e-3, min_lr_ratio=1.0, ema_decay=0.5, progress=False
    )
    model_cfg = ModelConfig(preset="tiny", head_hidden=32)
    alone = Distributed(rank=0, world_size=1, local_rank=0, device=torch.device("cpu"))
    task = DiTTask(Denoiser.build(model_cfg, in_channels=3), model_cfg, alone)
    batch = {
        "latents": torch.randn(1, 3, 3, 2, 2),
        "actions": torch.randn(1, 2, FLAT_DIM),
        "rewards": torch.randn(1, 2),
        "terminated": torch.zeros(1, 2, dtype=torch.bool),
    }

    def fixed_loss() -> float:  # same noise levels and noise every time
        gen = torch.Generator().manual_seed(123)
        with torch.no_grad():
            out = diffusion_forcing_loss(
                task.denoiser.dit,
                task.schedule,
                task.objective,
                batch["latents"],
                batch["actions"],
                rewards=batch["rewards"],
                terminated=batch["terminated"],
                head=task.denoiser.head,
                generator=gen,
            )
        return float(out.loss)

    def ignore(*args: object) -> None:
        return None

    before = fixed_loss()
    trainer = Trainer(cfg, alone, task, lambda: batch, ignore, ignore, ignore)
    trainer.run()
    assert trainer.step == 25
    after = fixed_loss()
    assert after < 0.75 * before, (before, after)  # measured: 2.13 -> 1.32
