"""The shipped reference model: intact files, a card with its published results, and the README's main
command reproducing them (docs/reference_model.md)."""

from __future__ import annotations

import json
import shlex
from pathlib import Path

import pytest

from simworld.checkpoint import load_checkpoint
from simworld.data.shards import sha256_file

ROOT = Path(__file__).resolve().parents[1]
REFERENCE = ROOT / "checkpoints" / "reference"
IDM = ROOT / "checkpoints" / "idm"


@pytest.fixture
def main_command_eval_args(quick_start_commands: list[str]) -> list[str]:
    """The ``simworld eval`` arguments of the README's main command (command (1))."""
    part = quick_start_commands[0].split(".venv/bin/simworld eval", 1)[1].split("&&", 1)[0]
    return shlex.split(part)


def card() -> dict:
    return json.loads((REFERENCE / "model_card.json").read_text())


def test_shipped_files_match_the_hashes_in_the_card() -> None:
    hashes = card()["export"]["sha256"]
    assert hashes and set(hashes) == {str(p.relative_to(REFERENCE)) for p in REFERENCE.rglob("*.safetensors")}
    for name, digest in hashes.items():
        assert sha256_file(REFERENCE / name) == digest, name
    total = sum(p.stat().st_size for p in REFERENCE.rglob("*") if p.is_file())
    assert total < 40 * 2**20  # "tens of MB at most"


def test_reference_loads_and_its_card_says_how_it_was_made() -> None:
    ckpt = load_checkpoint(REFERENCE)
    assert tuple(ckpt.manifest.frame_size) == (64, 64)
    info = card()
    for key in ("steps", "wall_seconds", "hardware", "device", "data", "final_losses"):
        assert key in info, key
    assert info["steps"] > 0 and info["data"]["window"] >= 2
    from simworld.models.idm import load_idm

    assert load_idm(IDM).model is not None


def test_card_publishes_the_main_command_results_beside_the_references(
    main_command_eval_args: list[str],
) -> None:
    evaluation = card()["evaluation"]
    args = main_command_eval_args
    assert "checkpoints=[checkpoints/reference]" in args
    assert f"suite.probes.controllability.idm={IDM.relative_to(ROOT)}" in args
    names = {r["checkpoint"] for r in evaluation["results"]}
    assert {"reference", "simulator", "copy_last_frame", "noise"} <= names
    by = {(r["probe"], r["metric"], r["checkpoint"]): r for r in evaluation["results"]}
    for metric in ("lpips@1", "lpips@16"):
        for name in ("reference", "copy_last_frame"):
            assert by[("coherence", metric, name)]["low"] is not None, (metric, name)
    assert by[("controllability", "idm_f1_macro", "reference")]["mean"] is not None


@pytest.mark.slow
def test_the_main_command_reproduces_the_published_table(
    main_command_eval_args: list[str], tmp_path: Path, monkeypatch
) -> None:
    """README command (1) from the repository root: every number within its published interval."""
    from evals.report.summary import check_against
    from simworld.cli import main

    monkeypatch.chdir(ROOT)
    out = tmp_path / "eval"
    assert main(["eval", *main_command_eval_args, f"out={out}", "progress=false"]) == 0
    fresh = json.loads((out / "summary.json").read_text())
    assert check_against(card()["evaluation"], fresh) == []
