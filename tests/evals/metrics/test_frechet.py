"""Fréchet distance: closed forms, a direct scipy computation, Gaussian fits from sums."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.linalg
import torch

from evals.metrics.frechet import frechet_distance, gaussian_from_sums


def test_one_dimensional_gaussians() -> None:
    # W2² between N(m1, s1²) and N(m2, s2²) is (m1 - m2)² + (s1 - s2)².
    for m1, s1, m2, s2 in [(0.0, 1.0, 0.0, 1.0), (1.0, 2.0, -0.5, 0.5), (3.0, 0.1, 3.0, 4.0)]:
        d = frechet_distance(np.array([m1]), np.array([[s1**2]]), np.array([m2]), np.array([[s2**2]]))
        assert d == pytest.approx((m1 - m2) ** 2 + (s1 - s2) ** 2, abs=1e-10)


def test_diagonal_covariances() -> None:
    rng = np.random.default_rng(0)
    mu1, mu2 = rng.normal(size=16), rng.normal(size=16)
    var1, var2 = rng.uniform(0.1, 3, 16), rng.uniform(0.1, 3, 16)
    expected = np.sum((mu1 - mu2) ** 2) + np.sum((np.sqrt(var1) - np.sqrt(var2)) ** 2)
    assert frechet_distance(mu1, np.diag(var1), mu2, np.diag(var2)) == pytest.approx(expected, rel=1e-10)


def test_same_gaussian_and_torch_inputs() -> None:
    rng = np.random.default_rng(1)
    a = rng.normal(size=(50, 8))
    cov = np.cov(a, rowvar=False)
    assert frechet_distance(a.mean(0), cov, a.mean(0), cov) == pytest.approx(0.0, abs=1e-8)
    d_np = frechet_distance(a.mean(0), cov, a.mean(0) + 1, 2 * cov)
    d_t = frechet_distance(
        torch.tensor(a.mean(0)), torch.tensor(cov), torch.tensor(a.mean(0) + 1), torch.tensor(2 * cov)
    )
    assert d_np == d_t


def test_against_direct_scipy_computation() -> None:
    rng = np.random.default_rng(2)
    x, y = rng.normal(size=(300, 32)), rng.normal(size=(300, 32)) @ rng.normal(size=(32, 32)) * 0.3 + 0.2
    mu1, mu2, s1, s2 = x.mean(0), y.mean(0), np.cov(x, rowvar=False), np.cov(y, rowvar=False)
    root = scipy.linalg.sqrtm(s1 @ s2)
    root = root[0] if isinstance(root, tuple) else root
    direct = np.sum((mu1 - mu2) ** 2) + np.trace(s1 + s2 - 2 * np.real(root))
    assert frechet_distance(mu1, s1, mu2, s2) == pytest.approx(direct, rel=1e-10)
    # The TF-GAN / VideoGPT form tr(sqrt(sqrt(S1) S2 sqrt(S1))) gives the same trace.
    r1 = np.real(scipy.linalg.sqrtm(s1))
    alt = np.trace(np.real(scipy.linalg.sqrtm(r1 @ s2 @ r1)))
    assert np.trace(np.real(root)) == pytest.approx(alt, rel=1e-8)


def test_rank_deficient_covariances_stay_finite() -> None:
    rng = np.random.default_rng(3)
    x, y = rng.normal(size=(5, 20)), rng.normal(size=(5, 20))  # 5 samples in 20-d: rank 4
    d = frechet_distance(x.mean(0), np.cov(x, rowvar=False), y.mean(0), np.cov(y, rowvar=False))
    assert np.isfinite(d) and d > 0


def test_zero_covariances() -> None:
    assert frechet_distance(np.zeros(4), np.zeros((4, 4)), np.ones(4), np.zeros((4, 4))) == 4.0


def test_bad_shapes() -> None:
    with pytest.raises(ValueError, match="one D"):
        frechet_distance(np.zeros(3), np.eye(3), np.zeros(4), np.eye(4))


def test_gaussian_from_sums_biased_and_unbiased() -> None:
    rng = np.random.default_rng(4)
    x = rng.normal(size=(40, 6)) * 3 + 10
    total, outer = torch.tensor(x.sum(0)), torch.tensor(x.T @ x)
    mean, cov0 = gaussian_from_sums(total, outer, 40, ddof=0)
    _, cov1 = gaussian_from_sums(total, outer, 40, ddof=1)
    np.testing.assert_allclose(mean, x.mean(0), rtol=1e-12)
    np.testing.assert_allclose(cov0, np.cov(x, rowvar=False, bias=True), rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(cov1, np.cov(x, rowvar=False), rtol=1e-9, atol=1e-12)
    with pytest.raises(ValueError, match="more than 1"):
        gaussian_from_sums(total, outer, 1, ddof=1)
