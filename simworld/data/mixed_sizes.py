"""``MixedSizes``: give each clip of a training batch its own frame size and duration (NaViT-style).

A collated batch of fixed-size windows (``simworld.data.windows``: T frames of H0×W0) becomes a
batch of clips of different sizes, for a model trained on packed sequences (Dehghani et al. 2023,
"Patch n' Pack: NaViT"; Sora trains on videos at their native size and duration). Per clip:

1. a size (H, W) is drawn from ``sizes`` with probabilities ``weights`` and a duration T_i from
   ``windows`` (uniformly);
2. T_i consecutive frames are taken at a random offset of the window, with their T_i - 1 steps;
3. the frames are resized so that they cover (H, W) with the stored aspect ratio kept (bilinear
   with antialiasing, which averages over the source area when shrinking; skipped at scale 1), and
   a random H×W crop is taken.

Every draw comes from a numpy generator seeded by (seed, epoch, batch position), so the clips of a
batch are a pure function of the stream's position and a resumed run repeats them exactly.

Latent caches (``latents`` (B, T, C, h, w)) are resized in latent space at (H, W) / ``factor``,
where ``factor`` is the latent space's spatial factor: exact for crops, and for ``PixelSpace``
with factor 1 the same as resizing the frames; with folded pixel blocks or a VAE it resizes each
latent channel, an approximation of encoding resized frames.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from einops import rearrange

from simworld.data.windows import STEP_KEYS

_SALT = 0x512E


def check_sizes(sizes: Sequence[Sequence[int]], multiple: int) -> None:
    """Raise ``ValueError`` unless every [H, W] of ``sizes`` is a positive multiple of ``multiple``.

    Args:
        sizes: [H, W] frame sizes in pixels.
        multiple: the latent spatial factor × the DiT patch size.
    """
    bad = [list(s) for s in sizes if len(s) != 2 or min(s) < 1 or s[0] % multiple or s[1] % multiple]
    if bad:
        raise ValueError(
            f"data.sizes must be [H, W] pairs of positive multiples of {multiple} (latent spatial "
            f"factor x model.patch_size); these are not: {bad}"
        )


def resize_cover_crop(clip: torch.Tensor, size: tuple[int, int], offset: tuple[float, float]) -> torch.Tensor:
    """Resize a clip to cover ``size`` keeping its aspect ratio, then crop ``size`` out of it.

    Args:
        clip: float (T, C, H0, W0).
        size: (H, W) of the result.
        offset: (y, x) in [0, 1): where the crop starts, as a share of the slack in each axis.

    Returns:
        float (T, C, H, W).
    """
    H0, W0 = clip.shape[-2:]
    H, W = size
    scale = max(H / H0, W / W0)
    if scale != 1.0:
        cover = (max(H, math.ceil(H0 * scale)), max(W, math.ceil(W0 * scale)))
        clip = F.interpolate(clip, size=cover, mode="bilinear", antialias=True, align_corners=False)
    y = int(offset[0] * (clip.shape[-2] - H + 1))
    x = int(offset[1] * (clip.shape[-1] - W + 1))
    return clip[..., y : y + H, x : x + W]


class MixedSizes:
    """Per-clip frame sizes and durations for a batch stream; see the module docstring.

    Args:
        sizes: [H, W] frame sizes in pixels to draw from; None: the stored size.
        weights: sampling weight of each size (None: uniform).
        windows: clip durations to draw from, each in [2, window]; None: ``window``.
        window: frames of the windows the batches hold.
        seed: seeds the draws (with the epoch and batch position).
        factor: pixels per latent along H and W (latent batches are resized to size / factor).

    Raises:
        ValueError: empty lists, weights that do not match, or durations outside [2, window].
    """

    def __init__(
        self,
        sizes: Sequence[Sequence[int]] | None,
        weights: Sequence[float] | None,
        windows: Sequence[int] | None,
        window: int,
        seed: int,
        factor: int = 1,
    ) -> None:
        check_mixed_sizes(sizes, weights, windows, window)
        self.sizes = [tuple(int(v) for v in s) for s in sizes] if sizes is not None else None
        p = np.asarray(weights, dtype=float) if weights is not None else np.ones(len(self.sizes or [0]))
        self.probabilities = p / p.sum()
        self.windows = list(windows) if windows is not None else [window]
        self.window, self.seed, self.factor = window, seed, factor

    def draw(self, B: int, epoch: int, position: int) -> list[dict[str, Any]]:
        """Per clip of the batch at (epoch, position): size (H, W) or None, duration, offsets."""
        rng = np.random.default_rng([self.seed, epoch, position, _SALT])
        clips = []
        for _ in range(B):
            size = self.sizes[rng.choice(len(self.sizes), p=self.probabilities)] if self.sizes else None
            T = int(rng.choice(self.windows))
            start = int(rng.integers(0, self.window - T + 1))
            clips.append({"size": size, "frames": T, "start": start, "crop": tuple(rng.random(2))})
        return clips

    def __call__(self, batch: dict[str, Any], epoch: int, position: int) -> dict[str, Any]:
        """The batch with its frames (or latents) and steps as per-clip lists; see the module docstring.

        Args:
            batch: a collated batch of ``WindowDataset`` windows.
            epoch: the stream's epoch.
            position: the batch's position in the epoch.

        Returns:
            The batch with ``frames`` (uint8 (T_i, H_i, W_i, 3) each) or ``latents`` (float
            (T_i, C, h_i, w_i) each) and the step keys ((T_i - 1, ...) each) as lists of B tensors,
            and ``start`` moved to each clip's first frame.
        """
        key = "latents" if "latents" in batch else "frames"
        B = batch[key].shape[0]
        out = dict(batch)
        out[key], out["start"] = [], batch["start"].clone()
        for name in STEP_KEYS:
            out[name] = []
        for i, clip in enumerate(self.draw(B, epoch, position)):
            s, T = clip["start"], clip["frames"]
            out[key].append(self._resize(batch[key][i, s : s + T], key, clip))
            for name in STEP_KEYS:
                out[name].append(batch[name][i, s : s + T - 1])
            out["start"][i] += s
        return out

    def _resize(self, clip: torch.Tensor, key: str, draw: dict[str, Any]) -> torch.Tensor:
        """One clip's frames (T, H0, W0, 3) uint8 or latents (T, C, h0, w0) at the drawn size."""
        if draw["size"] is None:
            return clip
        if key == "latents":
            size = (draw["size"][0] // self.factor, draw["size"][1] // self.factor)
            return resize_cover_crop(clip.float(), size, draw["crop"]).to(clip.dtype)
        x = rearrange(clip, "t h w c -> t c h w").float()
        x = resize_cover_crop(x, draw["size"], draw["crop"])
        return rearrange(x.round().clamp(0, 255).to(torch.uint8), "t c h w -> t h w c")


def check_mixed_sizes(
    sizes: Sequence[Sequence[int]] | None,
    weights: Sequence[float] | None,
    windows: Sequence[int] | None,
    window: int,
) -> None:
    """Raise ``ValueError`` for sizes that are not [H, W] pairs, weights that do not match them, or
    durations outside [2, window]."""
    if sizes is not None and (not sizes or any(len(s) != 2 or min(s) < 1 for s in sizes)):
        raise ValueError(f"data.sizes must be a non-empty list of [H, W] pairs of positive ints, got {sizes}")
    if weights is not None:
        if sizes is None or len(weights) != len(sizes) or min(weights) < 0 or sum(weights) <= 0:
            raise ValueError(
                f"data.size_weights needs one weight >= 0 per entry of data.sizes (not all 0); got "
                f"weights {weights} for sizes {sizes}"
            )
    if windows is not None and (not windows or min(windows) < 2 or max(windows) > window):
        raise ValueError(
            f"data.windows must be a non-empty list of clip lengths in [2, data.window={window}], "
            f"got {windows}"
        )
