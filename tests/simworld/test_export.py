"""``simworld export``: half-size weights that load back exactly, held-out contexts, atomic output."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors import safe_open

from envs.voxel.config import VoxelWorldConfig
from simworld.checkpoint import CONTEXTS_FILE, load_checkpoint
from simworld.cli import main
from simworld.data import load_manifest, read_shard
from simworld.data.collect import CollectConfig, CollectEnvConfig, collect
from simworld.data.windows import split_episodes
from simworld.export import ExportConfig, export_checkpoint
from simworld.testing import build_tiny_checkpoint

WORLD = {"world_size": 48, "world_height": 32, "terrain_height": 12, "terrain_amplitude": 4.0, "sea_level": 8}


@pytest.fixture(scope="module")
def dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """10 collected episodes of 12 steps at 16x16."""
    out = tmp_path_factory.mktemp("export") / "data"
    world = VoxelWorldConfig(**WORLD, width=16, height=16)
    collect(
        CollectConfig(
            env=CollectEnvConfig(world=world),
            out=str(out),
            episodes=10,
            steps=12,
            num_workers=0,
            progress=False,
        )
    )
    return out


@pytest.fixture
def source(tmp_path: Path) -> Path:
    return build_tiny_checkpoint(tmp_path / "src", frame_size=(16, 16), num_contexts=0)


def _export(source: Path, out: Path, dataset: Path, **kw) -> Path:
    return export_checkpoint(
        ExportConfig(checkpoint=str(source), out=str(out), contexts_from=str(dataset), **kw)
    )


def test_float16_weights_load_back_as_the_rounded_source(source: Path, dataset: Path, tmp_path: Path) -> None:
    out = _export(source, tmp_path / "out", dataset, num_contexts=4, context_length=5)
    with safe_open(str(out / "dit" / "model.safetensors"), "pt") as f:
        assert {f.get_tensor(k).dtype for k in f.keys()} == {torch.float16}
    src_size = (source / "dit" / "model.safetensors").stat().st_size
    assert (out / "dit" / "model.safetensors").stat().st_size < 0.6 * src_size
    a, b = load_checkpoint(source), load_checkpoint(out)
    for (name, p), (name_b, q) in zip(a.dit.state_dict().items(), b.dit.state_dict().items(), strict=True):
        assert name == name_b and q.dtype == torch.float32
        assert torch.equal(q, p.half().float()), name
    assert b.manifest.frame_size == a.manifest.frame_size and b.manifest.sampler == a.manifest.sampler
    card = (out / "model_card.md").read_text()
    assert "weights stored as float16" in card and "sha256" in card


def test_sampler_steps_can_be_set_for_the_export(source: Path, dataset: Path, tmp_path: Path) -> None:
    a = load_checkpoint(source)
    steps = a.sampler.num_inference_steps + 3
    out = _export(source, tmp_path / "out", dataset, num_contexts=0, num_inference_steps=steps)
    b = load_checkpoint(out)
    assert b.sampler.num_inference_steps == steps and b.sampler.name == a.sampler.name
    assert f"num_inference_steps {steps}" in (out / "model_card.md").read_text()
    with pytest.raises(ValueError, match="num_inference_steps must be >= 1"):
        ExportConfig(checkpoint="a", out="b", num_inference_steps=0)


def test_contexts_come_from_held_out_episodes_exactly(source: Path, dataset: Path, tmp_path: Path) -> None:
    out = _export(
        source, tmp_path / "out", dataset, num_contexts=4, context_length=5, val_fraction=0.3, seed=3
    )
    import json

    origin = json.loads((out / "model_card.json").read_text())["export"]["contexts"]["origin"]
    manifest = load_manifest(dataset)
    val = set(split_episodes(sorted(r.index for r in manifest.episodes), "val", 0.3, 3))
    assert {o["episode"] for o in origin} <= val
    bundle = np.load(out / CONTEXTS_FILE)
    assert bundle["frames"].shape == (4, 5, 16, 16, 3) and bundle["actions"].shape == (4, 4, 21)
    records = {r.index: r for r in manifest.episodes}
    for k, o in enumerate(origin):
        data = read_shard(dataset, records[o["episode"]], keys=("frames", "actions"))
        np.testing.assert_array_equal(bundle["frames"][k], data["frames"][o["start"] : o["start"] + 5])
        np.testing.assert_array_equal(bundle["actions"][k], data["actions"][o["start"] : o["start"] + 4])


def test_bad_settings_name_the_valid_values(source: Path, dataset: Path, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="float16"):
        ExportConfig(checkpoint="a", out="b", weights_dtype="int8")
    with pytest.raises(ValueError, match=r"context_length must be in 1\.\.8"):
        _export(source, tmp_path / "out", dataset, context_length=9)
    with pytest.raises(ValueError, match="contexts_from"):
        export_checkpoint(ExportConfig(checkpoint=str(source), out=str(tmp_path / "o2")))
    _export(source, tmp_path / "out", dataset, num_contexts=1, context_length=2)
    with pytest.raises(FileExistsError, match="overwrite"):
        _export(source, tmp_path / "out", dataset, num_contexts=1, context_length=2)


def test_a_failure_leaves_neither_output_nor_temporary_folder(
    source: Path, dataset: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import simworld.export as export

    def boom(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(export, "write_contexts", boom)
    with pytest.raises(RuntimeError, match="disk full"):
        _export(source, tmp_path / "out", dataset, num_contexts=2, context_length=3)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["src"]


def test_cli_exports_and_reports_errors(source: Path, dataset: Path, tmp_path: Path, capsys) -> None:
    out = tmp_path / "cli"
    args = [
        f"checkpoint={source}",
        f"out={out}",
        f"contexts_from={dataset}",
        "num_contexts=2",
        "context_length=3",
    ]
    assert main(["export", *args]) == 0
    assert "weights float16" in capsys.readouterr().out
    assert main(["export", *args]) == 1
    assert "overwrite=true" in capsys.readouterr().err
    assert main(["export", *args, "overwrite=true", "weights_dtype=float32"]) == 0
    with safe_open(str(out / "dit" / "model.safetensors"), "pt") as f:
        assert f.get_tensor(next(iter(f.keys()))).dtype == torch.float32


def test_an_eval_run_summary_goes_into_the_card(source: Path, dataset: Path, tmp_path: Path) -> None:
    import json

    run = tmp_path / "eval"
    run.mkdir()
    record = {"probe": "physics", "metric": "pass_rate", "checkpoint": "out", "mean": 0.5, "low": 0.2}
    (run / "summary.json").write_text(json.dumps({"suite": "quick", "results": [record]}))
    (run / "summary.md").write_text(
        "# Results — suite quick\n\nHow to read.\n\n## physics\n\n| metric | out |\n"
    )
    out = _export(source, tmp_path / "out", dataset, num_contexts=1, context_length=2, evaluation=str(run))
    card = json.loads((out / "model_card.json").read_text())
    assert card["evaluation"]["results"] == [record] and card["evaluation"]["suite"] == "quick"
    md = (out / "model_card.md").read_text()
    assert "## Evaluation (`simworld eval`, suite quick)" in md and "### physics" in md
    assert "# Results" not in md
    with pytest.raises(FileNotFoundError, match="summary.json"):
        _export(source, tmp_path / "o2", dataset, num_contexts=1, context_length=2, evaluation=str(tmp_path))
