"""A run directory of ``simworld eval`` read back, and the aggregates the reports show.

The run directory (format ``simworld.eval/1``) holds ``manifest.json`` (suite, env, checkpoints,
the protocol of every metric, versions, hardware, ...), the long-format results table
(``results.parquet``, same content in ``results.csv``: one row per number with columns
:data:`RESULT_COLUMNS`), ``media.json`` and the GIFs it lists (truth beside prediction).

Aggregation, shared by the report and the comparison:

- a **unit** is one (case, world seed, sampling seed, case parameters) of a probe, and a
  **cluster** the units of one (case, world seed, case parameters) — its seeds. Means are over all
  units ("over seeds × cases"); the bootstrap resamples clusters (seeds of one scene are not
  independent, and a deterministic baseline repeats one value for every seed);
- a metric's **unit value** is its summary row (``horizon`` NA) when the metric has summary rows,
  else the mean of the unit's finite per-frame values (horizons 1..K), stated as such in captions;
- NaN values (undefined, with a ``note``) are dropped from means and counted, with their notes.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from evals.report import stats

RUN_FORMAT = "simworld.eval/1"
"""The run directory format this package reads."""

RESULT_COLUMNS: dict[str, str] = {
    "checkpoint": "string",
    "checkpoint_kind": "string",
    "suite": "string",
    "probe": "string",
    "case": "string",
    "metric": "string",
    "horizon": "Int64",
    "seed": "int64",
    "world_seed": "int64",
    "params": "string",
    "value": "float64",
    "note": "string",
}
"""Columns of ``results.parquet``/``results.csv`` and their pandas dtypes."""

UNIT_KEYS = ("case", "world_seed", "seed", "params")
"""What identifies one resampled unit within a probe."""

CLUSTER_KEYS = ("case", "world_seed", "params")
"""What the bootstrap resamples as a whole: a case in a world, with all its sampling seeds."""

PAIR_KEYS = ("probe", "case", "world_seed", "seed", "horizon", "params")
"""What pairs two checkpoints' numbers of a metric in a comparison."""

SOURCE_SUMMARY = "summary value"
SOURCE_HORIZON_MEAN = "mean over horizons"

KIND_ORDER = {"model": 0, "simulator": 1, "baseline": 2}
MAX_SWEEP_GROUPS = 6


@dataclass
class Run:
    """One evaluation run: its manifest, results table and media list.

    Attributes:
        manifest: the parsed ``manifest.json``.
        results: the long-format table, normalised (dtypes of :data:`RESULT_COLUMNS`, canonical
            ``params`` JSON, empty notes as "").
        media: entries of ``media.json`` (checkpoint, probe, case, world_seed, seed, path, caption).
        path: the run directory (None for a run built in memory).
    """

    manifest: dict[str, Any]
    results: pd.DataFrame
    media: list[dict[str, Any]] = field(default_factory=list)
    path: Path | None = None

    def __post_init__(self) -> None:
        self.results = normalise_results(self.results)
        _check_declared(self)

    @property
    def name(self) -> str:
        """The run directory's name (or the suite name for an in-memory run)."""
        return self.path.name if self.path is not None else str(self.manifest.get("suite", "run"))

    def checkpoints(self) -> list[str]:
        """Checkpoint names: the manifest's order, then any others found in the results."""
        names = [str(c["name"]) for c in self.manifest.get("checkpoints", [])]
        names += [c for c in pd.unique(self.results["checkpoint"]) if c not in names]
        return names

    def checkpoint_info(self, name: str) -> dict[str, Any]:
        """The manifest entry of a checkpoint (kind from the results when it is not listed)."""
        for c in self.manifest.get("checkpoints", []):
            if c.get("name") == name:
                return dict(c)
        kinds = self.results.loc[self.results["checkpoint"] == name, "checkpoint_kind"]
        return {"name": name, "kind": str(kinds.iloc[0]) if len(kinds) else "", "identity": {}}

    def kind(self, name: str) -> str:
        """ "model", "simulator" or "baseline"."""
        return str(self.checkpoint_info(name).get("kind", ""))

    def probes(self) -> list[str]:
        """Probes in the manifest's order, then any others found in the results."""
        names = list(self.manifest.get("metrics", {}))
        return names + [p for p in pd.unique(self.results["probe"]) if p not in names]

    def metrics(self, probe: str) -> list[str]:
        """Metrics of a probe that have rows, in the manifest's order."""
        have = set(self.results.loc[self.results["probe"] == probe, "metric"])
        return [m for m in self.manifest.get("metrics", {}).get(probe, {}) if m in have]

    def spec(self, probe: str, metric: str) -> dict[str, Any]:
        """``{"protocol", "higher_is_better", "unit"}`` of a metric, from the manifest."""
        return dict(self.manifest["metrics"][probe][metric])

    def protocol(self, probe: str, metric: str) -> str:
        """The metric's protocol label."""
        return str(self.spec(probe, metric)["protocol"])

    def rows(self, checkpoint: str | None = None, probe: str | None = None, metric: str | None = None):
        """Rows filtered by checkpoint, probe and metric (None: any)."""
        df = self.results
        mask = np.ones(len(df), bool)
        for col, value in (("checkpoint", checkpoint), ("probe", probe), ("metric", metric)):
            if value is not None:
                mask &= (df[col] == value).to_numpy()
        return df[mask]


def canonical_params(value: Any) -> str:
    """The case parameters as JSON with sorted keys ("{}" for missing)."""
    if value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NA or value == "":
        return "{}"
    obj = json.loads(value) if isinstance(value, str) else value
    return json.dumps(obj, sort_keys=True)


def normalise_results(df: pd.DataFrame) -> pd.DataFrame:
    """A results table with the dtypes of :data:`RESULT_COLUMNS` and canonical ``params``.

    Raises:
        ValueError: missing columns, unparsable params, or two rows with the same
            (checkpoint, metric) + :data:`PAIR_KEYS`.
    """
    missing = [c for c in RESULT_COLUMNS if c not in df.columns]
    if missing:
        raise ValueError(f"results table lacks columns {missing}; expected {list(RESULT_COLUMNS)}")
    out = df[list(RESULT_COLUMNS)].copy()
    try:
        out["params"] = [canonical_params(p) for p in out["params"]]
    except (json.JSONDecodeError, TypeError) as err:
        raise ValueError(f"results column 'params' must hold JSON objects: {err}") from None
    out["note"] = out["note"].fillna("")
    out = out.astype(RESULT_COLUMNS)
    key = ["checkpoint", "metric", *PAIR_KEYS]
    dup = out.duplicated(subset=key, keep=False)
    if dup.any():
        first = out[dup].iloc[0]
        raise ValueError(
            f"results table has {int(dup.sum())} rows sharing the same {key}, e.g. "
            f"{ {k: first[k] for k in key} }; each number must appear once"
        )
    return out.reset_index(drop=True)


def _check_declared(run: Run) -> None:
    declared = run.manifest.get("metrics", {})
    pairs = run.results[["probe", "metric"]].drop_duplicates().itertuples(index=False)
    undeclared = [f"{p}/{m}" for p, m in pairs if m not in declared.get(p, {})]
    if undeclared:
        raise ValueError(
            f"results hold metrics the manifest does not declare (no protocol label): {undeclared}"
        )
    for probe, metrics in declared.items():
        for metric, spec in metrics.items():
            if not str(spec.get("protocol", "")).strip():
                raise ValueError(f"manifest: metric {probe}/{metric} has an empty protocol label")


def load_run(path: str | Path) -> Run:
    """Read a run directory.

    Raises:
        FileNotFoundError: no manifest or results table.
        ValueError: unknown format, a malformed table, or a metric without a protocol.
    """
    path = Path(path)
    manifest_path = path / "manifest.json"
    if not manifest_path.is_file():
        raise FileNotFoundError(f"{path} is not an eval run directory: {manifest_path} not found")
    manifest = json.loads(manifest_path.read_text())
    if manifest.get("format") != RUN_FORMAT:
        raise ValueError(f"{manifest_path}: format {manifest.get('format')!r}, expected {RUN_FORMAT!r}")
    if (path / "results.parquet").is_file():
        results = pd.read_parquet(path / "results.parquet")
    elif (path / "results.csv").is_file():
        results = pd.read_csv(path / "results.csv", keep_default_na=True, dtype={"params": str, "note": str})
    else:
        raise FileNotFoundError(f"{path}: neither results.parquet nor results.csv found")
    media = json.loads((path / "media.json").read_text()) if (path / "media.json").is_file() else []
    return Run(manifest=manifest, results=results, media=list(media), path=path)


def as_run(item: str | Path | Run) -> Run:
    """A :class:`Run` from a run directory or a run."""
    return item if isinstance(item, Run) else load_run(item)


# -------------------------------------------------------------------------------------- aggregates


def unit_values(rows: pd.DataFrame) -> tuple[pd.DataFrame, str]:
    """One value per unit (:data:`UNIT_KEYS`) for the rows of one checkpoint, probe and metric.

    Returns:
        The units with their ``value`` and how it was obtained (:data:`SOURCE_SUMMARY` or
        :data:`SOURCE_HORIZON_MEAN`).
    """
    summary = rows[rows["horizon"].isna()]
    if len(summary):
        # sorted, so that intervals do not depend on the order rows were written (resumed runs)
        units = summary[[*UNIT_KEYS, "value"]].sort_values(list(UNIT_KEYS), kind="stable")
        return units.reset_index(drop=True), SOURCE_SUMMARY
    finite = rows.assign(value=rows["value"].where(np.isfinite(rows["value"])))
    units = finite.groupby(list(UNIT_KEYS), sort=True, dropna=False)["value"].mean().reset_index()
    return units, SOURCE_HORIZON_MEAN


def cluster_ids(units: pd.DataFrame) -> np.ndarray:
    """int (len(units),) cluster (:data:`CLUSTER_KEYS`) of each unit."""
    if not len(units):
        return np.zeros(0, np.int64)
    return units.groupby(list(CLUSTER_KEYS), sort=True, dropna=False).ngroup().to_numpy(np.int64)


def nan_notes(rows: pd.DataFrame) -> list[tuple[str, int]]:
    """(note, count) of the non-finite values among ``rows``, most frequent first."""
    bad = rows[~np.isfinite(rows["value"].to_numpy(np.float64))]
    if not len(bad):
        return []
    counts = bad["note"].replace("", "(no note)").value_counts()
    return [(str(k), int(v)) for k, v in counts.items()]


@dataclass(frozen=True)
class Summary:
    """One metric of one checkpoint summarised over seeds × cases.

    Attributes:
        interval: mean and bootstrap interval of the unit values.
        source: how the unit values were obtained (summary rows, or mean over horizons).
        n_rows_nan: non-finite values among the metric's rows (all horizons).
        notes: (note, count) of those values.
    """

    interval: stats.Interval
    source: str
    n_rows_nan: int
    notes: list[tuple[str, int]]


def summarise(
    rows: pd.DataFrame,
    n_boot: int = stats.DEFAULT_N_BOOT,
    confidence: float = stats.DEFAULT_CONFIDENCE,
    seed: int = 0,
) -> Summary:
    """Summary of the rows of one checkpoint, probe and metric."""
    units, source = unit_values(rows)
    values = units["value"].to_numpy(np.float64)
    interval = stats.bootstrap_ci(values, n_boot, confidence, seed, clusters=cluster_ids(units))
    notes = nan_notes(rows)
    return Summary(interval, source, sum(c for _, c in notes), notes)


def curve(
    rows: pd.DataFrame, n_boot: int = 1000, confidence: float = stats.DEFAULT_CONFIDENCE, seed: int = 0
) -> pd.DataFrame:
    """Per-horizon mean and bootstrap band (resampling units) of one checkpoint/probe/metric's rows.

    Returns:
        Columns horizon, mean, low, high, n (empty when the metric has no per-frame rows).
    """
    per_frame = rows[rows["horizon"].notna()]
    if not len(per_frame):
        return pd.DataFrame(columns=["horizon", "mean", "low", "high", "n"])
    table = per_frame.pivot_table(
        index=list(UNIT_KEYS), columns="horizon", values="value", aggfunc="first", dropna=False
    )
    clusters = cluster_ids(table.index.to_frame(index=False))
    mean, low, high, n = stats.bootstrap_curve(table.to_numpy(np.float64), n_boot, confidence, seed, clusters)
    return pd.DataFrame(
        {"horizon": table.columns.astype(int), "mean": mean, "low": low, "high": high, "n": n}
    )


def curve_panels(
    rows_per_checkpoint: Sequence[pd.DataFrame],
    n_boot: int = 1000,
    confidence: float = stats.DEFAULT_CONFIDENCE,
    seed: int = 0,
    max_panels: int = 6,
) -> list[tuple[str, list[pd.DataFrame]]]:
    """Per-horizon curves of several checkpoints, one panel per case when there are 2..max_panels cases.

    A horizon means different things in different cases (frame 8 of a short turn is the revisit,
    of a long one it is not), so a few cases are drawn apart; many cases are pooled, and said so.

    Returns:
        (panel title, per checkpoint the :func:`curve` frame) for each panel.
    """
    per_frame = [r[r["horizon"].notna()] for r in rows_per_checkpoint]
    names = sorted({c for r in per_frame for c in r["case"]}, key=natural_key)
    if 1 < len(names) <= max_panels:
        return [
            (f"case {c}", [curve(r[r["case"] == c], n_boot, confidence, seed) for r in per_frame])
            for c in names
        ]
    title = f"{len(names)} cases pooled" if len(names) > 1 else ""
    return [(title, [curve(r, n_boot, confidence, seed) for r in per_frame])]


def natural_key(text: str) -> list[Any]:
    """Sort key that orders "turn_2" before "turn_10"."""
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", str(text))]


def sweep_key(runs_rows: pd.DataFrame, key: str = "k") -> bool:
    """Whether the rows' case parameters hold a numeric ``key`` taking at least two values."""
    values = {json.loads(p).get(key) for p in pd.unique(runs_rows["params"])}
    numeric = {v for v in values if isinstance(v, (int, float)) and not isinstance(v, bool)}
    return len(numeric) >= 2 and len(numeric) == len(values)


def _function_of(params: list[dict[str, Any]], target: str, given: Sequence[str]) -> bool:
    """Whether ``target`` takes one value for every combination of the ``given`` parameters."""
    seen: dict[str, str] = {}
    for p in params:
        key, value = json.dumps([p.get(g) for g in given]), json.dumps(p.get(target))
        if seen.setdefault(key, value) != value:
            return False
    return True


def sweep_groups(params_json: Sequence[str], key: str = "k", max_groups: int = MAX_SWEEP_GROUPS) -> list[str]:
    """The case parameters that split a sweep over ``key`` into separate lines/panels.

    A parameter splits the sweep when it takes two values at one value of ``key`` (the object, the
    mode), not when it follows ``key`` (a hold time derived from the occlusion length); of several
    that determine each other, one is kept. None are kept when they would make more than
    ``max_groups`` groups (the sweep is then pooled over them).
    """
    params = [json.loads(p) for p in dict.fromkeys(params_json)]
    names = sorted(set().union(*params) - {key}) if params else []
    split = [n for n in names if not _function_of(params, n, [key])]
    # drop first the parameters some cases lack (an option of one mode), then the others
    for name in sorted(split, key=lambda n: (all(n in p for p in params), n)):
        others = [o for o in split if o != name]
        if others and _function_of(params, name, others):
            split.remove(name)
    groups = {json.dumps([p.get(n) for n in split]) for p in params}
    return split if len(groups) <= max_groups else []


def sweep(
    rows: pd.DataFrame,
    key: str = "k",
    group_by: Sequence[str] | None = None,
    n_boot: int = stats.DEFAULT_N_BOOT,
    confidence: float = stats.DEFAULT_CONFIDENCE,
    seed: int = 0,
) -> pd.DataFrame:
    """Mean and interval of the unit values of one checkpoint/probe/metric versus a case parameter.

    Args:
        rows: the rows of one checkpoint, probe and metric.
        key: the swept parameter.
        group_by: parameters that split the sweep (default :func:`sweep_groups` of these rows; pass
            the same list for every checkpoint of a figure).
        n_boot, confidence, seed: the bootstrap.

    Returns:
        Columns group (a readable "name=value, ..." string, "" for no split), x, mean, low, high, n.
    """
    units, _ = unit_values(rows)
    if group_by is None:
        group_by = sweep_groups(list(units["params"]), key)
    decoded = {p: json.loads(p) for p in pd.unique(units["params"])}
    params = [decoded[p] for p in units["params"]]
    units = units.assign(
        x=[p.get(key) for p in params],
        group=[", ".join(f"{g}={p.get(g)}" for g in group_by) for p in params],
    )
    out = []
    for (group, x), part in units.groupby(["group", "x"], sort=True):
        values = part["value"].to_numpy(np.float64)
        ci = stats.bootstrap_ci(values, n_boot, confidence, seed, clusters=cluster_ids(part))
        out.append({"group": group, "x": x, "mean": ci.mean, "low": ci.low, "high": ci.high, "n": ci.n})
    return pd.DataFrame(out, columns=["group", "x", "mean", "low", "high", "n"])


def order_checkpoints(names: Sequence[str], kinds: Sequence[str]) -> list[str]:
    """Models first, then the simulator, then the baselines (stable within each kind)."""
    ranked = sorted(zip(names, kinds), key=lambda nk: KIND_ORDER.get(nk[1], 3))
    return [n for n, _ in ranked]
