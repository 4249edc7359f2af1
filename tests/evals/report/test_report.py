"""``write_report`` on a genuine run directory: tables, intervals, figures, animations, protocol labels."""

from __future__ import annotations

import base64
import html
import json
import re
import shutil

import numpy as np
import pandas as pd
import pytest

from evals.report import load_run, write_report
from evals.report.html import external_references
from evals.report.results import UNIT_KEYS

PROBE = "turn_back"


def numpy_cluster_ci(units: pd.DataFrame, n_boot: int = 2000, confidence: float = 0.95, seed: int = 0):
    """Mean over units; percentile bootstrap resampling cases (case, world seed, params) with their seeds."""
    units = units.sort_values(list(UNIT_KEYS))
    labels = list(zip(units["case"], units["world_seed"], units["params"]))
    order = list(dict.fromkeys(labels))
    x = units["value"].to_numpy()
    sums = np.array([x[[lab == o for lab in labels]].sum() for o in order])
    counts = np.array([labels.count(o) for o in order], np.float64)
    idx = np.random.default_rng(seed).integers(0, len(order), (n_boot, len(order)))
    means = sums[idx].sum(axis=1) / counts[idx].sum(axis=1)
    return x.mean(), *np.quantile(means, [(1 - confidence) / 2, (1 + confidence) / 2])


def cell(mean: float, lo: float, hi: float, n: int, cases: int) -> str:
    return f"{mean:.4g} [{lo:.4g}, {hi:.4g}] n={n} ({cases} cases)"


def metric_blocks(document: str, tag: str, cls: str) -> list[str]:
    return re.findall(rf'<{tag} class="{cls}"[^>]*>(.*?)</{tag}>', document, flags=re.DOTALL)


@pytest.fixture(scope="module")
def report(run_dir, tmp_path_factory):
    dest = tmp_path_factory.mktemp("report") / "run"
    shutil.copytree(run_dir, dest)
    md_path, html_path = write_report(dest)
    return dest, md_path, html_path


def test_report_files_and_self_contained_html(report):
    run, md_path, html_path = report
    assert (md_path, html_path) == (run / "report.md", run / "report.html")
    document = html_path.read_text()
    assert external_references(document) == []
    assert "<script" not in document and "<link" not in document
    pngs = re.findall(r'src="data:image/png;base64,([^"]+)"', document)
    gifs = re.findall(r'src="data:image/gif;base64,([^"]+)"', document)
    # bars for psnr and revisit_psnr, the psnr horizon curves, the k sweeps of both (lpips is all NaN)
    assert len(pngs) == 5
    assert all(base64.b64decode(p).startswith(b"\x89PNG\r\n\x1a\n") for p in pngs)
    media = json.loads((run / "media.json").read_text())
    assert len(gifs) == len(media) == 3
    assert all(base64.b64decode(g)[:6] == b"GIF89a" for g in gifs)
    for name in ("simulator", "copy_last_frame", "noise"):  # baselines beside the models everywhere
        assert document.count(name) >= 6


def test_every_metric_figure_and_table_carries_its_protocol(report):
    run, _, html_path = report
    document = html_path.read_text()
    manifest = json.loads((run / "manifest.json").read_text())
    protocols = {m: s["protocol"] for m, s in manifest["metrics"][PROBE].items()}
    figures = metric_blocks(document, "figure", "metric-figure")
    assert len(figures) == document.count('src="data:image/png') == 5  # every PNG is a labelled figure
    for fig in figures:
        metric = re.search(r'alt="turn_back / ([a-z_]+)', fig).group(1)
        assert '<div class="protocol">' in fig
        assert html.escape(protocols[metric], quote=True) in fig
    tables = metric_blocks(document, "table", "metric-table")
    assert len(tables) == 2  # summary and per-case tables of the probe
    for table in tables:
        for protocol in protocols.values():
            assert html.escape(protocol, quote=True) in table
    # every table in the probe section is a metric table
    probe_section = document.split('id="probe-turn-back"', 1)[1]
    assert probe_section.count("<table") == 2


def test_summary_table_intervals_match_numpy_reference(report):
    run, _, html_path = report
    document = html.unescape(html_path.read_text())
    df = pd.read_parquet(run / "results.parquet")
    for checkpoint in ("copy_last_frame", "noise"):
        rows = df[(df.checkpoint == checkpoint) & (df.metric == "revisit_psnr")]
        assert len(rows) == 12  # 3 k × 2 worlds × 2 seeds: 6 cases
        assert cell(*numpy_cluster_ci(rows), 12, 6) in document
        # the per-frame metric: units are the mean over horizons of each (case, world, seed, params)
        per_frame = df[(df.checkpoint == checkpoint) & (df.metric == "psnr")]
        units = per_frame.groupby(list(UNIT_KEYS))["value"].mean().reset_index()
        assert cell(*numpy_cluster_ci(units), 12, 6) in document
    noise = df[(df.checkpoint == "noise") & (df.metric == "psnr")]["value"]
    assert noise.max() < 12  # the floor is a floor
    assert "100 [100, 100] n=12 (6 cases)" in document  # the simulator's ceiling at the 100 dB cap


def test_nan_values_are_counted_with_their_notes(report):
    _, md_path, html_path = report
    document = html.unescape(html_path.read_text())
    assert "n/a (no finite value) (12 NaN)" in document
    assert "lpips, noise: 12 NaN — LPIPS not requested" in document
    assert "no finite value in any checkpoint, no figure" in document
    assert "lpips, simulator: 12 NaN — LPIPS not requested" in md_path.read_text()


def test_markdown_report_links_existing_figures_and_animations(report):
    run, md_path, _ = report
    text = md_path.read_text()
    links = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", text)
    pngs = [link for link in links if link.endswith(".png")]
    gifs = [link for link in links if link.endswith(".gif")]
    assert len(pngs) == 5 and len(gifs) == 3
    assert all((run / link).is_file() for link in links)
    manifest = json.loads((run / "manifest.json").read_text())
    for spec in manifest["metrics"][PROBE].values():
        assert spec["protocol"] in text
    assert text.count("*Protocol (psnr):*") >= 3  # bars, horizon curves, k sweep


def test_report_reads_csv_runs_and_is_reproducible(run_copy):
    run = run_copy("csv_only")
    (run / "results.parquet").unlink()
    _, html_path = write_report(run, n_boot=200)
    first = html_path.read_text()
    loaded = load_run(run)
    assert loaded.results["horizon"].dtype == "Int64" and loaded.results["horizon"].isna().sum() == 72
    # rows written in another order (a resumed run) give the same report
    df = pd.read_csv(run / "results.csv").sample(frac=1.0, random_state=0)
    df.to_csv(run / "results.csv", index=False)
    _, html_path = write_report(run, n_boot=200)
    assert html_path.read_text() == first


def test_malformed_runs_are_refused(run_copy, tmp_path):
    with pytest.raises(FileNotFoundError, match="manifest.json"):
        write_report(tmp_path)
    run = run_copy("bad")
    manifest = json.loads((run / "manifest.json").read_text())
    del manifest["metrics"][PROBE]["revisit_psnr"]
    (run / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(ValueError, match="turn_back/revisit_psnr"):
        write_report(run)
    manifest["format"] = "something/2"
    (run / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(ValueError, match="simworld.eval/1"):
        write_report(run)


def test_models_appear_with_their_weights_hash_beside_the_baselines(run_copy):
    run = run_copy("with_model")
    df = pd.read_parquet(run / "results.parquet")
    model = df[df.checkpoint == "noise"].assign(checkpoint="tiny_model", checkpoint_kind="model")
    pd.concat([model, df]).to_parquet(run / "results.parquet", index=False)
    manifest = json.loads((run / "manifest.json").read_text())
    sha = "ab" * 32
    manifest["checkpoints"].insert(
        0, {"name": "tiny_model", "kind": "model", "identity": {"weights_sha256": sha}}
    )
    (run / "manifest.json").write_text(json.dumps(manifest))
    _, html_path = write_report(run, n_boot=200)
    document = html.unescape(html_path.read_text())
    assert f"weights sha256 {sha}" in document
    summary = re.search(r"<table class=\"metric-table\">.*?</table>", document, flags=re.DOTALL).group(0)
    header = re.search(r"<thead>(.*?)</thead>", summary).group(1)
    assert re.findall(r"<th>([^<]+)</th>", header) == [
        "metric",
        "tiny_model",
        "simulator",
        "copy_last_frame",
        "noise",
    ]


def test_summary_files_hold_the_report_numbers_and_check_a_rerun(report):
    from evals.report.summary import check_against

    run, _, _ = report
    md = (run / "summary.md").read_text()
    doc = json.loads((run / "summary.json").read_text())
    df = pd.read_parquet(run / "results.parquet")
    rows = df[(df.checkpoint == "copy_last_frame") & (df.metric == "revisit_psnr")]
    mean, lo, hi = numpy_cluster_ci(rows)
    assert cell(mean, lo, hi, 12, 6) in md
    for r in doc["results"]:
        assert f"## {r['probe']}" in md and r["protocol"] in md
    rec = next(
        r for r in doc["results"] if (r["checkpoint"], r["metric"]) == ("copy_last_frame", "revisit_psnr")
    )
    assert (rec["n"], rec["cases"]) == (12, 6)
    np.testing.assert_allclose([rec["mean"], rec["low"], rec["high"]], [mean, lo, hi])
    lpips = [r for r in doc["results"] if r["metric"] == "lpips"]
    assert lpips and all(r["mean"] is None for r in lpips)  # NaN stays NaN, never 0
    assert check_against(doc, doc) == []
    shifted = json.loads(json.dumps(doc))
    for r in shifted["results"]:
        if r["mean"] is not None and r["high"] is not None and r["checkpoint"] == "noise":
            r["mean"] = r["high"] + 1.0
    problems = check_against(doc, shifted)
    assert problems and all("/noise:" in p and "outside" in p for p in problems)
    assert check_against(doc, shifted, checkpoints=["copy_last_frame"]) == []


def run_protocol(doc: dict, checkpoint: str, metric: str) -> str:
    return next(
        r["protocol"] for r in doc["results"] if (r["checkpoint"], r["metric"]) == (checkpoint, metric)
    )


def test_summary_adds_fixed_horizons_and_a_headline(report):
    from evals.report.summary import headline

    run, _, _ = report
    doc = json.loads((run / "summary.json").read_text())
    df = pd.read_parquet(run / "results.parquet")
    rows = df[(df.checkpoint == "copy_last_frame") & (df.metric == "psnr") & (df.horizon == 1)]
    mean, lo, hi = numpy_cluster_ci(rows)
    rec = next(r for r in doc["results"] if (r["checkpoint"], r["metric"]) == ("copy_last_frame", "psnr@1"))
    np.testing.assert_allclose([rec["mean"], rec["low"], rec["high"]], [mean, lo, hi])
    assert rec["horizon"] == 1 and rec["protocol"] == run_protocol(doc, "copy_last_frame", "psnr")
    assert not any(r["metric"].startswith("revisit_psnr@") for r in doc["results"])  # no per-frame rows
    assert "psnr@1" in (run / "summary.md").read_text()
    text = headline(run, metrics={PROBE: ["psnr@1", "revisit_psnr", "absent"], "no_probe": ["x"]})
    lines = text.splitlines()
    assert lines[0].split()[0] == "metric" and len(lines) == 3
    assert lines[1].startswith(f"{PROBE}/psnr@1 ↑") and f"{mean:.4g} [{lo:.4g}, {hi:.4g}]" in lines[1]
    assert headline(run, metrics={"no_probe": ["x"]}) == ""
