"""Bootstrap confidence intervals, paired differences and verdicts for evaluation reports.

Conventions, stated once so that every table and figure can point here:

- **Interval of a mean**: percentile bootstrap (Efron & Tibshirani 1993, §13.3) of the mean of the
  finite values. Resampling draws ``numpy.random.default_rng(seed).integers(0, C, (n_boot, C))``
  and the interval is the ``(1-c)/2`` and ``(1+c)/2`` quantiles (``numpy.quantile``, linear) of
  the ``n_boot`` (default 2000) resampled means.
- **Clusters**: values may come in clusters that are not independent — in reports, the sampling
  seeds of one case (same world, same scene; a deterministic baseline even repeats the same value
  for every seed). The bootstrap then resamples whole clusters (cases, with all their seeds) and
  recomputes the mean over all the values drawn: a cluster bootstrap (Davison & Hinkley 1997,
  §3.8). Without clusters every value is its own cluster (the plain bootstrap). An interval needs
  at least two clusters; with one the bounds are NaN (no spread between cases can be estimated).
- **Paired difference**: ``d_i = candidate_i - reference_i`` on units present in both, then the same
  (cluster) bootstrap of ``mean(d)``; pairing removes the between-case variance that two unpaired
  intervals would carry.
- **Verdict**: "better" / "worse" when the interval of the difference excludes 0 (in the direction
  given by ``higher_is_better``), else "no significant difference"; "insufficient data" with
  fewer than ``min_clusters`` paired clusters; a metric declared without a direction
  (``higher_is_better`` None: a descriptive quantity) gets no verdict.
- Non-finite values (NaN: undefined, with a note in the results table) are dropped and counted.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np

from evals.config import DEFAULT_CONFIDENCE, DEFAULT_N_BOOT  # noqa: F401  (re-exported; defined once)

BETTER = "better"
WORSE = "worse"
NO_DIFFERENCE = "no significant difference"
INSUFFICIENT = "insufficient data"
DESCRIPTIVE = "no direction (descriptive metric)"
VERDICTS = (BETTER, WORSE, NO_DIFFERENCE, INSUFFICIENT, DESCRIPTIVE)


def describe_interval(n_boot: int = DEFAULT_N_BOOT, confidence: float = DEFAULT_CONFIDENCE) -> str:
    """One line naming the interval method, for table and figure captions."""
    return f"{confidence:.0%} percentile bootstrap CI ({n_boot} resamples)"


@dataclass(frozen=True)
class Interval:
    """A mean with its bootstrap interval.

    Attributes:
        mean: mean of the finite values (NaN when there are none).
        low, high: interval bounds (NaN with fewer than two clusters).
        n: finite values used.
        n_dropped: non-finite values dropped.
        n_clusters: clusters with a finite value (equals ``n`` without clusters).
    """

    mean: float
    low: float
    high: float
    n: int
    n_dropped: int = 0
    n_clusters: int = -1

    def __post_init__(self) -> None:
        if self.n_clusters < 0:
            object.__setattr__(self, "n_clusters", self.n)

    def contains(self, value: float) -> bool:
        """Whether ``low <= value <= high``."""
        return bool(self.low <= value <= self.high)


def _check(n_boot: int, confidence: float) -> None:
    if n_boot < 1:
        raise ValueError(f"n_boot must be >= 1, got {n_boot}")
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}")


def _cluster_index(clusters: np.ndarray | None, n: int) -> np.ndarray:
    """int (n,) cluster index of every value, 0..C-1 in order of first appearance."""
    if clusters is None:
        return np.arange(n)
    c = np.asarray(clusters).reshape(-1)
    if len(c) != n:
        raise ValueError(f"clusters has {len(c)} labels for {n} values")
    _, first, inverse = np.unique(c, return_index=True, return_inverse=True)
    rank = np.empty(len(first), np.int64)
    rank[np.argsort(first, kind="stable")] = np.arange(len(first))
    return rank[inverse.reshape(-1)]


def _quantiles(means: np.ndarray, confidence: float) -> tuple[np.ndarray, np.ndarray]:
    alpha = (1 - confidence) / 2
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN columns give NaN bounds
        low, high = np.nanquantile(means, [alpha, 1 - alpha], axis=0)
    return low, high


def bootstrap_ci(
    values: np.ndarray,
    n_boot: int = DEFAULT_N_BOOT,
    confidence: float = DEFAULT_CONFIDENCE,
    seed: int = 0,
    clusters: np.ndarray | None = None,
) -> Interval:
    """Mean of ``values`` with its percentile (cluster) bootstrap interval.

    Args:
        values: float (n,); non-finite entries are dropped and counted.
        n_boot: resamples.
        confidence: coverage, e.g. 0.95.
        seed: seed of the resampling.
        clusters: (n,) labels; values sharing a label are resampled together (None: independent).

    Returns:
        The interval (NaN bounds with fewer than two clusters, NaN mean without a finite value).

    Raises:
        ValueError: ``n_boot < 1``, ``confidence`` outside (0, 1), or ``clusters`` of another length.
    """
    _check(n_boot, confidence)
    x = np.asarray(values, np.float64).reshape(-1)
    cluster = _cluster_index(clusters, len(x))
    finite = np.isfinite(x)
    x, cluster, dropped = x[finite], cluster[finite], int((~finite).sum())
    if len(x) == 0:
        return Interval(float("nan"), float("nan"), float("nan"), 0, dropped, 0)
    _, cluster = np.unique(cluster, return_inverse=True)  # renumber the clusters that kept a value
    sums = np.bincount(cluster, weights=x)
    counts = np.bincount(cluster).astype(np.float64)
    C, mean = len(sums), float(x.mean())
    if C < 2:
        return Interval(mean, float("nan"), float("nan"), len(x), dropped, C)
    idx = np.random.default_rng(seed).integers(0, C, (n_boot, C))
    means = sums[idx].sum(axis=1) / counts[idx].sum(axis=1)
    low, high = _quantiles(means, confidence)
    # resampled and sample means are summed in different orders: clamp so that a constant sample
    # gives exactly [mean, mean]
    return Interval(mean, float(min(low, mean)), float(max(high, mean)), len(x), dropped, C)


def paired_bootstrap(
    reference: np.ndarray,
    candidate: np.ndarray,
    n_boot: int = DEFAULT_N_BOOT,
    confidence: float = DEFAULT_CONFIDENCE,
    seed: int = 0,
    clusters: np.ndarray | None = None,
) -> Interval:
    """Mean of ``candidate - reference`` over pairs with its percentile (cluster) bootstrap interval.

    Args:
        reference, candidate: float (n,), aligned pair by pair; a pair with a non-finite member is
            dropped and counted.
        n_boot, confidence, seed, clusters: as in :func:`bootstrap_ci`.

    Raises:
        ValueError: the arrays differ in length, or bad ``n_boot``/``confidence``/``clusters``.
    """
    a = np.asarray(reference, np.float64).reshape(-1)
    b = np.asarray(candidate, np.float64).reshape(-1)
    if a.shape != b.shape:
        raise ValueError(f"paired samples differ in length: {len(a)} vs {len(b)}")
    with np.errstate(invalid="ignore"):
        d = b - a
    # inf - inf is NaN, and a NaN on either side makes d NaN: both are dropped by bootstrap_ci
    d[~(np.isfinite(a) & np.isfinite(b))] = np.nan
    return bootstrap_ci(d, n_boot, confidence, seed, clusters)


def verdict(difference: Interval, higher_is_better: bool | None, min_clusters: int = 2) -> str:
    """The verdict on a paired difference: better, worse, no significant difference, insufficient data.

    Args:
        difference: interval of ``candidate - reference``.
        higher_is_better: the metric's direction; None for a descriptive metric without one (its
            verdict is :data:`DESCRIPTIVE`).
        min_clusters: fewest paired clusters (cases) needed for a verdict.
    """
    if higher_is_better is None:
        return DESCRIPTIVE
    if difference.n_clusters < max(min_clusters, 2) or not np.isfinite(difference.low):
        return INSUFFICIENT
    if difference.low > 0:
        return BETTER if higher_is_better else WORSE
    if difference.high < 0:
        return WORSE if higher_is_better else BETTER
    return NO_DIFFERENCE


def bootstrap_curve(
    values: np.ndarray,
    n_boot: int = 1000,
    confidence: float = DEFAULT_CONFIDENCE,
    seed: int = 0,
    clusters: np.ndarray | None = None,
    chunk: int = 250,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Per-column mean and bootstrap interval of a units × horizons matrix, resampling whole rows.

    Resampling rows (units, or clusters of rows) rather than cells keeps the correlation along a
    curve; NaN cells are skipped by the column means.

    Args:
        values: float (U, T): U units (case, seed), T horizons; NaN where undefined.
        n_boot, confidence, seed: as in :func:`bootstrap_ci`.
        clusters: (U,) labels of rows resampled together (None: each row alone).
        chunk: resamples computed at once (bounds memory at chunk × C × T).

    Returns:
        mean, low, high (float64 (T,)) and n (int (T,) finite units per column).
    """
    _check(n_boot, confidence)
    x = np.asarray(values, np.float64)
    U, T = x.shape
    cluster = _cluster_index(clusters, U)
    finite = np.isfinite(x)
    C = int(cluster.max()) + 1 if U else 0
    sums, counts = np.zeros((C, T)), np.zeros((C, T))
    np.add.at(sums, cluster, np.where(finite, x, 0.0))
    np.add.at(counts, cluster, finite.astype(np.float64))
    n = finite.sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.where(n > 0, sums.sum(axis=0) / np.maximum(n, 1), np.nan)
    if C < 2:
        return mean, np.full(T, np.nan), np.full(T, np.nan), n
    rng = np.random.default_rng(seed)
    means = np.empty((n_boot, T))
    for s in range(0, n_boot, chunk):
        idx = rng.integers(0, C, (min(chunk, n_boot - s), C))
        total, cnt = sums[idx].sum(axis=1), counts[idx].sum(axis=1)  # (b, T)
        with np.errstate(invalid="ignore", divide="ignore"):
            means[s : s + len(idx)] = np.where(cnt > 0, total / cnt, np.nan)
    low, high = _quantiles(means, confidence)
    return mean, np.fmin(low, mean), np.fmax(high, mean), n
