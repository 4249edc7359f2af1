"""The headline results of a run: ``summary.md`` (one table per probe) and ``summary.json``.

``report.md`` is the whole story (figures, per-case tables, GIFs); the summary is the part a
results table in a README cites: every probe and metric, every checkpoint beside the simulator
ceiling and the baselines, mean and bootstrap interval, with the metric's protocol. ``summary.json``
holds the same numbers as records, so that a later run can be checked against a published one
(:func:`check_against`).
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from evals.report import markdown as md_render
from evals.report import stats
from evals.report.document import Block, Heading, Text
from evals.report.report import interval_text, probe_summary_table
from evals.report.results import Run, as_run
from simworld.data.format import atomic_write_bytes

SUMMARY_MD = "summary.md"
SUMMARY_JSON = "summary.json"


def summary(
    run: Run, n_boot: int = stats.DEFAULT_N_BOOT, confidence: float = stats.DEFAULT_CONFIDENCE, seed: int = 0
) -> tuple[list[Block], list[dict[str, Any]]]:
    """The summary document (a heading, how to read it, one table per probe) and its records.

    Each table's intervals are computed once and serve both: one record per (probe, metric,
    checkpoint) with rows — mean, low, high, n, cases, protocol, direction.
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
        for metric, cis in intervals.items():
            spec = run.spec(probe, metric)
            for name, ci in zip(names, cis, strict=True):
                if not len(run.rows(name, probe, metric)):
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
                        "protocol": spec.get("protocol", ""),
                        "higher_is_better": spec.get("higher_is_better"),
                    }
                )
    return blocks, records


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
