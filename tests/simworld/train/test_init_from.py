"""``trainer.init_from``: a new run starts from a checkpoint's DiT + head weights (float16 exports
included), shape-changing settings and other latent spaces are refused, a resume ignores it, and
the model card records the source.

The runs train one step at ``lr=0`` (AdamW then leaves weights and EMA exactly as loaded), so the
checkpoint they write holds the initial weights."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
import torch

from simworld.checkpoint import load_checkpoint
from simworld.config import ConfigError
from simworld.data.shards import sha256_file
from simworld.export import ExportConfig, export_checkpoint
from simworld.testing import build_tiny_checkpoint
from simworld.train.run import TrainConfig, train
from simworld.train.state import load_train_state

#: one step that changes no weight: the written checkpoint holds the initial weights
FROZEN = ("trainer.max_steps=1", "trainer.save_every=1", "trainer.lr=0")
#: the head width of ``build_tiny_checkpoint``
HEAD = "model.head_hidden=16"


@pytest.fixture(scope="module")
def source(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A random-weight checkpoint that fits the tiny pixel-space run (tiny preset, patch 1, f=4)."""
    folder = tmp_path_factory.mktemp("init_from") / "source"
    return build_tiny_checkpoint(folder, frame_size=(32, 32), spatial_factor=4, patch_size=1, num_contexts=0)


def _weights(checkpoint: Path) -> dict[str, torch.Tensor]:
    ckpt = load_checkpoint(checkpoint)
    return {
        **{f"dit.{k}": v for k, v in ckpt.dit.state_dict().items()},
        **{f"head.{k}": v for k, v in ckpt.head.state_dict().items()},
    }


def _assert_equal(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> None:
    assert set(a) == set(b)
    different = [k for k in a if not torch.equal(a[k], b[k])]
    assert not different, different[:5]


def test_a_trained_checkpoint_starts_a_bidirectional_run_and_the_card_records_it(
    tmp_path: Path, tiny_config: Callable[..., TrainConfig]
) -> None:
    train(tiny_config(tmp_path / "src", "trainer.max_steps=2"))
    src = tmp_path / "src" / "checkpoint"
    init_from = f"trainer.init_from={tmp_path / 'src'}"  # a run folder: its checkpoint/ is used
    # bidirectional temporal attention changes no tensor: fine-tuned from the causal source
    card = train(tiny_config(tmp_path / "fine", *FROZEN, init_from, "model.temporal=bidirectional"))
    fine = tmp_path / "fine" / "checkpoint"
    _assert_equal(_weights(fine), _weights(src))  # EMA (the checkpoint) from the loaded weights
    trained = load_train_state(tmp_path / "fine")["modules"]["denoiser"]
    _assert_equal(trained, _weights(src))
    assert load_checkpoint(fine).dit.config.temporal == "bidirectional"
    record = {
        "path": str(src.resolve()),
        "steps": 2,
        "dit_sha256": sha256_file(src / "dit" / "model.safetensors"),
    }
    assert card["init_from"] == record
    assert json.loads((fine / "model_card.json").read_text())["init_from"] == record
    md = (tmp_path / "fine" / "model_card.md").read_text()
    assert f"initialised from: `{src.resolve()}` (2 steps; dit weights sha256 {record['dit_sha256']})" in md


def test_a_float16_export_starts_the_run_from_its_rounded_weights(
    tmp_path: Path, source: Path, tiny_config: Callable[..., TrainConfig]
) -> None:
    export = export_checkpoint(
        ExportConfig(checkpoint=str(source), out=str(tmp_path / "fp16"), num_contexts=0)
    )
    train(tiny_config(tmp_path / "fine", *FROZEN, HEAD, f"trainer.init_from={export}"))
    rounded = {k: v.half().float() for k, v in _weights(source).items()}
    assert any(not torch.equal(rounded[k], v) for k, v in _weights(source).items())  # rounding shows
    _assert_equal(_weights(tmp_path / "fine" / "checkpoint"), rounded)


@pytest.mark.parametrize(
    ("override", "message"),
    [
        # another width: a tensor named, with both models' settings
        ("model.preset=mini", r"shape: \['dit\..*Checkpoint: preset tiny, width 64.*configured: preset mini"),
        # spacetime blocks have other sub-layers than factorized ones
        ("model.attention=spacetime", r"not in model: \['dit\.blocks\.0\.attns\.1.*attention spacetime"),
        ("model.head_hidden=64", r"head\..*head hidden 16; configured: .*head hidden 64"),
        ("vae.spatial_factor=2", r"latent space .*'latent_channels': 48.* differs from the run's .*12"),
    ],
)
def test_a_model_or_latent_space_that_does_not_fit_is_refused(
    tmp_path: Path, source: Path, tiny_config: Callable[..., TrainConfig], override: str, message: str
) -> None:
    cfg = tiny_config(tmp_path / "run", HEAD, override, f"trainer.init_from={source}")
    with pytest.raises(ValueError, match=message):
        train(cfg)


def test_init_from_is_refused_for_stage_vae_and_for_a_folder_without_a_checkpoint(
    tmp_path: Path, source: Path, tiny_config: Callable[..., TrainConfig]
) -> None:
    with pytest.raises(ConfigError, match="init_from applies to stage dit"):
        tiny_config(tmp_path / "run", "vae=tiny", "trainer.stage=vae", f"trainer.init_from={source}")
    with pytest.raises(ValueError, match="no world_model.json"):
        train(tiny_config(tmp_path / "run", f"trainer.init_from={tmp_path}"))


def test_a_resumed_run_ignores_init_from(
    tmp_path: Path, source: Path, tiny_config: Callable[..., TrainConfig], capsys: pytest.CaptureFixture[str]
) -> None:
    steps = ("trainer.max_steps=2", "trainer.save_every=1", HEAD)
    train(tiny_config(tmp_path / "full", *steps))
    train(tiny_config(tmp_path / "split", *steps, "trainer.stop_at=1"))
    capsys.readouterr()
    card = train(tiny_config(tmp_path / "split", *steps, f"trainer.init_from={source}"))
    notices = [line for line in capsys.readouterr().out.splitlines() if "init_from" in line]
    assert len(notices) == 1 and "ignored: resuming" in notices[0]
    assert card["steps"] == 2 and "init_from" not in card
    full, split = load_train_state(tmp_path / "full"), load_train_state(tmp_path / "split")
    _assert_equal(split["modules"]["denoiser"], full["modules"]["denoiser"])  # as if never interrupted


def test_the_card_keeps_init_from_across_a_resume(
    tmp_path: Path, source: Path, tiny_config: Callable[..., TrainConfig]
) -> None:
    steps = ("trainer.max_steps=2", "trainer.save_every=1", HEAD, f"trainer.init_from={source}")
    first = train(tiny_config(tmp_path / "run", *steps, "trainer.stop_at=1"))
    resumed = train(tiny_config(tmp_path / "run", *steps))  # resumes: init_from ignored, the record kept
    assert resumed["steps"] == 2 and resumed["init_from"] == first["init_from"]
    assert first["init_from"]["steps"] is None  # build_tiny_checkpoint records no training steps
    assert "(unknown steps;" in (tmp_path / "run" / "model_card.md").read_text()
