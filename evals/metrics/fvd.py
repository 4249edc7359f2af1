"""Fréchet Video Distance (Unterthiner et al. 2018) with the I3D Kinetics-400 network, two protocols.

Both protocols embed each clip with I3D (Inception-v1 inflated, trained on Kinetics-400) into its
400 logits (before the softmax), fit a Gaussian to the real and to the generated embeddings, and
report the Fréchet distance between the two fits (:mod:`evals.metrics.frechet`, float64). They
differ in network weights, preprocessing and covariance estimate:

``stylegan_v`` — universome/stylegan-v ``src/metrics/frechet_video_distance.py`` and
``metric_utils.py``, the protocol most papers cite (presets ``fvd2048_16f``, ``fvd2048_128f``):

- network: ``i3d_torchscript.pt``, a TorchScript port of the TF-Hub I3D used by the original FVD
  code; the file carries its own preprocessing;
- call: ``detector(videos, rescale=True, resize=True, return_features=True)`` with ``videos`` a
  uint8 tensor (B, 3, T, H, W) in {0..255} (``rescale`` maps it to [-1, 1] as ``x / 255 * 2 - 1``,
  ``resize`` resizes frames to 224×224, ``return_features`` returns the 400 logits). Float frames
  are first rounded to uint8, as StyleGAN-V does with generator output;
- statistics: raw float64 sums, covariance divided by N (``FeatureStats.get_mean_cov``).

``videogpt`` — wilson1yan/VideoGPT ``videogpt/fvd/fvd.py`` (``get_fvd_logits``) and
``videogpt/data.py`` (``preprocess``):

- network: ``i3d_pretrained_400.pt``, a state dict for ``pytorch_i3d.InceptionI3d``
  (:class:`evals.metrics.i3d.InceptionI3d` here); features are its ``forward`` output, the logits
  averaged over time;
- preprocessing, per frame: uint8 / 255; bilinear resize (``align_corners=False``, no antialias)
  of the shorter side to 224, the longer to ``ceil(side * 224 / short_side)``; center crop 224×224
  (offsets ``(side - 224) // 2``); then ``2 (x - 0.5)`` → [-1, 1]. Float frames are rounded to
  uint8 first, so both input types give one value;
- statistics: covariance divided by N - 1 (VideoGPT's ``cov``).

The Fréchet distance itself uses ``scipy.linalg.sqrtm`` for both (VideoGPT uses an SVD-based trace
of the square root; the two agree to numerical precision).

Without the weights the constructor raises :class:`MetricUnavailable` ("FVD unavailable: I3D weights
not found", where it looked, how to fix) — never a number from another network under the name FVD.
A ``feature_network`` can be injected for tests and timing; its label then says so.
"""

from __future__ import annotations

import math
import os
import warnings
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from einops import rearrange
from torch import nn

from evals.metrics.base import LabelledMetric, MetricLabel, pin_eval
from evals.metrics.frechet import frechet_distance, gaussian_from_sums
from evals.metrics.i3d import INPUT_SIZE, MIN_FRAMES, NUM_CLASSES, InceptionI3d, load_i3d_state_dict
from evals.metrics.inputs import as_frames, to_uint8
from evals.metrics.weight_files import WeightsFile, resolve_weights


@dataclass(frozen=True)
class FVDProtocol:
    """One FVD protocol.

    Attributes:
        name: ``"stylegan_v"`` or ``"videogpt"``.
        weights: Registry name in :data:`simworld.weights.WEIGHTS`.
        network: Human-readable network description for labels.
        preprocessing: One line for labels.
        ddof: Covariance denominator offset (0: divide by N, 1: by N - 1).
        source: Where the protocol is defined.
    """

    name: str
    weights: str
    network: str
    preprocessing: str
    ddof: int
    source: str


FVD_PROTOCOLS: dict[str, FVDProtocol] = {
    p.name: p
    for p in (
        FVDProtocol(
            name="stylegan_v",
            weights="i3d_stylegan_v",
            network="I3D Kinetics-400, TorchScript port of TF-Hub i3d-kinetics-400/1 (i3d_torchscript.pt)",
            preprocessing="uint8 (B, 3, T, H, W) → detector(rescale=True, resize=True, return_features=True)",
            ddof=0,
            source="universome/stylegan-v src/metrics/frechet_video_distance.py",
        ),
        FVDProtocol(
            name="videogpt",
            weights="i3d_videogpt",
            network="I3D Kinetics-400, pytorch_i3d InceptionI3d (i3d_pretrained_400.pt)",
            preprocessing="short side → 224 bilinear, center crop 224, [-1, 1]; logits averaged over time",
            ddof=1,
            source="wilson1yan/VideoGPT videogpt/fvd/fvd.py",
        ),
    )
}


def preprocess_videogpt(frames: torch.Tensor) -> torch.Tensor:
    """VideoGPT's FVD preprocessing: uint8 (B, T, H, W, 3) → float32 (B, 3, T, 224, 224) in [-1, 1].

    Resizes the shorter side to 224 (the longer to ``ceil(side * 224 / short)``, computed in Python
    floats as VideoGPT does), bilinear without antialiasing, center-crops 224×224, scales to [-1, 1].
    """
    B, T, H, W, _ = frames.shape
    x = rearrange(frames, "b t h w c -> (b t) c h w").to(torch.float32) / 255.0
    scale = INPUT_SIZE / min(H, W)
    size = (INPUT_SIZE, math.ceil(W * scale)) if H < W else (math.ceil(H * scale), INPUT_SIZE)
    x = F.interpolate(x, size=size, mode="bilinear", align_corners=False)
    top, left = (x.shape[2] - INPUT_SIZE) // 2, (x.shape[3] - INPUT_SIZE) // 2
    x = x[:, :, top : top + INPUT_SIZE, left : left + INPUT_SIZE]
    x = rearrange(x, "(b t) c h w -> b c t h w", b=B)
    return (x - 0.5) * 2.0


def load_fvd_network(protocol: FVDProtocol, weights: WeightsFile) -> nn.Module:
    """Load the protocol's I3D from its file on the CPU, in eval mode.

    Raises:
        ValueError: The file does not hold what the protocol needs.
    """
    if protocol.name == "stylegan_v":
        with warnings.catch_warnings():
            # torch >= 2.10 deprecates TorchScript; the reference detector exists only in that format.
            warnings.simplefilter("ignore", DeprecationWarning)
            return pin_eval(torch.jit.load(str(weights.path), map_location="cpu"))
    state = torch.load(weights.path, map_location="cpu", weights_only=True)
    if not isinstance(state, dict):
        raise ValueError(f"{weights.path}: expected a state dict, got {type(state).__name__}")
    model = InceptionI3d(NUM_CLASSES)
    load_i3d_state_dict(model, state)
    return pin_eval(model)


class FVD(LabelledMetric):
    """Fréchet Video Distance between real and generated clips (lower is better).

    ``update(videos, real)`` takes uint8 (B, T, H, W, 3) or float (B, T, H, W, 3) in [0, 1] with
    T = ``clip_length`` ≥ 9 (I3D's minimum); real and generated clips must share T, H, W.
    ``compute()`` returns a float64 scalar; it needs ≥ 2 clips per set and warns below
    ``reference_num_clips`` (FVD is biased upward with few clips).

    Args:
        protocol: ``"stylegan_v"`` or ``"videogpt"`` (see the module docstring).
        clip_length: Frames per clip the protocol expects (16 for ``fvd2048_16f``); ``None``: any
            length ≥ 9, the same for all clips.
        reference_num_clips: Clips per set the preset prescribes (2048 for ``fvd2048_16f``).
        weights_path: Explicit weights file.
        weights_dir: Directory searched first for the weights.
        download: Download the weights from their registered URL if they are not found.
        feature_network: Use this network instead of loading the weights (tests, timing). For
            ``stylegan_v`` it is called like the TorchScript detector, for ``videogpt`` like
            ``InceptionI3d``; it must return (B, 400).
        batch_size: Clips per forward pass.
        reset_real_features: ``False`` keeps the real statistics across ``reset()`` (compare many
            generated sets against one real set).
        **kwargs: torchmetrics ``Metric`` options.

    Raises:
        ValueError: Unknown protocol (lists the valid ones) or bad arguments.
        MetricUnavailable: The protocol's I3D weights are not found (and not downloaded).
    """

    higher_is_better = False
    is_differentiable = False
    full_state_update = False

    def __init__(
        self,
        protocol: str = "stylegan_v",
        *,
        clip_length: int | None = 16,
        reference_num_clips: int = 2048,
        weights_path: str | os.PathLike[str] | None = None,
        weights_dir: str | os.PathLike[str] | None = None,
        download: bool = False,
        feature_network: nn.Module | None = None,
        batch_size: int = 8,
        reset_real_features: bool = True,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if protocol not in FVD_PROTOCOLS:
            raise ValueError(f"unknown FVD protocol {protocol!r}; valid options: {', '.join(FVD_PROTOCOLS)}")
        if clip_length is not None and (not isinstance(clip_length, int) or clip_length < MIN_FRAMES):
            raise ValueError(
                f"clip_length must be an int >= {MIN_FRAMES} (I3D's minimum) or None, got {clip_length!r}"
            )
        if reference_num_clips < 2 or batch_size < 1:
            raise ValueError("reference_num_clips must be >= 2 and batch_size >= 1")
        self.protocol = FVD_PROTOCOLS[protocol]
        self.clip_length, self.reference_num_clips = clip_length, reference_num_clips
        self.batch_size, self.reset_real_features = batch_size, reset_real_features
        self.weights_file: WeightsFile | None = None
        if feature_network is None:
            self.weights_file = resolve_weights(
                self.protocol.weights,
                metric="FVD",
                reason="FVD unavailable: I3D weights not found",
                weights_path=weights_path,
                weights_dir=weights_dir,
                download=download,
            )
            feature_network = load_fvd_network(self.protocol, self.weights_file)
        self.network = pin_eval(feature_network)
        D = NUM_CLASSES
        for side in ("real", "generated"):
            self.add_state(f"{side}_sum", torch.zeros(D, dtype=torch.float64), dist_reduce_fx="sum")
            self.add_state(f"{side}_outer", torch.zeros(D, D, dtype=torch.float64), dist_reduce_fx="sum")
            self.add_state(f"{side}_count", torch.tensor(0, dtype=torch.long), dist_reduce_fx="sum")
        self._clip_shapes: dict[str, tuple[int, int, int]] = {}

    def train(self, mode: bool = True) -> FVD:
        """Keep the feature network in eval mode whatever the metric's mode."""
        super().train(mode)
        self.network.eval()
        return self

    @property
    def preset(self) -> str:
        """Preset name, e.g. ``"fvd2048_16f"``."""
        shape = self._clip_shapes.get("real") or self._clip_shapes.get("generated")
        T = self.clip_length or (shape[0] if shape else "any")
        return f"fvd{self.reference_num_clips}_{T}f"

    def update(self, videos: Any, real: bool) -> None:
        """Add real or generated clips.

        Args:
            videos: uint8 (B, T, H, W, 3) or float (B, T, H, W, 3) in [0, 1].
            real: Whether these are real clips (else generated).

        Raises:
            TypeError, ValueError: Input outside the convention, fewer frames than I3D needs, a clip
                length other than ``clip_length``, or clips whose (T, H, W) differ from the other set
                or from earlier updates.
        """
        side = "real" if real else "generated"
        frames = as_frames(videos, f"{side} videos")
        B, T, H, W, _ = frames.shape
        if T < MIN_FRAMES:
            raise ValueError(
                f"{side} videos have {T} frames; I3D needs at least {MIN_FRAMES} (its last pooling "
                "layer spans 2 time steps of T/8)"
            )
        if self.clip_length is not None and T != self.clip_length:
            raise ValueError(
                f"{side} videos have {T} frames, but this FVD was set up for clip_length={self.clip_length} "
                f"({self.preset}); pass clip_length={T} for a {T}-frame protocol"
            )
        for other, shape in self._clip_shapes.items():
            if shape != (T, H, W):
                raise ValueError(
                    f"{side} clips have (T, H, W) = {(T, H, W)} but {other} clips had {shape}: FVD compares "
                    "sets of clips with one length and one resolution"
                )
        self._clip_shapes[side] = (T, H, W)
        features = self.extract_features(frames)
        getattr(self, f"{side}_sum").add_(features.sum(dim=0))
        getattr(self, f"{side}_outer").add_(features.T @ features)
        getattr(self, f"{side}_count").add_(B)

    def extract_features(self, frames: torch.Tensor) -> torch.Tensor:
        """I3D features of checked frames (B, T, H, W, 3) → float64 (B, 400), in chunks of ``batch_size``."""
        u8 = to_uint8(frames.to(self.real_sum.device))
        out = []
        with torch.no_grad():
            for i in range(0, u8.shape[0], self.batch_size):
                chunk = u8[i : i + self.batch_size]
                if self.protocol.name == "stylegan_v":
                    x = rearrange(chunk, "b t h w c -> b c t h w").contiguous()  # uint8, as StyleGAN-V
                    feats = self.network(x, rescale=True, resize=True, return_features=True)
                else:
                    feats = self.network(preprocess_videogpt(chunk))
                if not isinstance(feats, torch.Tensor) or tuple(feats.shape) != (chunk.shape[0], NUM_CLASSES):
                    shape = tuple(feats.shape) if isinstance(feats, torch.Tensor) else type(feats).__name__
                    raise ValueError(
                        f"the FVD network returned {shape}, expected ({chunk.shape[0]}, {NUM_CLASSES})"
                    )
                out.append(feats.double())
        return torch.cat(out)

    def compute(self) -> torch.Tensor:
        """The Fréchet distance between the real and generated Gaussian fits (float64 scalar).

        Raises:
            ValueError: Fewer than 2 clips in either set.
        """
        n_real, n_gen = int(self.real_count), int(self.generated_count)
        if n_real < 2 or n_gen < 2:
            raise ValueError(f"FVD needs at least 2 real and 2 generated clips, got {n_real} and {n_gen}")
        if min(n_real, n_gen) < self.reference_num_clips:
            warnings.warn(
                f"FVD from {n_real} real and {n_gen} generated clips, fewer than the "
                f"{self.reference_num_clips} per set that {self.preset} prescribes: the value is biased "
                f"upward and not comparable to published {self.preset} numbers",
                UserWarning,
                stacklevel=3,  # past torchmetrics' compute wrapper, to the caller
            )
        ddof = self.protocol.ddof
        mu_r, sigma_r = gaussian_from_sums(self.real_sum, self.real_outer, n_real, ddof)
        mu_g, sigma_g = gaussian_from_sums(self.generated_sum, self.generated_outer, n_gen, ddof)
        self._remember(num_real_clips=n_real, num_clips=n_gen)
        return torch.tensor(frechet_distance(mu_r, sigma_r, mu_g, sigma_g), dtype=torch.float64)

    def label(self) -> MetricLabel:
        """Protocol, network, weights hash, clip counts (as of the last ``compute``), length, resolution."""
        n_real = self._remembered.get("num_real_clips", int(self.real_count))
        n_gen = self._remembered.get("num_clips", int(self.generated_count))
        shape = self._clip_shapes.get("real") or self._clip_shapes.get("generated")
        notes = []
        if self.weights_file is None:
            network = f"{type(self.network).__name__} (injected feature network)"
            notes.append("injected feature network, not the published I3D weights: not a published FVD")
        else:
            network = self.protocol.network
            if self.weights_file.verified is None:
                notes.append("weights have no published sha256; hash recorded, not verified")
        if min(n_real, n_gen) < self.reference_num_clips:
            notes.append(f"fewer clips than {self.preset} prescribes ({self.reference_num_clips} per set)")
        pretty = {"stylegan_v": "StyleGAN-V", "videogpt": "VideoGPT"}[self.protocol.name]
        title = f"FVD {self.preset} ({pretty})"
        if self.weights_file is None:  # never a number from another network under the name FVD
            name = type(self.network).__name__
            title = f"Fréchet distance of {name} features, {self.preset} ({pretty}) — not FVD"
        return MetricLabel(
            title=title,
            metric="FVD",
            protocol=(
                f"{self.protocol.name} ({self.protocol.source}): {self.protocol.preprocessing}; "
                f"covariance ddof={self.protocol.ddof}; Fréchet distance via scipy sqrtm in float64"
            ),
            network=network,
            weights_sha256=self.weights_file.sha256 if self.weights_file else None,
            weights_verified=self.weights_file.verified if self.weights_file else None,
            num_clips=n_gen,
            num_real_clips=n_real,
            clip_length=shape[0] if shape else self.clip_length,
            resolution=(shape[1], shape[2]) if shape else None,
            notes=tuple(notes),
        )

    def reset(self) -> None:
        """Reset the statistics (keeping the real ones if ``reset_real_features=False``)."""
        if self.reset_real_features:
            super().reset()
            self._clip_shapes = {}
            return
        kept = {k: getattr(self, k).clone() for k in ("real_sum", "real_outer", "real_count")}
        real_shape = self._clip_shapes.get("real")
        super().reset()
        for k, v in kept.items():
            setattr(self, k, v)
        self._clip_shapes = {"real": real_shape} if real_shape else {}
