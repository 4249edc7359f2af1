"""Fréchet distance between two Gaussians, in float64, and Gaussian fits from running sums.

``d² = |μ₁ - μ₂|² + tr(Σ₁ + Σ₂ - 2 (Σ₁ Σ₂)^{1/2})`` (Fréchet 1957; Dowson & Landau 1982), as FID
(Heusel et al. 2017) and FVD (Unterthiner et al. 2018) use it. The matrix square root is
``scipy.linalg.sqrtm`` of ``Σ₁ Σ₂``, with the standard handling of its numerical failures (as in
pytorch-fid and StyleGAN-V's ``frechet_video_distance.py``): if the result is not finite, ``eps·I``
is added to both covariances and the root recomputed; a complex result whose diagonal has an
imaginary part above 1e-3 is an error, a smaller one is discarded.

When both covariances are rank-deficient (fewer samples than feature dimensions, e.g. FVD from
fewer than 400 clips), the square root is taken in an orthonormal basis ``U`` of the joint range of
``Σ₁`` and ``Σ₂`` (eigenvectors of ``Σ₁ + Σ₂`` with non-negligible eigenvalues). This is exact, not
an approximation: with ``Σᵢ = U Aᵢ Uᵀ``, ``Σ₁ Σ₂ = U A₁ A₂ Uᵀ`` has the nonzero eigenvalues of
``A₁ A₂``, so ``tr (Σ₁ Σ₂)^{1/2} = tr (A₁ A₂)^{1/2}``. It avoids ``sqrtm`` of a singular 400×400
matrix, which is slow (complex Schur form) and where rounding noise in the null space otherwise
adds spurious ``√ε``-sized terms.
"""

from __future__ import annotations

import warnings

import numpy as np
import scipy.linalg
import torch

IMAGINARY_TOLERANCE = 1e-3


def _sqrtm(matrix: np.ndarray) -> np.ndarray:
    # scipy < 1.16 returns (root, error) when disp=False; newer versions only the root.
    root = scipy.linalg.sqrtm(matrix)
    return root[0] if isinstance(root, tuple) else root


def frechet_distance(
    mu1: np.ndarray | torch.Tensor,
    sigma1: np.ndarray | torch.Tensor,
    mu2: np.ndarray | torch.Tensor,
    sigma2: np.ndarray | torch.Tensor,
    eps: float = 1e-6,
) -> float:
    """Fréchet distance between N(mu1, sigma1) and N(mu2, sigma2), in float64.

    Args:
        mu1: (D,) mean of the first Gaussian.
        sigma1: (D, D) covariance of the first Gaussian (symmetric positive semi-definite).
        mu2: (D,) mean of the second.
        sigma2: (D, D) covariance of the second.
        eps: Diagonal offset used only when the plain square root is not finite.

    Returns:
        The squared Fréchet distance ``d²`` (FID/FVD report this quantity).

    Raises:
        ValueError: Mismatched shapes, or a square root with a significant imaginary part.
    """
    m1, m2 = np.atleast_1d(_f64(mu1)), np.atleast_1d(_f64(mu2))
    s1, s2 = np.atleast_2d(_f64(sigma1)), np.atleast_2d(_f64(sigma2))
    D = m1.shape[0]
    if m1.shape != (D,) or m2.shape != (D,) or s1.shape != (D, D) or s2.shape != (D, D):
        raise ValueError(
            f"expected means (D,) and covariances (D, D) with one D; got {m1.shape}, {s1.shape}, "
            f"{m2.shape}, {s2.shape}"
        )
    diff = m1 - m2
    trace_s1, trace_s2 = np.trace(s1), np.trace(s2)
    basis = _joint_range(s1, s2)
    if basis is not None and basis.shape[1] == 0:  # both covariances (numerically) zero
        return float(diff @ diff + trace_s1 + trace_s2)
    if basis is not None:
        s1, s2 = basis.T @ s1 @ basis, basis.T @ s2 @ basis
        D = basis.shape[1]
    covmean = _sqrtm(s1 @ s2)
    if not np.isfinite(covmean).all():
        warnings.warn(
            f"Fréchet distance: sqrtm(Σ1 Σ2) is not finite (singular product); adding {eps} to the "
            "diagonal of both covariances",
            RuntimeWarning,
            stacklevel=2,
        )
        offset = np.eye(D) * eps
        covmean = _sqrtm((s1 + offset) @ (s2 + offset))
    if np.iscomplexobj(covmean):
        imaginary = np.abs(np.diagonal(covmean).imag).max()
        if imaginary > IMAGINARY_TOLERANCE:
            raise ValueError(f"Fréchet distance: sqrtm(Σ1 Σ2) has an imaginary component {imaginary:.3g}")
        covmean = covmean.real
    return float(diff @ diff + trace_s1 + trace_s2 - 2.0 * np.trace(covmean))


def _joint_range(s1: np.ndarray, s2: np.ndarray) -> np.ndarray | None:
    """Orthonormal (D, k) basis of range(Σ₁) + range(Σ₂), ``None`` if that is all of R^D.

    k = 0 when both covariances are (numerically) zero.
    """
    eigenvalues, eigenvectors = np.linalg.eigh(s1 + s2)  # PSD sum: its range is the joint range
    # numpy.linalg.matrix_rank's tolerance for a symmetric matrix.
    tolerance = max(float(eigenvalues.max()), 0.0) * eigenvalues.shape[0] * np.finfo(np.float64).eps
    keep = eigenvalues > tolerance
    if keep.all():
        return None
    return eigenvectors[:, keep]


def gaussian_from_sums(
    total: torch.Tensor, outer: torch.Tensor, n: int, ddof: int
) -> tuple[np.ndarray, np.ndarray]:
    """Mean and covariance from running sums of features.

    Args:
        total: float64 (D,) sum of the feature vectors.
        outer: float64 (D, D) sum of their outer products ``Σ x xᵀ``.
        n: Number of vectors.
        ddof: 0 for the biased estimate (divide by n, StyleGAN-V's ``FeatureStats``), 1 for the
            unbiased one (divide by n - 1, VideoGPT's ``cov``).

    Returns:
        ``(mean (D,), covariance (D, D))`` as float64 arrays.
    """
    if n - ddof < 1:
        raise ValueError(f"need more than {ddof} feature vectors for a covariance, got {n}")
    s, ss = _f64(total), _f64(outer)
    mean = s / n
    cov = (ss - n * np.outer(mean, mean)) / (n - ddof)
    return mean, (cov + cov.T) / 2  # symmetric up to rounding


def _f64(x: np.ndarray | torch.Tensor) -> np.ndarray:
    if isinstance(x, torch.Tensor):
        return x.detach().to("cpu", torch.float64).numpy()
    return np.asarray(x, dtype=np.float64)
