"""The headline results of a run: ``summary.md`` (one table per probe) and ``summary.json``.

``report.md`` is the whole story (figures, per-case tables, GIFs); the summary is the part a
results table in a README cites: every probe and metric, every checkpoint beside the simulator
ceiling and the baselines, mean and bootstrap interval, with the metric's protocol. ``summary.json``
holds the same numbers as records, so that a later run can be checked against a published one
(:func:`check_against`).

A metric with per-frame rows is also summarised at fixed horizons (:data:`SUMMARY_HORIZONS`: the
next frame and the 16th), recorded as ``metric@h``: "next-frame LPIPS" is ``coherence/lpips@1``.
:func:`headline` is the short plain-text table ``simworld eval`` prints at the end.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from evals.report import markdown as md_render
from evals.report import stats
from evals.report.document import Block, Heading, Table, Text
from evals.report.report import fmt, interval_cell, interval_text, metric_label, probe_summary_table
from evals.report.results import Run, as_run
from simworld.data.format import atomic_write_bytes

SUMMARY_MD = "summary.md"
SUMMARY_JSON = "summary.json"
SUMMARY_HORIZONS = (1, 16)
"""Horizons (1-based frame after the context) at which per-frame metrics are also summarised."""

HEADLINE = {
    "coherence": ["lpips@1", "lpips@16", "psnr@1", "collapse_horizon"],
    "loop_closure": ["revisit_lpips", "revisit_self_lpips"],
    "geometry": ["rotation_error", "pose_rate"],
    "reprojection": ["masked_psnr", "masked_lpips"],
    "permanence": ["masked_psnr", "masked_lpips"],
    "physics": ["pass"],
    "controllability": ["delta_psnr", "idm_f1_macro", "idm_yaw_sign_accuracy"],
}
"""(probe, metrics) of :func:`headline`: the numbers a reader looks at first."""


def summary(
    run: Run, n_boot: int = stats.DEFAULT_N_BOOT, confidence: float = stats.DEFAULT_CONFIDENCE, seed: int = 0
) -> tuple[list[Block], list[dict[str, Any]]]:
    """The summary document (a heading, how to read it, one table per probe) and its records.

    Each table's intervals are computed once and serve both: one record per (probe, metric,
    checkpoint) with rows — mean, low, high, n, cases, horizon (None: over all), protocol,
    direction.
    """
    names = run.checkpoints()
    blocks: list[Block] = [
        Heading(f"Results — suite {run.manifest.get('suite', '')}", 1),
        Text(
            f"Checkpoints: {', '.join(names)}. Every cell is the mean over seeds × cases with its "
            f"{interval_text(n_boot, confidence)}. PSNR is capped at 100 dB (a perfect prediction "
            f"reads 100). The full report (figures, per-case tables, GIFs) is report.md / report.html "
            f"of the same run."
        ),
    ]
    records = []
    for probe in run.probes():
        if not len(run.rows(probe=probe)):
            continue
        table, _, intervals = probe_summary_table(run, probe, names, n_boot, confidence, seed)
        blocks += [Heading(probe, 2), table]
        at, at_intervals = _horizon_table(run, probe, names, n_boot, confidence, seed)
        if at is not None:
            blocks.append(at)
        for metric, cis in {**intervals, **at_intervals}.items():
            base, _, at = metric.partition("@")
            spec = run.spec(probe, base)
            for name, ci in zip(names, cis, strict=True):
                if ci is None or ("@" not in metric and not len(run.rows(name, probe, metric))):
                    continue
                records.append(
                    {
                        "probe": probe,
                        "metric": metric,
                        "checkpoint": name,
                        "kind": run.checkpoint_info(name).get("kind", ""),
                        "mean": _num(ci.mean),
                        "low": _num(ci.low),
                        "high": _num(ci.high),
                        "n": int(ci.n),
                        "cases": int(ci.n_clusters),
                        "horizon": int(at) if at else None,
                        "protocol": spec.get("protocol", ""),
                        "higher_is_better": spec.get("higher_is_better"),
                    }
                )
    return blocks, records


def _horizon_table(
    run: Run, probe: str, names: Sequence[str], n_boot: int, confidence: float, seed: int
) -> tuple[Table | None, dict[str, list[stats.Interval | None]]]:
    """The probe's per-frame metrics at :data:`SUMMARY_HORIZONS` (``metric@h``), when it has any.

    Returns:
        The table (None without per-frame rows) and per ``metric@h`` the interval of each of
        ``names`` (None: that checkpoint has no row at h).
    """
    rows, intervals = [], {}
    for metric in run.metrics(probe):
        per_name = [run.rows(name, probe, metric) for name in names]
        for h in SUMMARY_HORIZONS:
            parts = [p[p["horizon"].notna() & (p["horizon"] == h)] for p in per_name]
            if not any(len(p) for p in parts):
                continue
            cells, cis = [], []
            for part in parts:
                cell, s = interval_cell(part, n_boot, confidence, seed) if len(part) else ("—", None)
                cells.append(cell)
                cis.append(None if s is None else s.interval)
            intervals[f"{metric}@{h}"] = cis
            rows.append([metric_label(f"{metric}@{h}", run.spec(probe, metric)), *cells])
    if not rows:
        return None, {}
    caption = (
        f"{probe} at fixed horizons (metric@h: the h-th frame after the context only): mean over seeds × "
        f"cases [{interval_text(n_boot, confidence)}]"
    )
    return Table(["metric", *names], rows, caption=caption), intervals


def headline(
    run_dir: str | Path | Run,
    records: Sequence[dict[str, Any]] | None = None,
    metrics: dict[str, Sequence[str]] | None = None,
) -> str:
    """A short plain-text table of headline metrics: mean [low, high] per checkpoint.

    Args:
        run_dir: the run (its ``summary.json`` is read unless ``records`` are given).
        records: the records of :func:`summary`.
        metrics: probe -> metrics to show (default :data:`HEADLINE`); absent ones are skipped.

    Returns:
        The table ("" when none of the metrics is in the run).
    """
    run = as_run(run_dir)
    if records is None:
        records = json.loads((Path(run.path) / SUMMARY_JSON).read_text())["results"]
    names = run.checkpoints()
    by_key = {(r["probe"], r["metric"], r["checkpoint"]): r for r in records}
    lines = []
    for probe, wanted in (HEADLINE if metrics is None else metrics).items():
        for metric in wanted:
            cells = [_cell(by_key.get((probe, metric, name))) for name in names]
            if all(c == "—" for c in cells):
                continue
            some = next(r for n in names if (r := by_key.get((probe, metric, n))))
            arrow = {True: "↑", False: "↓"}.get(some["higher_is_better"], " ")
            lines.append([f"{probe}/{metric} {arrow}", *cells])
    if not lines:
        return ""
    header = ["metric", *names]
    widths = [max(len(row[i]) for row in [header, *lines]) for i in range(len(header))]
    fmt_row = lambda row: "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True))  # noqa: E731
    return "\n".join([fmt_row(header), *(fmt_row(r) for r in lines)])


def _cell(record: dict[str, Any] | None) -> str:
    if record is None:
        return "—"
    if record["mean"] is None:
        return "NaN"
    if record["low"] is None:
        return fmt(record["mean"])
    return f"{fmt(record['mean'])} [{fmt(record['low'])}, {fmt(record['high'])}]"


def _num(x: float) -> float | None:
    return float(x) if x is not None and math.isfinite(x) else None


def write_summary(
    run_dir: str | Path | Run,
    n_boot: int = stats.DEFAULT_N_BOOT,
    confidence: float = stats.DEFAULT_CONFIDENCE,
    seed: int = 0,
) -> tuple[Path, Path]:
    """Write ``summary.md`` and ``summary.json`` into the run directory (atomically).

    Returns:
        (path of summary.md, path of summary.json).
    """
    run = as_run(run_dir)
    if run.path is None:
        raise ValueError("write_summary needs a run with a directory (Run.path) to write into")
    blocks, records = summary(run, n_boot, confidence, seed)
    md = md_render.render(blocks, run.path, "summary_files")
    doc = {
        "suite": run.manifest.get("suite", ""),
        "confidence": confidence,
        "n_boot": n_boot,
        "results": records,
    }
    md_path, json_path = run.path / SUMMARY_MD, run.path / SUMMARY_JSON
    atomic_write_bytes(md_path, md.encode())
    atomic_write_bytes(json_path, (json.dumps(doc, indent=1) + "\n").encode())
    return md_path, json_path


def check_against(
    published: dict[str, Any], fresh: dict[str, Any], checkpoints: Sequence[str] | None = None
) -> list[str]:
    """Where a fresh summary falls outside a published one's intervals.

    A fresh mean must lie within the published [low, high] (a metric with one case, and so no
    interval, must match to 1e-6 relative); a metric published as NaN must be NaN again.

    Args:
        published: a ``summary.json`` document (e.g. the one a README table was made from).
        fresh: the ``summary.json`` of a new run of the same suite.
        checkpoints: compare only these checkpoint names (default: all published).

    Returns:
        One line per disagreement (empty: the fresh run reproduces the published numbers).
    """
    key = ("probe", "metric", "checkpoint")
    new = {tuple(r[k] for k in key): r for r in fresh["results"]}
    problems = []
    for r in published["results"]:
        if checkpoints is not None and r["checkpoint"] not in checkpoints:
            continue
        where = "/".join(str(r[k]) for k in key)
        f = new.get(tuple(r[k] for k in key))
        if f is None:
            problems.append(f"{where}: missing from the fresh run")
        elif r["mean"] is None or f["mean"] is None:
            if (r["mean"] is None) != (f["mean"] is None):
                problems.append(f"{where}: published {r['mean']}, fresh {f['mean']}")
        elif r["low"] is None or r["high"] is None:
            if not math.isclose(f["mean"], r["mean"], rel_tol=1e-6, abs_tol=1e-9):
                problems.append(f"{where}: fresh {f['mean']:.6g} != published {r['mean']:.6g} (no interval)")
        elif not r["low"] <= f["mean"] <= r["high"]:
            problems.append(f"{where}: fresh mean {f['mean']:.6g} outside [{r['low']:.6g}, {r['high']:.6g}]")
    return problems
