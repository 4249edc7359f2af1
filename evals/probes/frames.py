"""Frame-level measurements the probes share: PSNR, SSIM, LPIPS (whole frame and masked), sharpness,
colour statistics and motion energy.

All take uint8 (T, H, W, 3) numpy frames and return float64 (T,) arrays, one value per frame.
Conventions, stated once so that every probe label can point here:

- **PSNR** is ``10 log10(1 / MSE)`` on RGB in [0, 1]. Identical frames would give +inf; here the
  MSE is floored at 1e-10, so the value is capped at **100 dB** ("PSNR, capped at 100 dB"), which
  keeps means and bootstrap intervals finite. The full-frame value equals
  ``evals.metrics.PSNR`` below the cap.
- **masked PSNR** uses the MSE over the pixels of a boolean mask (all three channels); NaN when
  the mask is empty.
- **SSIM** is ``evals.metrics.SSIM``'s per-frame value (Gaussian window 11, σ 1.5).
- **LPIPS** is ``evals.metrics.LPIPS`` v0.1 (alex by default) per frame; **masked LPIPS** is the
  mean of the LPIPS spatial distance map (``lpips`` package, ``spatial=True``: each layer's
  distance upsampled to the frame and summed) over the mask. When the trunk weights are missing,
  ``FrameScorer.lpips_available`` is False, ``lpips_unavailable`` says why, and LPIPS calls raise
  ``MetricUnavailable`` (probes then omit LPIPS rows and record the reason; no substitute).
- **sharpness** is the variance of the 3×3 Laplacian (OpenCV ``CV_64F``) of the grey frame in [0, 1].
- **motion energy** is the mean absolute difference between consecutive frames (grey, [0, 1])
  over a mask: how much a screen region changes.
"""

from __future__ import annotations

from typing import Any

import cv2
import numpy as np
import torch

from evals.metrics.base import MetricUnavailable
from evals.metrics.ssim import SSIM
from simworld.lpips_net import MIN_SIDE

PSNR_CAP_DB = 100.0
MSE_FLOOR = 10 ** (-PSNR_CAP_DB / 10)

PSNR_PROTOCOL = "RGB in [0, 1], 10·log10(1/MSE), capped at 100 dB (MSE floored at 1e-10)"
SSIM_PROTOCOL = "torchmetrics SSIM, RGB in [0, 1], Gaussian window 11 σ=1.5, data_range 1"
SHARPNESS_PROTOCOL = "variance of the 3×3 Laplacian of the grey frame in [0, 1] (OpenCV)"
MOTION_PROTOCOL = "mean |frame_t - frame_t-1| of the grey frame in [0, 1] over the region"


def _f01(frames: np.ndarray) -> np.ndarray:
    frames = np.asarray(frames)
    if frames.dtype != np.uint8 or frames.ndim != 4 or frames.shape[-1] != 3:
        raise ValueError(f"frames must be uint8 (T, H, W, 3), got {frames.dtype} {frames.shape}")
    return frames.astype(np.float64) / 255.0


def _pair(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    a, b = _f01(a), _f01(b)
    if a.shape != b.shape:
        raise ValueError(f"frame shapes differ: {a.shape} vs {b.shape}")
    return a, b


def psnr(generated: np.ndarray, real: np.ndarray, mask: np.ndarray | None = None) -> np.ndarray:
    """float64 (T,) PSNR in dB, capped at 100 dB; over ``mask`` (bool (T, H, W)) when given."""
    g, r = _pair(generated, real)
    err = ((g - r) ** 2).mean(axis=-1)  # (T, H, W)
    if mask is None:
        mse = err.reshape(len(err), -1).mean(axis=1)
    else:
        mask = np.broadcast_to(np.asarray(mask, bool), err.shape)
        n = mask.reshape(len(err), -1).sum(axis=1)
        with np.errstate(invalid="ignore", divide="ignore"):
            mse = np.where(n > 0, (err * mask).reshape(len(err), -1).sum(axis=1) / np.maximum(n, 1), np.nan)
    return 10 * np.log10(1.0 / np.maximum(mse, MSE_FLOOR))


def ssim(generated: np.ndarray, real: np.ndarray) -> np.ndarray:
    """float64 (T,) SSIM (``evals.metrics.SSIM``'s per-frame value)."""
    g, r = _pair(generated, real)
    scores = SSIM().frame_scores(torch.from_numpy(g[None]).float(), torch.from_numpy(r[None]).float())
    return scores[0].numpy()


def grey(frames: np.ndarray) -> np.ndarray:
    """float64 (T, H, W) luma (ITU-R BT.601) in [0, 1]."""
    f = _f01(frames)
    return f @ np.array([0.299, 0.587, 0.114])


def sharpness(frames: np.ndarray) -> np.ndarray:
    """float64 (T,) variance of the Laplacian of each grey frame."""
    return np.array([cv2.Laplacian(g, cv2.CV_64F, ksize=1).var() for g in grey(frames)])


def colour_stats(frames: np.ndarray) -> np.ndarray:
    """float64 (T, 6): per-channel mean and standard deviation (R, G, B means, then stds) in [0, 1]."""
    f = _f01(frames).reshape(len(frames), -1, 3)
    return np.concatenate([f.mean(axis=1), f.std(axis=1)], axis=1)


def motion_energy(frames: np.ndarray, mask: np.ndarray | None = None) -> np.ndarray:
    """float64 (T-1,) mean absolute grey change between consecutive frames, over ``mask`` (H, W)."""
    g = grey(frames)
    d = np.abs(np.diff(g, axis=0))
    if mask is None:
        return d.reshape(len(d), -1).mean(axis=1)
    m = np.asarray(mask, bool)
    if not m.any():
        return np.full(len(d), np.nan)
    return d[:, m].mean(axis=1)


class FrameScorer:
    """PSNR/SSIM/LPIPS of prediction vs truth, with LPIPS loaded once (or its absence explained).

    Args:
        lpips_net: "alex" (default) or "vgg"; None disables LPIPS ("not requested").
        weights_dir: directory searched first for the LPIPS trunk weights.
        device: where LPIPS runs.
        batch_size: frames per LPIPS forward.
    """

    def __init__(
        self,
        lpips_net: str | None = "alex",
        weights_dir: str | None = None,
        device: str | torch.device = "cpu",
        batch_size: int = 64,
    ) -> None:
        self.device = torch.device(device)
        self.batch_size = batch_size
        self._lpips: Any = None
        self.lpips_net = lpips_net
        self.min_side = MIN_SIDE.get(lpips_net or "alex", 31)
        self.lpips_unavailable = ""
        self.lpips_label = ""
        if lpips_net is None:
            self.lpips_unavailable = "LPIPS not requested"
            return
        from evals.metrics.lpips import LPIPS

        try:
            metric = LPIPS(net=lpips_net, weights_dir=weights_dir)
        except MetricUnavailable as err:
            self.lpips_unavailable = str(err)
            return
        self._lpips = metric.net.to(self.device)
        self.lpips_label = metric.title()
        self.lpips_protocol = metric.protocol()
        self.lpips_weights = metric.weights()

    @property
    def lpips_available(self) -> bool:
        """Whether LPIPS can be computed."""
        return self._lpips is not None

    def _lpips_maps(self, generated: np.ndarray, real: np.ndarray, spatial: bool) -> np.ndarray:
        if self._lpips is None:
            raise MetricUnavailable(self.lpips_unavailable)
        g, r = _pair(generated, real)
        if min(g.shape[1:3]) < self.min_side:
            raise ValueError(
                f"LPIPS ({self.lpips_net}) needs frames of at least {self.min_side}×{self.min_side}, "
                f"got {g.shape[1]}×{g.shape[2]}"
            )
        gt = torch.from_numpy(g).float().permute(0, 3, 1, 2) * 2 - 1
        rt = torch.from_numpy(r).float().permute(0, 3, 1, 2) * 2 - 1
        net, out = self._lpips, []
        old = net.spatial
        net.spatial = spatial
        try:
            with torch.no_grad():
                for i in range(0, len(gt), self.batch_size):
                    d = net(
                        gt[i : i + self.batch_size].to(self.device),
                        rt[i : i + self.batch_size].to(self.device),
                    )
                    out.append(d[:, 0].double().cpu())
        finally:
            net.spatial = old
        return torch.cat(out).numpy()

    def lpips(self, generated: np.ndarray, real: np.ndarray) -> np.ndarray:
        """float64 (T,) LPIPS distances (lower is better).

        Raises:
            MetricUnavailable: no trunk weights (see ``lpips_unavailable``).
        """
        return self._lpips_maps(generated, real, spatial=False).reshape(len(generated))

    def masked_lpips(self, generated: np.ndarray, real: np.ndarray, mask: np.ndarray) -> np.ndarray:
        """float64 (T,) mean of the LPIPS spatial map over ``mask`` (bool (T, H, W)); NaN if empty.

        Raises:
            MetricUnavailable: no trunk weights.
        """
        maps = self._lpips_maps(generated, real, spatial=True)  # (T, H, W)
        mask = np.broadcast_to(np.asarray(mask, bool), maps.shape)
        n = mask.reshape(len(maps), -1).sum(axis=1)
        total = (maps * mask).reshape(len(maps), -1).sum(axis=1)
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(n > 0, total / np.maximum(n, 1), np.nan)

    psnr = staticmethod(psnr)
    ssim = staticmethod(ssim)
