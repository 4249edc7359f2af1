"""Compare checkpoints on the consistency metrics: paired differences with bootstrap intervals and a
verdict per metric, refusing numbers produced under different protocols.

Input: one run directory holding several checkpoints, or several run directories (each checkpoint
of each run is an entry, labelled ``<run>/<checkpoint>`` when there are several runs). Every entry
is compared with the reference (default the first entry) or, with ``pairs="all"``, every pair.

Method (see :mod:`evals.report.stats`): the two entries' numbers of a metric are paired on
(probe, case, world seed, seed, horizon, case parameters); per unit (case, world seed, seed,
parameters) the summary value is used when the metric has summary rows, else the mean over the
horizons where both are finite; the difference ``candidate - reference`` gets a paired percentile
bootstrap interval over the units and a verdict (better / worse / no significant difference, by
the metric's ``higher_is_better``; "insufficient data" below ``min_cases`` pairs).

Refusal: runs whose suite, env (id and parameters), any shared metric's protocol label, direction
or unit, or the pretrained weights used by both (e.g. LPIPS trunk hashes) differ are not compared
(``ValueError`` naming every field that differs).
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from evals.config import PAIRS, CompareConfig  # noqa: F401  (re-exported)
from evals.report import stats
from evals.report.compare_report import comparison_blocks, row_interval, weights_available
from evals.report.report import fmt_interval, write_documents
from evals.report.results import UNIT_KEYS, Run, as_run, cluster_ids

COMPARISON_COLUMNS = [
    "probe",
    "metric",
    "protocol",
    "higher_is_better",
    "unit",
    "candidate",
    "reference",
    "candidate_mean",
    "reference_mean",
    "difference",
    "ci_low",
    "ci_high",
    "n_pairs",
    "n_cases",
    "n_dropped",
    "n_unpaired",
    "source",
    "verdict",
]
"""Columns of ``comparison.parquet``/``comparison.csv`` (difference = candidate − reference)."""


@dataclass(frozen=True)
class Entry:
    """One checkpoint of one run."""

    label: str
    run: Run
    checkpoint: str

    @property
    def kind(self) -> str:
        """ "model", "simulator" or "baseline"."""
        return self.run.kind(self.checkpoint)


@dataclass
class Comparison:
    """What :func:`compare` produced."""

    table: pd.DataFrame
    entries: list[Entry]
    paths: dict[str, Path]


# ------------------------------------------------------------------------------------ protocol check


def _diff(a: Any, b: Any, prefix: str) -> list[str]:
    if isinstance(a, dict) and isinstance(b, dict):
        out = []
        for key in sorted(set(a) | set(b), key=str):
            if key not in a or key not in b:
                where = "first" if key in a else "second"
                out.append(f"{prefix}.{key}: only in the {where} run ({a.get(key, b.get(key))!r})")
            else:
                out += _diff(a[key], b[key], f"{prefix}.{key}")
        return out
    return [] if a == b else [f"{prefix}: {a!r} vs {b!r}"]


def protocol_differences(runs: Sequence[Run]) -> list[str]:
    """Every difference of suite, env or shared-metric protocol between the first run and the others."""
    first, out = runs[0], []
    for other in runs[1:]:
        where = f"{first.name} vs {other.name}"
        found = _diff(first.manifest.get("suite"), other.manifest.get("suite"), "suite")
        found += _diff(first.manifest.get("env"), other.manifest.get("env"), "env")
        w1, w2 = first.manifest.get("weights") or {}, other.manifest.get("weights") or {}
        for name in [w for w in w1 if w in w2]:
            # both computed: they must be the same weights
            if weights_available(w1[name]) and weights_available(w2[name]):
                found += _diff(w1[name], w2[name], f"weights.{name}")
        m1, m2 = first.manifest.get("metrics", {}), other.manifest.get("metrics", {})
        for probe in [p for p in m1 if p in m2]:
            for metric in [m for m in m1[probe] if m in m2[probe]]:
                for key in ("protocol", "higher_is_better", "unit"):
                    a, b = m1[probe][metric].get(key), m2[probe][metric].get(key)
                    if a != b:
                        found.append(f"metric {probe}/{metric} {key}: {a!r} vs {b!r}")
        out += [f"{where}: {f}" for f in found]
    return out


def check_comparable(runs: Sequence[Run]) -> None:
    """Refuse runs produced under different protocols.

    Raises:
        ValueError: the suites, envs or a shared metric's protocol/direction/unit differ; the message
            names every field that differs.
    """
    found = protocol_differences(runs)
    if found:
        raise ValueError(
            "refusing to compare results produced under different protocols:\n  "
            + "\n  ".join(found)
            + "\nnumbers are comparable only when the suite, the env and every metric's protocol match"
        )


# ----------------------------------------------------------------------------------------- entries


def entries_of(runs: Sequence[Run], checkpoints: Sequence[str] | None = None) -> list[Entry]:
    """Every (run, checkpoint), labelled; filtered by label or checkpoint name.

    Raises:
        ValueError: a requested checkpoint matches no entry (lists the valid labels).
    """
    names = [r.name for r in runs]
    run_labels = [n if names.count(n) == 1 else f"{n}#{i + 1}" for i, n in enumerate(names)]
    out = [
        Entry(ck if len(runs) == 1 else f"{label}/{ck}", run, ck)
        for run, label in zip(runs, run_labels)
        for ck in run.checkpoints()
    ]
    if checkpoints is None:
        return out
    unknown = [w for w in checkpoints if not any(w in (e.label, e.checkpoint) for e in out)]
    if unknown:
        raise ValueError(f"unknown checkpoints {unknown}; valid: {', '.join(e.label for e in out)}")
    return [e for e in out if e.label in checkpoints or e.checkpoint in checkpoints]


def _reference(entries: Sequence[Entry], reference: str | None) -> Entry:
    if reference is None:
        return entries[0]
    match = [e for e in entries if reference in (e.label, e.checkpoint)]
    if len(match) != 1:
        why = "matches no entry" if not match else f"is ambiguous ({', '.join(e.label for e in match)})"
        raise ValueError(f"reference {reference!r} {why}; valid: {', '.join(e.label for e in entries)}")
    return match[0]


def pairs_of(entries: Sequence[Entry], reference: str | None, pairs: str) -> list[tuple[Entry, Entry]]:
    """(reference, candidate) pairs to compare."""
    if pairs == "all":
        return list(itertools.combinations(entries, 2))
    ref = _reference(entries, reference)
    return [(ref, e) for e in entries if e is not ref]


# ------------------------------------------------------------------------------------- comparison


def _keyed(rows: pd.DataFrame) -> pd.DataFrame:
    return rows.assign(h=rows["horizon"].fillna(0).astype("int64"))[[*UNIT_KEYS, "h", "value"]]


def paired_units(ref_rows: pd.DataFrame, cand_rows: pd.DataFrame) -> tuple[pd.DataFrame, str, int]:
    """Paired unit values of one metric.

    Returns:
        (units with columns ``reference`` and ``candidate``, source of the unit values, units
        present on one side only).
    """
    a, b = _keyed(ref_rows), _keyed(cand_rows)
    summary = bool((a["h"] == 0).any() and (b["h"] == 0).any())
    a, b = (a[a["h"] == 0], b[b["h"] == 0]) if summary else (a[a["h"] > 0], b[b["h"] > 0])
    keys = [*UNIT_KEYS, "h"]
    merged = a.merge(b, on=keys, how="outer", suffixes=("_ref", "_cand"), indicator=True)
    both = merged[merged["_merge"] == "both"]
    units_a = set(map(tuple, a[list(UNIT_KEYS)].drop_duplicates().to_numpy().tolist()))
    units_b = set(map(tuple, b[list(UNIT_KEYS)].drop_duplicates().to_numpy().tolist()))
    unpaired = len(units_a ^ units_b)
    ok = np.isfinite(both["value_ref"].to_numpy(np.float64)) & np.isfinite(
        both["value_cand"].to_numpy(np.float64)
    )
    both = both.assign(reference=both["value_ref"].where(ok), candidate=both["value_cand"].where(ok))
    units = both.groupby(list(UNIT_KEYS), sort=True)[["reference", "candidate"]].mean().reset_index()
    return units, ("summary value" if summary else "mean over horizons (paired frames)"), unpaired


def compare_entries(
    ref: Entry, cand: Entry, n_boot: int, confidence: float, seed: int, min_cases: int
) -> list[dict[str, Any]]:
    """Comparison rows (:data:`COMPARISON_COLUMNS`) of two entries on every metric both have."""
    out = []
    for probe in ref.run.probes():
        for metric in ref.run.metrics(probe):
            if metric not in cand.run.metrics(probe):
                continue
            a = ref.run.rows(ref.checkpoint, probe, metric)
            b = cand.run.rows(cand.checkpoint, probe, metric)
            if not len(a) or not len(b):
                continue
            units, source, unpaired = paired_units(a, b)
            ci = stats.paired_bootstrap(
                units["reference"], units["candidate"], n_boot, confidence, seed, clusters=cluster_ids(units)
            )
            spec = ref.run.spec(probe, metric)
            ok = np.isfinite(units["reference"]) & np.isfinite(units["candidate"])
            out.append(
                {
                    "probe": probe,
                    "metric": metric,
                    "protocol": str(spec["protocol"]),
                    "higher_is_better": spec["higher_is_better"],
                    "unit": str(spec.get("unit", "")),
                    "candidate": cand.label,
                    "reference": ref.label,
                    "candidate_mean": float(units["candidate"][ok].mean()) if ok.any() else np.nan,
                    "reference_mean": float(units["reference"][ok].mean()) if ok.any() else np.nan,
                    "difference": ci.mean,
                    "ci_low": ci.low,
                    "ci_high": ci.high,
                    "n_pairs": ci.n,
                    "n_cases": ci.n_clusters,
                    "n_dropped": ci.n_dropped,
                    "n_unpaired": unpaired,
                    "source": source,
                    "verdict": stats.verdict(ci, spec["higher_is_better"], min_cases),
                }
            )
    return out


def comparison_table(
    pairs: Sequence[tuple[Entry, Entry]],
    n_boot: int = stats.DEFAULT_N_BOOT,
    confidence: float = stats.DEFAULT_CONFIDENCE,
    seed: int = 0,
    min_cases: int = 2,
) -> pd.DataFrame:
    """The comparison rows of every pair."""
    rows = [r for ref, cand in pairs for r in compare_entries(ref, cand, n_boot, confidence, seed, min_cases)]
    return pd.DataFrame(rows, columns=COMPARISON_COLUMNS)


def compare(
    run_dirs_or_results: str | Path | Run | Sequence[str | Path | Run],
    out_dir: str | Path,
    reference: str | None = None,
    pairs: str = "reference",
    checkpoints: Sequence[str] | None = None,
    n_boot: int = stats.DEFAULT_N_BOOT,
    confidence: float = stats.DEFAULT_CONFIDENCE,
    seed: int = 0,
    min_cases: int = 2,
) -> Comparison:
    """Compare checkpoints and write comparison.{parquet,csv,md,html} into ``out_dir``.

    Args:
        run_dirs_or_results: a run directory (or :class:`Run`) with several checkpoints, or several.
        out_dir: output directory (created).
        reference, pairs, checkpoints, n_boot, confidence, seed, min_cases: see :class:`CompareConfig`.

    Returns:
        The comparison table (:data:`COMPARISON_COLUMNS`), the entries and the written paths.

    Raises:
        ValueError: runs produced under different protocols (names the differing fields), fewer than
            two entries, unknown checkpoint/reference labels, bad options.
    """
    cfg = CompareConfig(
        runs=[],
        out=str(out_dir),
        reference=reference,
        pairs=pairs,
        checkpoints=None if checkpoints is None else list(checkpoints),
        n_boot=n_boot,
        confidence=confidence,
        seed=seed,
        min_cases=min_cases,
    )
    items = (
        [run_dirs_or_results] if isinstance(run_dirs_or_results, (str, Path, Run)) else run_dirs_or_results
    )
    runs = [as_run(i) for i in items]
    if not runs:
        raise ValueError("compare needs at least one run directory")
    check_comparable(runs)
    entries = entries_of(runs, cfg.checkpoints)
    if len(entries) < 2:
        raise ValueError(
            f"compare needs at least two checkpoints; found {[e.label for e in entries]} in "
            f"{[r.name for r in runs]}"
        )
    table = comparison_table(pairs_of(entries, cfg.reference, cfg.pairs), n_boot, confidence, seed, min_cases)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    table.to_parquet(out / "comparison.parquet", index=False)
    table.to_csv(out / "comparison.csv", index=False)
    md_path, html_path = write_documents(
        comparison_blocks(runs, entries, table, cfg), out, "comparison", "simworld compare"
    )
    paths = {
        "parquet": out / "comparison.parquet",
        "csv": out / "comparison.csv",
        "md": md_path,
        "html": html_path,
    }
    return Comparison(table=table, entries=list(entries), paths=paths)


def format_summary(table: pd.DataFrame) -> str:
    """The comparison as text lines for a terminal."""
    lines = []
    for r in table.itertuples():
        lines.append(
            f"{r.probe}/{r.metric}: {r.candidate} vs {r.reference}: {fmt_interval(row_interval(r))}"
            f" -> {r.verdict}"
        )
    return "\n".join(lines)
