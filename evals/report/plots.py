"""Report figures as PNG bytes: bar charts with intervals, curves versus horizon or a case parameter,
and forest plots of paired differences.

Every figure prints its metric's protocol label under the axes (so a PNG taken out of a report
still says how its numbers were produced) and the interval method in its legend or footnote.
Figures are drawn on ``matplotlib.figure.Figure`` with the Agg canvas: no pyplot global state, no
display needed, safe in threads.
"""

from __future__ import annotations

import io
import math
import textwrap
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from evals.report.stats import Interval

MODEL_COLOURS = ("#1f77b4", "#d62728", "#9467bd", "#ff7f0e", "#17becf", "#8c564b", "#e377c2", "#bcbd22")
SIMULATOR_COLOUR = "#2ca02c"
BASELINE_COLOURS = ("#7f7f7f", "#b0b0b0", "#4d4d4d", "#c7c7c7")
LINESTYLES = {"model": "-", "simulator": "--", "baseline": ":"}
DPI = 90
MAX_PANELS = 6


@dataclass(frozen=True)
class Series:
    """One checkpoint's line or bar.

    Attributes:
        label: legend label.
        kind: "model", "simulator" or "baseline" (colour and line style).
        colour: matplotlib colour.
    """

    label: str
    kind: str
    colour: str


def palette(labels: Sequence[str], kinds: Sequence[str]) -> list[Series]:
    """Series with stable colours: models in colour, the simulator green, baselines in greys."""
    out, m, b = [], 0, 0
    for label, kind in zip(labels, kinds):
        if kind == "simulator":
            colour = SIMULATOR_COLOUR
        elif kind == "baseline":
            colour, b = BASELINE_COLOURS[b % len(BASELINE_COLOURS)], b + 1
        else:
            colour, m = MODEL_COLOURS[m % len(MODEL_COLOURS)], m + 1
        out.append(Series(label, kind, colour))
    return out


def _figure(width: float, height: float) -> Figure:
    fig = Figure(figsize=(width, height), dpi=DPI)
    FigureCanvasAgg(fig)
    return fig


def _footnote(fig: Figure, lines: Sequence[str]) -> None:
    """Protocol and interval lines under the axes; grows the figure to fit them."""
    w, h = fig.get_size_inches()
    width = int(w * DPI / 4.8)  # characters per line: about 4.8 px a character at 6.5 pt
    wrapped = [part for line in lines for part in textwrap.wrap(line, width)]
    extra = 0.16 * len(wrapped) + 0.1
    fig.set_size_inches(w, h + extra)
    fig.subplots_adjust(
        bottom=(extra + 0.55) / (h + extra), top=1 - 0.5 / (h + extra), hspace=0.75, wspace=0.35
    )
    fig.text(0.01, 0.01, "\n".join(wrapped), fontsize=6.5, va="bottom", ha="left", color="#333333")


def _png(fig: Figure) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=DPI, metadata={"Software": None})
    return buf.getvalue()


def bar_chart(
    series: Sequence[Series],
    intervals: Sequence[Interval],
    title: str,
    ylabel: str,
    protocol: str,
    interval_label: str,
) -> bytes:
    """Bars of means with interval error bars, one per checkpoint.

    Args:
        series: the checkpoints (labels, kinds, colours).
        intervals: their means and intervals (NaN means are drawn as an empty slot marked "n/a").
        title: the figure title (probe / metric).
        ylabel: the value axis label (metric and unit).
        protocol: the metric's protocol label.
        interval_label: what the error bars are, e.g. "95% percentile bootstrap CI over seeds × cases".
    """
    fig = _figure(max(4.0, 0.9 * len(series) + 1.5), 2.8)
    ax = fig.add_subplot()
    x = np.arange(len(series))
    means = np.array([i.mean for i in intervals], np.float64)
    lo = np.array([i.mean - i.low for i in intervals], np.float64)
    hi = np.array([i.high - i.mean for i in intervals], np.float64)
    ok = np.isfinite(means)
    ax.bar(x[ok], means[ok], color=[s.colour for s, k in zip(series, ok) if k], edgecolor="black", lw=0.5)
    ax.errorbar(x[ok], means[ok], yerr=np.stack([lo[ok], hi[ok]]), fmt="none", ecolor="black", capsize=3)
    for i in np.flatnonzero(~ok):
        ax.text(x[i], 0, "n/a", ha="center", va="bottom", fontsize=8)
    ax.set_xticks(x, [f"{s.label}\n({s.kind})" for s in series], fontsize=7)
    ax.set_ylabel(ylabel, fontsize=8)
    ax.set_title(title, fontsize=9)
    ax.axhline(0, color="black", lw=0.5)
    ax.tick_params(axis="y", labelsize=7)
    _footnote(fig, [f"Protocol: {protocol}", f"Error bars: {interval_label}."])
    return _png(fig)


def curve_plot(
    series: Sequence[Series],
    panels: Sequence[tuple[str, Sequence[pd.DataFrame]]],
    title: str,
    xlabel: str,
    ylabel: str,
    protocol: str,
    band_label: str,
) -> bytes:
    """Lines of per-x means with shaded interval bands, one per checkpoint, in one or more panels.

    Args:
        series: the checkpoints.
        panels: (panel title, per checkpoint a frame with columns x (or horizon), mean, low, high);
            e.g. one panel per case when cases differ in what a horizon means.
        title, xlabel, ylabel: labels.
        protocol: the metric's protocol label.
        band_label: what the bands are.
    """
    cols = min(len(panels), 3)
    rows = math.ceil(len(panels) / cols)
    fig = _figure(6.0 if cols == 1 else 3.4 * cols, 3.0 if rows * cols == 1 else 2.5 * rows)
    axes = [fig.add_subplot(rows, cols, i + 1) for i in range(len(panels))]
    for ax, (name, curves) in zip(axes, panels):
        for s, c in zip(series, curves):
            if not len(c) or not np.isfinite(c["mean"].to_numpy(np.float64)).any():
                continue
            x = c["x" if "x" in c else "horizon"].to_numpy(np.float64)
            style = LINESTYLES.get(s.kind, "-")
            ax.plot(
                x, c["mean"], style, color=s.colour, label=f"{s.label} ({s.kind})", lw=1.3, marker=".", ms=3
            )
            ax.fill_between(x, c["low"], c["high"], color=s.colour, alpha=0.18, lw=0)
        ax.set_title(title if not name else f"{title}\n{name}", fontsize=8 if len(panels) > 1 else 9)
        ax.set_xlabel(xlabel, fontsize=8)
        ax.set_ylabel(ylabel, fontsize=8)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.tick_params(labelsize=7)
        ax.grid(alpha=0.3)
    if axes and axes[0].lines:
        axes[0].legend(fontsize=6.5, loc="best")
    _footnote(fig, [f"Protocol: {protocol}", f"Bands: {band_label}."])
    return _png(fig)


def sweep_plot(
    series: Sequence[Series],
    sweeps: Sequence[pd.DataFrame],
    title: str,
    xlabel: str,
    ylabel: str,
    protocol: str,
    interval_label: str,
) -> bytes:
    """Means with interval error bars versus a case parameter; one panel per group of other parameters.

    Args:
        series: the checkpoints.
        sweeps: per checkpoint, columns group, x, mean, low, high (:func:`evals.report.results.sweep`).
        title, xlabel, ylabel: labels.
        protocol: the metric's protocol label.
        interval_label: what the error bars are.
    """
    groups = sorted({g for s in sweeps for g in s["group"]}) or [""]
    cols = min(len(groups), 3)
    rows = math.ceil(len(groups) / cols)
    fig = _figure(3.3 * cols + 0.8, 2.6 * rows)
    axes = [fig.add_subplot(rows, cols, i + 1) for i in range(len(groups))]
    for ax, group in zip(axes, groups):
        for s, sw in zip(series, sweeps):
            part = sw[sw["group"] == group].sort_values("x")
            if not len(part):
                continue
            x, m = part["x"].to_numpy(np.float64), part["mean"].to_numpy(np.float64)
            err = np.stack([m - part["low"].to_numpy(np.float64), part["high"].to_numpy(np.float64) - m])
            ax.errorbar(
                x,
                m,
                yerr=err,
                fmt=LINESTYLES.get(s.kind, "-"),
                marker="o",
                ms=3,
                capsize=2,
                color=s.colour,
                label=f"{s.label} ({s.kind})",
                lw=1.2,
            )
        ax.set_title(f"{title}" + (f"\n{group}" if group else ""), fontsize=8)
        ax.set_xlabel(xlabel, fontsize=8)
        ax.set_ylabel(ylabel, fontsize=8)
        ax.tick_params(labelsize=7)
        ax.grid(alpha=0.3)
        xs = sorted(set(np.concatenate([s["x"].to_numpy(np.float64) for s in sweeps]).tolist()))
        if len(xs) > 2 and xs[0] > 0 and xs[-1] / xs[0] >= 8:
            ax.set_xscale("log", base=2)  # occlusion lengths are usually powers of two
        ax.set_xticks(xs, [f"{x:g}" for x in xs])
        ax.minorticks_off()
    if axes and axes[0].lines:
        axes[0].legend(fontsize=6.5, loc="best")
    _footnote(fig, [f"Protocol: {protocol}", f"Error bars: {interval_label}."])
    return _png(fig)


def forest_plot(
    labels: Sequence[str],
    intervals: Sequence[Interval],
    verdicts: Sequence[str],
    title: str,
    xlabel: str,
    protocol: str,
    interval_label: str,
) -> bytes:
    """Paired differences (candidate − reference) with their intervals and a zero line.

    Args:
        labels: one row per comparison ("B vs A").
        intervals: the paired difference intervals.
        verdicts: their verdicts (colour: green better, red worse, grey otherwise).
        title, xlabel: labels.
        protocol: the metric's protocol label.
        interval_label: what the whiskers are.
    """
    colour = {"better": "#2ca02c", "worse": "#d62728"}
    ticks = [f"{lab}: {v}" for lab, v in zip(labels, verdicts)]
    left = 0.12 + 5.2 * max(len(t) for t in ticks) / DPI  # inches of tick labels at 7 pt
    fig = _figure(left + 4.5, 0.45 * len(labels) + 1.2)
    ax = fig.add_subplot()
    y = np.arange(len(labels))[::-1]
    for yi, ci, v in zip(y, intervals, verdicts):
        if not np.isfinite(ci.mean):
            ax.text(0, yi, "no pairs", va="center", fontsize=7)
            continue
        c = colour.get(v, "#555555")
        ax.errorbar(
            [ci.mean], [yi], xerr=[[ci.mean - ci.low], [ci.high - ci.mean]], fmt="o", color=c, capsize=3
        )
    ax.axvline(0, color="black", lw=0.8)
    ax.set_yticks(y, ticks, fontsize=7)
    ax.set_ylim(-0.6, len(labels) - 0.4)
    ax.set_xlabel(xlabel, fontsize=8)
    ax.set_title(title, fontsize=9)
    ax.tick_params(axis="x", labelsize=7)
    ax.grid(alpha=0.3, axis="x")
    _footnote(fig, [f"Protocol: {protocol}", f"Whiskers: {interval_label}."])
    fig.subplots_adjust(left=left / fig.get_size_inches()[0], right=0.97)
    return _png(fig)
