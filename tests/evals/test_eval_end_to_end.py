"""End to end through the CLI: eval two tiny checkpoints beside the references, compare them, read
the tables and the report files; a run killed with SIGKILL and rerun gives the uninterrupted table."""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
import signal
import subprocess
import sys
import time
from html import escape as html_escape
from pathlib import Path

import pandas as pd
import pytest

from simworld.cli import main
from simworld.testing import build_tiny_checkpoint

SUITE = [
    "suite=quick",
    "suite.only=[loop_closure,physics]",
    "+suite.probes.physics.cases=[sand_falls,noop_static]",
    "suite.seeds=[0,1]",
    "suite.media_per_probe=1",
    "progress=false",
]


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    root = tmp_path_factory.mktemp("e2e")
    return [
        build_tiny_checkpoint(root / name, frame_size=(32, 32), num_contexts=0, seed=seed)
        for name, seed in (("tiny_a", 0), ("tiny_b", 1))
    ]


@pytest.fixture(scope="module")
def run_dir(checkpoints: list[Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("e2e_run") / "run"
    ckpts = ",".join(str(c) for c in checkpoints)
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        assert main(["eval", f"checkpoints=[{ckpts}]", *SUITE, f"out={out}"]) == 0
    (out.parent / "stdout.txt").write_text(printed.getvalue())
    return out


def test_eval_prints_the_headline_table_and_where_the_report_is(run_dir: Path) -> None:
    printed = (run_dir.parent / "stdout.txt").read_text()
    doc = json.loads((run_dir / "summary.json").read_text())
    rec = next(r for r in doc["results"] if (r["checkpoint"], r["metric"]) == ("tiny_a", "pass"))
    header = next(line for line in printed.splitlines() if line.startswith("metric "))
    assert header.split()[1:] == ["tiny_a", "tiny_b", "simulator", "copy_last_frame", "noise"]  # models first
    row = next(line for line in printed.splitlines() if line.startswith("physics/pass ↑"))
    assert f"{rec['mean']:.4g} [{rec['low']:.4g}, {rec['high']:.4g}]" in row
    assert any(line.startswith("loop_closure/revisit_lpips ↓") for line in printed.splitlines())
    assert f"report: {run_dir}/report.html" in printed


def test_eval_writes_the_table_manifest_and_report(run_dir: Path) -> None:
    df = pd.read_parquet(run_dir / "results.parquet")
    assert set(df.checkpoint) == {"tiny_a", "tiny_b", "simulator", "copy_last_frame", "noise"}
    assert set(df.probe) == {"loop_closure", "physics"} and set(df.seed) == {0, 1}
    assert pd.read_csv(run_dir / "results.csv").shape == df.shape
    passed = df[(df.metric == "pass")].groupby(["checkpoint", "case"]).value.mean()
    assert passed["simulator"].eq(1).all() and passed["noise"].eq(0).all()
    assert passed[("copy_last_frame", "noop_static")] == 1 and passed[("copy_last_frame", "sand_falls")] == 0
    manifest = json.loads((run_dir / "manifest.json").read_text())
    for key in ("packages", "git_revision", "hardware", "config", "wall_time_s", "weights", "checkpoints"):
        assert key in manifest
    hashes = {c["name"]: c["identity"].get("weights_sha256") for c in manifest["checkpoints"]}
    assert len(hashes["tiny_a"]) == 64 and hashes["tiny_a"] != hashes["tiny_b"]
    html = (run_dir / "report.html").read_text()
    assert "data:image/png;base64," in html and "data:image/gif;base64," in html
    assert not re.search(r'src="(?!data:)', html)  # self-contained
    for probe, metrics in manifest["metrics"].items():
        for name, spec in metrics.items():
            if df[(df.probe == probe) & (df.metric == name)].value.notna().any():
                label = html_escape(spec["protocol"])
                assert label in html, f"{probe}/{name}: protocol label missing from the report"
    assert (run_dir / "report.md").read_text().count("Protocol") > 0


def test_compare_two_checkpoints_and_the_references(run_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "cmp"
    assert main(["compare", str(run_dir), f"out={out}", "reference=simulator", "n_boot=500"]) == 0
    table = pd.read_parquet(out / "comparison.parquet")
    score = table[(table.probe == "physics") & (table.metric == "score")]  # 2 cases x 2 seeds per model
    verdicts = {c.split("/")[-1]: v for c, v in zip(score.candidate, score.verdict)}
    assert verdicts["tiny_a"] == verdicts["tiny_b"] == "worse"  # random weights vs the ceiling
    html = (out / "comparison.html").read_text()
    assert "data:image/png;base64," in html


KILL_SCRIPT = [sys.executable, "-m", "simworld", "eval"]


def test_a_killed_eval_rerun_gives_the_uninterrupted_table(checkpoints: list[Path], tmp_path: Path) -> None:
    out = tmp_path / "killed"
    ckpts = ",".join(str(c) for c in checkpoints)
    args = [*KILL_SCRIPT, f"checkpoints=[{ckpts}]", *SUITE, f"out={out}", "report=false"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen(args, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline and len(list((out / "units").glob("*.json"))) < 2:
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    done = len(list((out / "units").glob("*.json")))
    assert 2 <= done and not (out / "results.parquet").exists()  # killed mid-way
    rerun = subprocess.run(args, env=env, capture_output=True, text=True, timeout=600)
    assert rerun.returncode == 0, rerun.stderr[-2000:]
    # the reference runs uninterrupted under the same conditions (float reductions depend on the
    # thread count, which the pytest process may have changed)
    whole = [*args[:-2], f"out={tmp_path / 'whole'}", "report=false"]
    ref = subprocess.run(whole, env=env, capture_output=True, text=True, timeout=600)
    assert ref.returncode == 0, ref.stderr[-2000:]
    pd.testing.assert_frame_equal(
        pd.read_parquet(out / "results.parquet"), pd.read_parquet(tmp_path / "whole" / "results.parquet")
    )
