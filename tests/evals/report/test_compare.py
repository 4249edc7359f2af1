"""``compare`` and ``simworld compare``: paired verdicts, outputs, and refusal of different protocols."""

from __future__ import annotations

import html
import json
import re
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from evals.report import compare, load_run
from evals.report.compare import COMPARISON_COLUMNS
from evals.report.html import external_references
from evals.report.results import UNIT_KEYS, Run
from simworld.cli import main

PROBE = "turn_back"


def verdicts(table: pd.DataFrame, reference: str, candidate: str) -> dict[str, str]:
    part = table[(table.reference == reference) & (table.candidate == candidate)]
    return dict(zip(part.metric, part.verdict))


def test_simulator_beats_noise_within_one_run(run_dir, tmp_path):
    result = compare(run_dir, tmp_path / "cmp", reference="noise")
    table = result.table
    assert list(table.columns) == COMPARISON_COLUMNS
    assert verdicts(table, "noise", "simulator") == {
        "psnr": "better",
        "revisit_psnr": "better",
        "lpips": "insufficient data",  # every value NaN (LPIPS not requested)
    }
    assert verdicts(table, "noise", "copy_last_frame")["psnr"] == "better"
    row = table[(table.candidate == "simulator") & (table.metric == "revisit_psnr")].iloc[0]
    assert (row.n_pairs, row.n_cases, row.n_unpaired, row.candidate_mean) == (12, 6, 0, 100.0)
    # the paired interval is the bootstrap of the per-unit differences, units in sorted order
    df = pd.read_parquet(run_dir / "results.parquet")

    def units(name: str) -> pd.DataFrame:
        sel = df[(df.checkpoint == name) & (df.metric == "revisit_psnr")]
        return sel.sort_values(list(UNIT_KEYS)).reset_index(drop=True)

    sim, noise = units("simulator"), units("noise")
    d = sim["value"].to_numpy() - noise["value"].to_numpy()
    # cluster bootstrap over the 6 cases (k × world), each with its 2 seeds, in first-appearance order
    labels = list(zip(sim["case"], sim["world_seed"]))
    order = list(dict.fromkeys(labels))
    sums = np.array([d[[lab == o for lab in labels]].sum() for o in order])
    idx = np.random.default_rng(0).integers(0, 6, (2000, 6))
    lo, hi = np.quantile(sums[idx].sum(axis=1) / 12, [0.025, 0.975])
    assert (row.difference, row.ci_low, row.ci_high) == (
        pytest.approx(d.mean()),
        pytest.approx(lo),
        pytest.approx(hi),
    )
    # lower-is-better direction: against the simulator, noise is worse
    flipped = compare(run_dir, tmp_path / "cmp2", reference="simulator", checkpoints=["simulator", "noise"])
    assert verdicts(flipped.table, "simulator", "noise")["psnr"] == "worse"


def test_comparison_outputs(run_dir, tmp_path):
    result = compare(run_dir, tmp_path / "cmp", reference="noise")
    paths = result.paths
    assert all(p.is_file() for p in paths.values())
    from_parquet = pd.read_parquet(paths["parquet"])
    from_csv = pd.read_csv(paths["csv"])
    assert (
        from_parquet["verdict"].tolist() == from_csv["verdict"].tolist() == result.table["verdict"].tolist()
    )
    document = paths["html"].read_text()
    assert external_references(document) == [] and "<script" not in document
    manifest = json.loads((run_dir / "manifest.json").read_text())
    protocols = {m: s["protocol"] for m, s in manifest["metrics"][PROBE].items()}
    figures = re.findall(r'<figure class="metric-figure"[^>]*>(.*?)</figure>', document, flags=re.DOTALL)
    # difference + k sweep for psnr and revisit_psnr, horizon curves for psnr; lpips has no finite value
    assert len(figures) == document.count('src="data:image/png;base64,') == 5
    for fig in figures:
        metric = re.search(r'alt="turn_back / ([a-z_]+)', fig).group(1)
        assert html.escape(protocols[metric], quote=True) in fig
    tables = re.findall(r'<table class="metric-table">(.*?)</table>', document, flags=re.DOTALL)
    assert len(tables) == 1 and all(html.escape(p, quote=True) in tables[0] for p in protocols.values())
    text = paths["md"].read_text()
    assert "simulator | noise" in text and "better" in text and "*Protocols:*" in text
    assert all(p in text for p in protocols.values())


def test_identical_runs_show_no_significant_difference(run_dir, run_copy, tmp_path):
    other = run_copy("run_b")
    result = compare(
        [run_dir, other], tmp_path / "cmp", checkpoints=["copy_last_frame", "noise"], pairs="all"
    )
    labels = [e.label for e in result.entries]
    assert labels == ["run_a/copy_last_frame", "run_a/noise", "run_b/copy_last_frame", "run_b/noise"]
    for name in ("copy_last_frame", "noise"):
        v = verdicts(result.table, f"run_a/{name}", f"run_b/{name}")
        assert v == {
            "psnr": "no significant difference",
            "revisit_psnr": "no significant difference",
            "lpips": "insufficient data",
        }
        same = result.table[
            (result.table.reference == f"run_a/{name}") & (result.table.candidate == f"run_b/{name}")
        ]
        assert (same.dropna(subset=["difference"])[["difference", "ci_low", "ci_high"]] == 0).all().all()
    # across checkpoints the difference is still detected
    assert verdicts(result.table, "run_a/copy_last_frame", "run_b/noise")["psnr"] == "worse"


def test_partial_overlap_pairs_only_shared_units(run_dir, tmp_path):
    full = load_run(run_dir)
    half = Run(full.manifest, full.results[full.results.seed == 0], path=None)
    result = compare([full, half], tmp_path / "cmp", checkpoints=["simulator"])
    row = result.table[result.table.metric == "revisit_psnr"].iloc[0]
    assert (row.n_pairs, row.n_unpaired, row.verdict) == (6, 6, "no significant difference")


@pytest.mark.parametrize(
    "edit, message",
    [
        (
            lambda m: m["metrics"][PROBE]["revisit_psnr"].update(protocol="PSNR of the first frame"),
            "metric turn_back/revisit_psnr protocol: 'PSNR of the last predicted frame",
        ),
        (
            lambda m: m["metrics"][PROBE]["psnr"].update(higher_is_better=False),
            "turn_back/psnr higher_is_better",
        ),
        (lambda m: m["env"]["params"].update(width=64), "env.params.width: 32 vs 64"),
        (lambda m: m.update(suite="other"), "suite: 'report-test' vs 'other'"),
    ],
)
def test_refuses_different_protocols(run_dir, run_copy, tmp_path, edit, message):
    other = run_copy("altered")
    manifest = json.loads((other / "manifest.json").read_text())
    edit(manifest)
    (other / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(ValueError, match="refusing to compare") as err:
        compare([run_dir, other], tmp_path / "cmp")
    assert message in str(err.value) and "run_a vs altered" in str(err.value)
    assert not (tmp_path / "cmp").exists()


def test_refuses_different_weights_but_not_missing_ones(run_copy, tmp_path):
    runs = [run_copy("w1"), run_copy("w2"), run_copy("w3")]
    for run, weights in zip(runs, ({"trunk_sha256": "aaa"}, {"trunk_sha256": "bbb"}, {"unavailable": "no"})):
        manifest = json.loads((run / "manifest.json").read_text())
        manifest["weights"]["lpips"] = weights
        (run / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(ValueError, match="weights.lpips.trunk_sha256: 'aaa' vs 'bbb'"):
        compare(runs[:2], tmp_path / "cmp")
    result = compare([runs[0], runs[2]], tmp_path / "cmp", checkpoints=["noise"], n_boot=100)
    assert "w3: lpips unavailable (no)" in result.paths["md"].read_text()


def test_bad_selection_is_a_clear_error(run_dir, tmp_path):
    with pytest.raises(ValueError, match="unknown checkpoints \\['nope'\\]; valid: simulator"):
        compare(run_dir, tmp_path / "cmp", checkpoints=["nope"])
    with pytest.raises(ValueError, match="at least two checkpoints"):
        compare(run_dir, tmp_path / "cmp", checkpoints=["noise"])
    with pytest.raises(ValueError, match="pairs must be one of reference, all"):
        compare(run_dir, tmp_path / "cmp", pairs="every")


def test_cli_refuses_altered_protocol(run_dir, run_copy, tmp_path, capsys):
    other = run_copy("altered")
    manifest = json.loads((other / "manifest.json").read_text())
    manifest["metrics"][PROBE]["psnr"]["protocol"] += " (altered)"
    (other / "manifest.json").write_text(json.dumps(manifest))
    code = main(["compare", str(run_dir), str(other), f"out={tmp_path / 'cmp'}"])  # positional runs
    err = capsys.readouterr().err
    assert code == 1 and "refusing to compare" in err and "turn_back/psnr protocol" in err
    assert main(["compare", f"out={tmp_path / 'cmp'}"]) == 2
    assert "name the eval run directories" in capsys.readouterr().err
    assert main(["eval", "some/folder"]) == 2  # eval takes no positional arguments
    assert "unexpected argument 'some/folder'" in capsys.readouterr().err


def test_cli_smoke(run_dir, tmp_path):
    out = tmp_path / "cmp"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "simworld",
            "compare",
            f"runs=[{run_dir}]",
            f"out={out}",
            "reference=noise",
            "n_boot=500",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert "turn_back/psnr: simulator vs noise:" in proc.stdout and "-> better" in proc.stdout
    assert "500 resamples" in (out / "comparison.html").read_text()
