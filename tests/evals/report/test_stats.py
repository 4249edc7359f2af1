"""Bootstrap intervals, paired differences and verdicts against references."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.stats

from evals.report import stats


def reference_percentile_ci(x: np.ndarray, n_boot: int, confidence: float, seed: int) -> tuple[float, float]:
    """The documented method written out: same resampling draws, quantiles by explicit interpolation."""
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, len(x), (n_boot, len(x)))
    means = np.sort(np.array([x[row].sum() / len(x) for row in idx]))
    out = []
    for q in ((1 - confidence) / 2, (1 + confidence) / 2):
        pos = q * (n_boot - 1)  # numpy's default "linear" method
        lo, frac = int(np.floor(pos)), pos - np.floor(pos)
        out.append(means[lo] + frac * (means[min(lo + 1, n_boot - 1)] - means[lo]))
    return out[0], out[1]


def test_bootstrap_ci_matches_reference_on_known_sample():
    x = np.array([3.1, 4.7, 2.2, 9.8, 5.5, 6.0, 1.2, 7.7, 4.4, 3.3, 8.1, 2.9])
    ci = stats.bootstrap_ci(x, n_boot=3000, confidence=0.95, seed=7)
    lo, hi = reference_percentile_ci(x, 3000, 0.95, 7)
    assert ci.mean == pytest.approx(x.mean())
    assert ci.low == pytest.approx(lo, rel=1e-12) and ci.high == pytest.approx(hi, rel=1e-12)
    assert ci.n == 12 and ci.n_dropped == 0
    # a different confidence gives a narrower interval inside the first
    narrow = stats.bootstrap_ci(x, n_boot=3000, confidence=0.5, seed=7)
    assert ci.low < narrow.low < narrow.high < ci.high


def test_bootstrap_ci_agrees_with_scipy_and_normal_theory():
    rng = np.random.default_rng(0)
    x = rng.normal(10.0, 2.0, 400)
    ci = stats.bootstrap_ci(x, n_boot=4000, seed=1)
    ref = scipy.stats.bootstrap(
        (x,), np.mean, n_resamples=4000, method="percentile", rng=2
    ).confidence_interval
    half = 1.96 * x.std(ddof=1) / np.sqrt(len(x))
    assert (ci.high - ci.low) / 2 == pytest.approx(half, rel=0.1)
    assert ci.low == pytest.approx(ref.low, abs=0.05) and ci.high == pytest.approx(ref.high, abs=0.05)


def test_bootstrap_ci_nan_constant_and_degenerate_samples():
    ci = stats.bootstrap_ci(np.array([1.0, np.nan, 3.0, np.inf, 2.0]))
    assert (ci.n, ci.n_dropped, ci.mean) == (3, 2, 2.0)
    constant = stats.bootstrap_ci(np.full(9, 100.0))  # PSNR at its 100 dB cap
    assert (constant.low, constant.mean, constant.high) == (100.0, 100.0, 100.0)
    one = stats.bootstrap_ci(np.array([4.0]))  # one value: no spread to estimate, no interval
    assert one.mean == 4.0 and one.n == 1 and np.isnan(one.low) and np.isnan(one.high)
    empty = stats.bootstrap_ci(np.array([np.nan, np.nan]))
    assert empty.n == 0 and empty.n_dropped == 2 and np.isnan(empty.mean) and np.isnan(empty.low)
    with pytest.raises(ValueError, match="confidence"):
        stats.bootstrap_ci(np.ones(3), confidence=1.5)
    with pytest.raises(ValueError, match="n_boot"):
        stats.bootstrap_ci(np.ones(3), n_boot=0)


def reference_cluster_ci(x, labels, n_boot=2000, confidence=0.95, seed=0):
    """Cluster bootstrap written out: resample whole clusters (first-appearance order), mean of all values."""
    order = list(dict.fromkeys(labels))
    members = [np.array([lab == o for lab in labels]) for o in order]
    sums = np.array([x[m].sum() for m in members])
    counts = np.array([m.sum() for m in members], np.float64)
    idx = np.random.default_rng(seed).integers(0, len(order), (n_boot, len(order)))
    means = np.array([sums[row].sum() / counts[row].sum() for row in idx])
    return np.quantile(means, [(1 - confidence) / 2, (1 + confidence) / 2])


def test_cluster_bootstrap_matches_reference_and_ignores_repeated_seeds():
    rng = np.random.default_rng(2)
    case_effect = rng.normal(0, 3, 6)
    x = np.repeat(case_effect, 3) + rng.normal(0, 0.2, 18)  # 6 cases × 3 seeds, correlated within a case
    labels = [f"case{i // 3}" for i in range(18)]
    ci = stats.bootstrap_ci(x, clusters=np.array(labels))
    assert (ci.n, ci.n_clusters, ci.mean) == (18, 6, pytest.approx(x.mean()))
    assert (ci.low, ci.high) == tuple(pytest.approx(v) for v in reference_cluster_ci(x, labels))
    # treating the 18 values as independent would understate the uncertainty
    naive = stats.bootstrap_ci(x)
    assert naive.high - naive.low < 0.75 * (ci.high - ci.low)
    # a deterministic baseline repeats one value per seed: same interval as one value per case
    repeated = stats.bootstrap_ci(np.repeat(case_effect, 3), clusters=np.repeat(np.arange(6), 3))
    single = stats.bootstrap_ci(case_effect)
    assert (repeated.low, repeated.high) == (pytest.approx(single.low), pytest.approx(single.high))
    # singletons are the plain bootstrap
    plain = stats.bootstrap_ci(x, clusters=np.arange(18))
    assert (plain.low, plain.high) == (pytest.approx(naive.low), pytest.approx(naive.high))
    # a cluster whose values are all NaN does not count
    y = x.copy()
    y[:3] = np.nan
    assert stats.bootstrap_ci(y, clusters=np.array(labels)).n_clusters == 5
    with pytest.raises(ValueError, match="clusters has 2 labels for 18 values"):
        stats.bootstrap_ci(x, clusters=np.array([0, 1]))


def test_paired_bootstrap_and_verdicts():
    rng = np.random.default_rng(3)
    ref = rng.normal(20, 5, 30)  # large between-case spread...
    cand = ref + 0.5 + rng.normal(0, 0.1, 30)  # ...small but consistent improvement
    d = stats.paired_bootstrap(ref, cand)
    assert d.mean == pytest.approx(np.mean(cand - ref))
    lo, hi = reference_percentile_ci(cand - ref, stats.DEFAULT_N_BOOT, 0.95, 0)
    assert (d.low, d.high) == (pytest.approx(lo), pytest.approx(hi))
    assert stats.verdict(d, higher_is_better=True) == stats.BETTER
    assert stats.verdict(d, higher_is_better=False) == stats.WORSE
    # unpaired intervals overlap: pairing is what detects the difference
    a, b = stats.bootstrap_ci(ref), stats.bootstrap_ci(cand)
    assert a.high > b.low
    same = stats.paired_bootstrap(ref, ref.copy())
    assert (same.low, same.high) == (0.0, 0.0) and stats.verdict(same, True) == stats.NO_DIFFERENCE
    noisy = stats.paired_bootstrap(ref, ref + rng.normal(0, 1, 30))
    assert stats.verdict(noisy, True) == stats.NO_DIFFERENCE
    with_nan = stats.paired_bootstrap(np.array([1.0, np.nan, 2.0]), np.array([2.0, 3.0, np.nan]))
    assert (with_nan.n, with_nan.n_dropped) == (1, 2)
    assert stats.verdict(with_nan, True) == stats.INSUFFICIENT
    # pairs clustered by case: one case is never enough for a verdict
    one_case = stats.paired_bootstrap(ref[:5], cand[:5], clusters=np.zeros(5))
    assert one_case.n_clusters == 1 and stats.verdict(one_case, True) == stats.INSUFFICIENT
    assert stats.verdict(d, higher_is_better=None) == stats.DESCRIPTIVE
    with pytest.raises(ValueError, match="length"):
        stats.paired_bootstrap(np.ones(3), np.ones(4))


def test_bootstrap_curve_resamples_whole_units():
    rng = np.random.default_rng(5)
    x = rng.normal(0, 1, (8, 6))
    mean, low, high, n = stats.bootstrap_curve(x, n_boot=500, seed=11, chunk=500)
    for t in range(6):
        ci = stats.bootstrap_ci(x[:, t], n_boot=500, seed=11)  # same draws when done in one chunk
        assert (mean[t], low[t], high[t]) == (
            pytest.approx(ci.mean),
            pytest.approx(ci.low),
            pytest.approx(ci.high),
        )
    chunked = stats.bootstrap_curve(x, n_boot=500, seed=11, chunk=64)
    assert np.all(chunked[1] <= mean) and np.all(chunked[2] >= mean)
    x[2, 3] = np.nan
    x[:, 5] = np.nan
    mean, low, high, n = stats.bootstrap_curve(x, n_boot=200)
    assert n.tolist() == [8, 8, 8, 7, 8, 0]
    assert mean[3] == pytest.approx(np.nanmean(x[:, 3])) and np.isnan(mean[5]) and np.isnan(low[5])
    clusters = np.repeat(np.arange(4), 2)
    mean, low, high, n = stats.bootstrap_curve(x, n_boot=400, seed=3, clusters=clusters, chunk=400)
    ci = stats.bootstrap_ci(x[:, 0], n_boot=400, seed=3, clusters=clusters)
    assert (mean[0], low[0], high[0]) == (
        pytest.approx(ci.mean),
        pytest.approx(ci.low),
        pytest.approx(ci.high),
    )
