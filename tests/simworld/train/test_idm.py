"""``simworld train-idm``: a subprocess smoke run on the tiny collected dataset, config errors, and
the training function's output folder."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from simworld.cli import main
from simworld.models.idm import IDMConfig, load_idm
from simworld.train.idm import TrainIDMConfig, train_idm


def simworld_command() -> list[str]:
    script = Path(sys.executable).parent / "simworld"
    return [str(script)] if script.is_file() else [sys.executable, "-m", "simworld.cli"]


def test_cli_smoke_run(tmp_path: Path, tiny_dataset: Path) -> None:
    out = tmp_path / "idm"
    args = [
        "train-idm",
        f"dataset={tiny_dataset}",
        f"out={out}",
        "steps=3",
        "batch_size=2",
        "model.clip_length=4",
        "model.channels=[8,8]",
        "model.hidden_size=16",
        "val_fraction=0.3",
        "progress=false",
    ]
    result = subprocess.run([*simworld_command(), *args], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    assert (
        "trained 3 steps" in result.stdout
        and "held-out (" in result.stdout
        and "yaw sign accuracy" in result.stdout
    )
    idm = load_idm(out)
    assert idm.frame_size == (32, 32)
    assert idm.model.config.clip_length == 4 and idm.model.config.channels == (8, 8)
    assert idm.training["steps"] == 3 and "validation" in idm.training
    assert len(idm.training["key_pos_weight"]) == 9


def test_misspelled_key_fails_naming_it(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["train-idm", "dataset=x", "model.hiden_size=3"]) == 2
    err = capsys.readouterr().err
    assert "unknown config key 'model.hiden_size'" in err and "Did you mean 'model.hidden_size'?" in err


def test_missing_data_and_bad_values_fail(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["train-idm"]) == 2
    assert "missing value for 'dataset'" in capsys.readouterr().err
    assert main(["train-idm", "dataset=x", "model.num_heads=3"]) == 2
    assert "must divide hidden_size" in capsys.readouterr().err
    assert main(["train-idm", "dataset=/nonexistent/dataset", "progress=false"]) == 1
    assert "simworld train-idm: error:" in capsys.readouterr().err


def test_train_idm_writes_a_loadable_folder(tmp_path: Path, tiny_dataset: Path) -> None:
    cfg = TrainIDMConfig(
        dataset=str(tiny_dataset),
        out=str(tmp_path / "idm"),
        model=IDMConfig(clip_length=4, channels=(8,), feature_channels=4, hidden_size=16, num_layers=1),
        steps=2,
        batch_size=2,
        val_fraction=0.0,
        log_every=1,
        progress=False,
    )
    summary = train_idm(cfg)
    assert [h["step"] for h in summary["history"]] == [1, 2] and "validation" not in summary
    assert load_idm(tmp_path / "idm").training["config"]["model"]["clip_length"] == 4
