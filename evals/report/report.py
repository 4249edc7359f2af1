"""``write_report(run_dir)``: ``report.md`` and a self-contained ``report.html`` for one eval run.

Contents: the manifest summary (suite, checkpoints with their hashes, env, hardware, wall time,
package versions, weights used, config); then per probe a table of every metric per checkpoint
(mean over seeds × cases with its bootstrap interval, NaN counts and their notes), a bar chart per
metric with interval error bars, curves versus horizon (metrics with per-frame rows) and versus the
occlusion length (cases with a numeric parameter ``k``), a per-case table, and the truth-beside-
generation GIFs. Every metric table and figure carries the metric's protocol label from the
manifest. Baselines and the simulator appear beside the models in every table and figure.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from evals.report import html as html_render
from evals.report import markdown as md_render
from evals.report import plots, stats
from evals.report.document import Animation, Block, Bullets, Figure, Heading, Preformatted, Table, Text, slug
from evals.report.results import (
    Run,
    Summary,
    as_run,
    curve_panels,
    natural_key,
    summarise,
    sweep,
    sweep_groups,
    sweep_key,
    unit_values,
)

REPORT_MD = "report.md"
REPORT_HTML = "report.html"
REPORT_ASSETS = "report_files"
SWEEP_KEY = "k"


def fmt(x: float) -> str:
    """A number with 4 significant digits ("NaN" for NaN)."""
    if x is None or not np.isfinite(x):
        return "NaN" if x is None or np.isnan(x) else str(x)
    return f"{x:.4g}"


def fmt_interval(ci: stats.Interval, dropped: int | None = None) -> str:
    """ "mean [low, high] n=N (C cases)" plus the NaN count."""
    if ci.n == 0:
        text = "n/a (no finite value)"
    else:
        bounds = f"[{fmt(ci.low)}, {fmt(ci.high)}]" if np.isfinite(ci.low) else "[no interval: 1 case]"
        text = f"{fmt(ci.mean)} {bounds} n={ci.n} ({ci.n_clusters} cases)"
    nan = ci.n_dropped if dropped is None else dropped
    return text + (f" ({nan} NaN)" if nan else "")


def interval_text(n_boot: int, confidence: float) -> str:
    """The interval method for captions: a cluster bootstrap over cases with all their seeds."""
    return (
        f"{stats.describe_interval(n_boot, confidence)} over seeds × cases, resampling cases "
        f"(case, world seed, parameters) with all their seeds"
    )


def metric_label(metric: str, spec: dict[str, Any]) -> str:
    """ "metric (unit, ↑)" for axis labels and table cells."""
    unit = spec.get("unit") or ""
    direction = spec.get("higher_is_better")
    arrow = "no direction" if direction is None else "higher is better" if direction else "lower is better"
    return f"{metric} ({unit + ', ' if unit else ''}{arrow})"


def checkpoint_identity(info: dict[str, Any]) -> str:
    """The weights hash of a model, else a compact JSON of its identity."""
    identity = dict(info.get("identity") or {})
    if identity.get("weights_sha256"):
        return f"weights sha256 {identity['weights_sha256']}"
    return json.dumps(identity, sort_keys=True, default=str) if identity else "—"


# ------------------------------------------------------------------------------------------ header


def manifest_blocks(run: Run, level: int = 2) -> list[Block]:
    """The manifest summary of a run: checkpoints, env, hardware, versions, weights, config."""
    m = run.manifest
    info = [
        ["suite", str(m.get("suite", ""))],
        ["run directory", str(run.path) if run.path else "(in memory)"],
        ["created", str(m.get("created", ""))],
        ["wall time", f"{float(m['wall_time_s']):.1f} s" if m.get("wall_time_s") is not None else "—"],
        ["git revision", str(m.get("git_revision") or "unknown")],
        ["env", f"{m.get('env', {}).get('id', '')} {json.dumps(m.get('env', {}).get('params', {}))}"],
        *[
            [f"hardware: {k}", json.dumps(v) if not isinstance(v, str) else v]
            for k, v in m.get("hardware", {}).items()
        ],
    ]
    blocks: list[Block] = [
        Table(["field", "value"], info, caption="Run"),
        Table(
            ["checkpoint", "kind", "identity"],
            [[n, run.kind(n), checkpoint_identity(run.checkpoint_info(n))] for n in run.checkpoints()],
            caption="Checkpoints (models beside the simulator ceiling and the baseline floors)",
        ),
    ]
    weights = m.get("weights") or {}
    if weights:
        rows = [[k, json.dumps(v, sort_keys=True, default=str)] for k, v in weights.items()]
        blocks.append(Table(["weights", "used"], rows, caption="Pretrained weights used by the metrics"))
    packages = m.get("packages") or {}
    if packages:
        rows = [[k, "not installed" if v is None else str(v)] for k, v in sorted(packages.items())]
        blocks.append(Table(["package", "version"], rows, caption="Package versions", collapsed=True))
    if m.get("config"):
        text = json.dumps(m["config"], indent=2, sort_keys=True, default=str)
        blocks.append(Preformatted(text, summary="Suite configuration"))
    return blocks


# ------------------------------------------------------------------------------------------- probes


def interval_cell(rows: pd.DataFrame, n_boot: int, confidence: float, seed: int) -> tuple[str, Summary]:
    """The table cell (:func:`fmt_interval`) of one checkpoint's rows of a metric, and their summary."""
    s = summarise(rows, n_boot, confidence, seed)
    return fmt_interval(s.interval, s.n_rows_nan), s


def probe_summary_table(
    run: Run, probe: str, names: Sequence[str], n_boot: int, confidence: float, seed: int
) -> tuple[Table, list[str], dict[str, list[stats.Interval]]]:
    """One probe's table: every metric (with its protocol) per checkpoint, mean [interval].

    Returns:
        The table, the NaN notes, and per metric the interval of each of ``names``.
    """
    rows, notes, intervals = [], [], {}
    for metric in run.metrics(probe):
        spec = run.spec(probe, metric)
        cells, cis = [], []
        for name in names:
            sel = run.rows(name, probe, metric)
            if not len(sel):
                cells.append("—")
                cis.append(stats.Interval(np.nan, np.nan, np.nan, 0))
                continue
            cell, s = interval_cell(sel, n_boot, confidence, seed)
            cells.append(cell)
            cis.append(s.interval)
            notes += [f"{metric}, {name}: {count} NaN — {note}" for note, count in s.notes]
        intervals[metric] = cis
        rows.append([metric_label(metric, spec), *cells])
    caption = (
        f"{probe}: mean over seeds × cases [{interval_text(n_boot, confidence)}]; n = (case, world seed, "
        f"seed, parameters) units with a finite value; a metric with per-frame rows only is first "
        f"averaged over its horizons within each unit"
    )
    protocols = [(m, run.protocol(probe, m)) for m in run.metrics(probe)]
    return Table(["metric", *names], rows, caption=caption, protocols=protocols), notes, intervals


def _per_case_table(run: Run, probe: str, names: Sequence[str]) -> Table:
    cells: dict[tuple[str, str, str], dict[str, str]] = {}
    for metric in run.metrics(probe):
        for name in names:
            sel = run.rows(name, probe, metric)
            if not len(sel):
                continue
            units, _ = unit_values(sel)
            for (case, params), part in units.groupby(["case", "params"], sort=True):
                v = part["value"].to_numpy(np.float64)
                ok = np.isfinite(v)
                text = (fmt(float(v[ok].mean())) if ok.any() else "NaN") + f" (n={int(ok.sum())})"
                cells.setdefault((metric, case, params), {})[name] = text
    order = {m: i for i, m in enumerate(run.metrics(probe))}
    keys = sorted(cells, key=lambda mcp: (order[mcp[0]], natural_key(mcp[1]), natural_key(mcp[2])))
    rows = [[m, c, p, *(cells[m, c, p].get(n, "—") for n in names)] for m, c, p in keys]
    return Table(
        ["metric", "case", "parameters", *names],
        rows,
        caption=f"{probe}: per-case means over world seeds and sampling seeds (no interval; n = units)",
        protocols=[(m, run.protocol(probe, m)) for m in run.metrics(probe)],
        collapsed=True,
    )


def _figures(
    run: Run, probe: str, metric: str, names: Sequence[str], cis: Sequence[stats.Interval], **boot: Any
) -> list[Block]:
    spec, protocol = run.spec(probe, metric), run.protocol(probe, metric)
    label = metric_label(metric, spec)
    series = plots.palette(names, [run.kind(n) for n in names])
    ci_text = interval_text(boot["n_boot"], boot["confidence"])
    base = slug(f"{probe}-{metric}")
    rows = run.rows(probe=probe, metric=metric)
    if not np.isfinite(rows["value"].to_numpy(np.float64)).any():
        return [
            Text(f"{probe} / {metric}: no finite value in any checkpoint, no figure (see the NaN notes).")
        ]
    out: list[Block] = [
        Figure(
            plots.bar_chart(series, cis, f"{probe} / {metric}", label, protocol, ci_text),
            f"{base}-bars",
            f"{probe} / {metric}: mean per checkpoint, error bars {ci_text}.",
            [(metric, protocol)],
        )
    ]
    if rows["horizon"].notna().any():
        n_curve = min(boot["n_boot"], 1000)
        per_checkpoint = [run.rows(n, probe, metric) for n in names]
        panels = curve_panels(per_checkpoint, n_curve, boot["confidence"], boot["seed"])
        band = f"{interval_text(n_curve, boot['confidence'])}, per horizon"
        out.append(
            Figure(
                plots.curve_plot(
                    series,
                    panels,
                    f"{probe} / {metric} vs horizon",
                    "horizon (frame after the context)",
                    label,
                    protocol,
                    band,
                ),
                f"{base}-horizon",
                f"{probe} / {metric} versus horizon (1-based frame index of the prediction); bands: {band}.",
                [(metric, protocol)],
            )
        )
    if sweep_key(rows, SWEEP_KEY):
        group_by = sweep_groups(list(pd.unique(rows["params"])), SWEEP_KEY)
        sweeps = [sweep(run.rows(n, probe, metric), SWEEP_KEY, group_by, **boot) for n in names]
        out.append(
            Figure(
                plots.sweep_plot(
                    series,
                    sweeps,
                    f"{probe} / {metric}",
                    f"occlusion length {SWEEP_KEY} (frames)",
                    label,
                    protocol,
                    ci_text,
                ),
                f"{base}-k",
                f"{probe} / {metric} versus the occlusion length {SWEEP_KEY}; error bars: {ci_text}.",
                [(metric, protocol)],
            )
        )
    return out


def _animations(run: Run, probe: str, limit: int) -> list[Block]:
    rank = {n: i for i, n in enumerate(run.checkpoints())}
    entries = sorted(
        (m for m in run.media if m.get("probe") == probe),
        key=lambda m: (
            natural_key(m.get("case", "")),
            rank.get(m.get("checkpoint"), len(rank)),
            m.get("world_seed", 0),
            m.get("seed", 0),
        ),
    )
    out: list[Block] = []
    for entry in entries[:limit]:
        path = str(entry.get("path", ""))
        file = (run.path / path) if run.path is not None else Path(path)
        caption = (
            f"{entry.get('checkpoint')} — {entry.get('case')} (world {entry.get('world_seed')}, seed "
            f"{entry.get('seed')}): left the truth (real simulator), right the prediction. "
            f"{entry.get('caption', '')}"
        ).strip()
        data = file.read_bytes() if file.is_file() else None
        out.append(
            Animation(data, path, caption if data is not None else f"{caption} [missing file: {path}]")
        )
    if len(entries) > limit:
        out.append(Text(f"{len(entries) - limit} more animations of {probe} are in the run's media folder."))
    return out


def probe_blocks(
    run: Run, probe: str, n_boot: int, confidence: float, seed: int, max_media: int
) -> list[Block]:
    """The section of one probe."""
    names = [n for n in run.checkpoints() if len(run.rows(n, probe))]
    blocks: list[Block] = [Heading(probe, 2, anchor=f"probe-{slug(probe)}")]
    table, notes, intervals = probe_summary_table(run, probe, names, n_boot, confidence, seed)
    blocks.append(table)
    if notes:
        blocks += [Text("Undefined (NaN) values, excluded from the means:"), Bullets(notes)]
    for metric in run.metrics(probe):
        blocks.append(Heading(f"{probe} / {metric}", 3))
        blocks += _figures(
            run, probe, metric, names, intervals[metric], n_boot=n_boot, confidence=confidence, seed=seed
        )
    blocks.append(_per_case_table(run, probe, names))
    media = _animations(run, probe, max_media)
    if media:
        blocks += [Heading(f"{probe}: truth beside generation", 3), *media]
    return blocks


def report_blocks(
    run: Run,
    n_boot: int = stats.DEFAULT_N_BOOT,
    confidence: float = stats.DEFAULT_CONFIDENCE,
    seed: int = 0,
    max_media_per_probe: int = 24,
) -> list[Block]:
    """Every block of a run's report."""
    m = run.manifest
    total_nan = int((~np.isfinite(run.results["value"].to_numpy(np.float64))).sum())
    blocks: list[Block] = [
        Heading(f"Evaluation report — suite {m.get('suite', '')}", 1),
        Text(
            f"{len(run.results)} numbers ({total_nan} undefined/NaN) from {len(run.checkpoints())} "
            f"checkpoints on {len(run.probes())} probes. Means are over seeds × cases; intervals are "
            f"{interval_text(n_boot, confidence)} (the seeds of one scene are not independent, and a "
            f"deterministic baseline repeats one value for every seed). "
            f"PSNR is capped at 100 dB by the probes, so a perfect prediction reads 100."
        ),
        Bullets([f"{p}: {', '.join(run.metrics(p))}" for p in run.probes()]),
        *manifest_blocks(run),
    ]
    for probe in run.probes():
        if len(run.rows(probe=probe)):
            blocks += probe_blocks(run, probe, n_boot, confidence, seed, max_media_per_probe)
    return blocks


def write_documents(blocks: Sequence[Block], out_dir: Path, stem: str, title: str) -> tuple[Path, Path]:
    """Write ``<stem>.md`` (figures in ``<stem>_files/``) and a self-contained ``<stem>.html``."""
    out_dir.mkdir(parents=True, exist_ok=True)
    md_path, html_path = out_dir / f"{stem}.md", out_dir / f"{stem}.html"
    md_path.write_text(md_render.render(blocks, out_dir, f"{stem}_files"))
    html_path.write_text(html_render.render(title, blocks))
    return md_path, html_path


def write_report(
    run_dir: str | Path | Run,
    n_boot: int = stats.DEFAULT_N_BOOT,
    confidence: float = stats.DEFAULT_CONFIDENCE,
    seed: int = 0,
    max_media_per_probe: int = 24,
) -> tuple[Path, Path]:
    """Write ``report.md`` (figures in ``report_files/``) and a self-contained ``report.html``.

    Args:
        run_dir: the run directory (or a loaded run with a ``path``).
        n_boot: bootstrap resamples of the intervals.
        confidence: interval coverage.
        seed: seed of the resampling (reports are reproducible).
        max_media_per_probe: GIFs embedded per probe (the rest are counted).

    Returns:
        (path of report.md, path of report.html).

    Raises:
        FileNotFoundError, ValueError: not a readable run directory (see :func:`load_run`).
    """
    run = as_run(run_dir)
    if run.path is None:
        raise ValueError("write_report needs a run with a directory (Run.path) to write into")
    blocks = report_blocks(run, n_boot, confidence, seed, max_media_per_probe)
    title = f"simworld eval — {run.manifest.get('suite', '')} — {run.name}"
    from evals.report.summary import write_summary  # it builds on this module's tables

    write_summary(run, n_boot, confidence, seed)
    return write_documents(blocks, run.path, "report", title)
