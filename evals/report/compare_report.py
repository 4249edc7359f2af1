"""The Markdown/HTML report of a comparison: runs and entries, the protocol check, per probe a table
of paired differences with verdicts, forest plots of the differences, and every entry's curves
overlaid (versus horizon and occlusion length). Every metric table and figure carries the metric's
protocol label.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import pandas as pd

from evals.report import plots, stats
from evals.report.document import Block, Bullets, Figure, Heading, Table, Text, slug
from evals.report.report import checkpoint_identity, fmt, fmt_interval, interval_text, metric_label
from evals.report.results import Run, curve_panels, sweep, sweep_groups, sweep_key

if TYPE_CHECKING:
    from evals.report.compare import CompareConfig, Entry


def weights_available(entry: Any) -> bool:
    """Whether a manifest ``weights`` entry says the weights were found (no ``unavailable`` key)."""
    return not (isinstance(entry, dict) and "unavailable" in entry)


def weight_notes(runs: Sequence[Run]) -> list[str]:
    """Pretrained weights a run lacked (the metrics that need them are NaN there, so not compared)."""
    out = []
    for run in runs:
        for name, entry in (run.manifest.get("weights") or {}).items():
            if not weights_available(entry):
                out.append(f"{run.name}: {name} unavailable ({entry['unavailable']})")
    return out


def row_interval(r: Any) -> stats.Interval:
    """The difference interval of a comparison table row."""
    return stats.Interval(r.difference, r.ci_low, r.ci_high, int(r.n_pairs), int(r.n_dropped), int(r.n_cases))


def _run_table(runs: Sequence[Run]) -> Table:
    rows = [
        [
            r.name,
            str(r.path) if r.path else "(in memory)",
            str(r.manifest.get("suite", "")),
            str(r.manifest.get("created", "")),
            str(r.manifest.get("git_revision") or "unknown"),
            ", ".join(r.checkpoints()),
        ]
        for r in runs
    ]
    return Table(["run", "path", "suite", "created", "git revision", "checkpoints"], rows, caption="Runs")


def _difference_table(
    probe: str, part: pd.DataFrame, protocols: list[tuple[str, str]], interval: str
) -> Table:
    rows = [
        [
            r.metric,
            r.candidate,
            r.reference,
            fmt(r.candidate_mean),
            fmt(r.reference_mean),
            fmt_interval(row_interval(r)),
            str(r.n_unpaired),
            r.verdict,
        ]
        for r in part.itertuples()
    ]
    columns = ["metric", "candidate", "reference", "candidate mean", "reference mean"]
    columns += ["difference [CI] n", "unpaired units", "verdict"]
    caption = (
        f"{probe}: candidate − reference, paired on (case, world seed, seed, horizon, parameters); "
        f"{interval}, of the mean difference over the paired units (n units in C cases); means over "
        f"the paired units"
    )
    return Table(columns, rows, caption=caption, protocols=protocols)


def _metric_blocks(
    probe: str, metric: str, protocol: str, m: pd.DataFrame, entries: Sequence[Entry], cfg: CompareConfig
) -> list[Block]:
    """Forest plot of the differences, and every entry's curves overlaid, for one metric."""
    title = f"{probe} / {metric}"
    if not (m["n_pairs"] > 0).any():
        return [Heading(title, 3), Text(f"{title}: no finite pair of values to compare, no figure.")]
    interval = interval_text(cfg.n_boot, cfg.confidence)
    spec = {"unit": m["unit"].iloc[0], "higher_is_better": m["higher_is_better"].iloc[0]}
    label = metric_label(metric, spec)
    base, labelled = slug(f"{probe}-{metric}"), [(metric, protocol)]
    series = plots.palette([e.label for e in entries], [e.kind for e in entries])
    forest = plots.forest_plot(
        [f"{r.candidate} vs {r.reference}" for r in m.itertuples()],
        [row_interval(r) for r in m.itertuples()],
        list(m["verdict"]),
        f"{title}: paired difference",
        f"difference in {label}",
        protocol,
        f"{interval} of the paired mean difference",
    )
    caption = (
        f"{title}: candidate − reference with paired {interval}; verdict colours: green better, red worse, "
        "grey no significant difference."
    )
    blocks: list[Block] = [Heading(title, 3), Figure(forest, f"{base}-difference", caption, labelled)]
    rows_of = [e.run.rows(e.checkpoint, probe, metric) for e in entries]
    every = pd.concat(rows_of)
    if every["horizon"].notna().any():
        n_curve = min(cfg.n_boot, 1000)
        panels = curve_panels(rows_of, n_curve, cfg.confidence, cfg.seed)
        band = f"{interval_text(n_curve, cfg.confidence)}, per horizon"
        png = plots.curve_plot(
            series, panels, f"{title} vs horizon", "horizon (frame after the context)", label, protocol, band
        )
        caption = f"{title} versus horizon, every entry overlaid; bands: {band}."
        blocks.append(Figure(png, f"{base}-horizon", caption, labelled))
    if sweep_key(every):
        group_by = sweep_groups(list(pd.unique(every["params"])), "k")
        sweeps = [sweep(r, "k", group_by, cfg.n_boot, cfg.confidence, cfg.seed) for r in rows_of]
        xlabel = "occlusion length k (frames)"
        png = plots.sweep_plot(series, sweeps, title, xlabel, label, protocol, interval)
        caption = f"{title} versus the occlusion length k, every entry overlaid; error bars: {interval}."
        blocks.append(Figure(png, f"{base}-k", caption, labelled))
    return blocks


def _probe_blocks(
    probe: str, table: pd.DataFrame, entries: Sequence[Entry], cfg: CompareConfig
) -> list[Block]:
    part = table[table["probe"] == probe]
    metrics = list(dict.fromkeys(part["metric"]))
    protocols = [(m, str(part.loc[part["metric"] == m, "protocol"].iloc[0])) for m in metrics]
    blocks: list[Block] = [
        Heading(probe, 2, anchor=f"probe-{slug(probe)}"),
        _difference_table(probe, part, protocols, interval_text(cfg.n_boot, cfg.confidence)),
    ]
    for metric, protocol in protocols:
        blocks += _metric_blocks(probe, metric, protocol, part[part["metric"] == metric], entries, cfg)
    return blocks


def comparison_blocks(
    runs: Sequence[Run], entries: Sequence[Entry], table: pd.DataFrame, cfg: CompareConfig
) -> list[Block]:
    """Every block of the comparison report."""
    counts = table["verdict"].value_counts()
    shared = table[["probe", "metric"]].drop_duplicates()
    blocks: list[Block] = [
        Heading("Checkpoint comparison", 1),
        Text(
            f"{len(entries)} entries, {len(table)} metric comparisons: "
            + ", ".join(f"{v}: {int(counts.get(v, 0))}" for v in stats.VERDICTS)
            + f". Differences are candidate − reference, paired on (case, world seed, seed, horizon, "
            f"parameters), with a paired {interval_text(cfg.n_boot, cfg.confidence)}; a verdict needs the "
            f"interval to exclude 0 and at least {cfg.min_cases} paired cases."
        ),
        Text(
            f"Protocol check passed: suite {runs[0].manifest.get('suite')!r}, env "
            f"{json.dumps(runs[0].manifest.get('env'))} and the protocol labels of the {len(shared)} "
            f"compared metrics are identical in every run."
        ),
        _run_table(runs),
        Table(
            ["entry", "kind", "identity"],
            [[e.label, e.kind, checkpoint_identity(e.run.checkpoint_info(e.checkpoint))] for e in entries],
            caption="Entries compared",
        ),
    ]
    only = _unshared_metrics(runs)
    if only:
        blocks += [Text("Metrics not compared (absent from some runs):"), Bullets(only)]
    missing = weight_notes(runs)
    if missing:
        blocks += [Text("Pretrained weights unavailable (their metrics are NaN there):"), Bullets(missing)]
    for probe in dict.fromkeys(table["probe"]):
        blocks += _probe_blocks(probe, table, entries, cfg)
    return blocks


def _unshared_metrics(runs: Sequence[Run]) -> list[str]:
    have = [{(p, m) for p in r.probes() for m in r.metrics(p)} for r in runs]
    every = set().union(*have)
    common = set.intersection(*have) if have else set()
    return [f"{p}/{m}" for p, m in sorted(every - common)]
