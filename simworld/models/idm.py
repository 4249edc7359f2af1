"""Inverse-dynamics model (IDM): which actions turned one frame into the next.

Given a clip of T frames, the IDM predicts the T - 1 canonical actions between them: a logit for
each of the nine binary keys (``simworld.actions.ACTION_KEYS``) and the camera deltas [pitch, yaw]
in degrees. Like VPT's IDM (Baker et al. 2022) it is non-causal: every transition sees the whole
clip, because the voxel world's physics has momentum (a released key keeps the player moving for
a few ticks) and a transition alone is ambiguous.

Architecture (small enough to train on CPU in minutes). Each transition t (frames t, t+1) is
described three ways, because the motions differ by orders of magnitude: a camera turn shifts the
image by several pixels, a walking step moves the ground by a fraction of one pixel.

1. Features: a shared two-layer CNN turns every frame into features at 1/``feature_stride``
   resolution.
2. Large motion, a correlation (cost volume, after FlowNetC, Dosovitskiy et al. 2015): features of
   frame t times those of frame t+1 shifted horizontally and vertically by up to
   ±``max_displacement`` feature pixels (:func:`correlation`).
3. Small motion, Lucas–Kanade (1981): per-pixel products of the spatial gradients and the
   temporal difference of the grey frames (:func:`flow_terms`), which a conv embeds, and their
   least-squares flow solved in each cell of a ``pool_size``² grid (:func:`regional_flow`).

The cost volume, the features of frame t, their change and the embedded flow terms go through a
strided CNN with GroupNorm and SiLU and adaptive average pooling to ``pool_size``² (the coarse
layout tells a turn from a step: expansion vs shift); with the regional flow they make one token
per transition; a bidirectional transformer over the T - 1 tokens mixes time; two linear heads
give key logits and camera deltas (in units of ``camera_scale`` degrees). The network runs at any
frame size of at least 16×16; the checkpoint records the size it was trained at, and users check
it.

Checkpoint: one folder with the component (``config.json`` + ``model.safetensors``, see
``simworld.models.serialization``) and ``idm.json``: format version, action schema, training frame
size and a free-form training summary. Loading is strict.

Its uses: the controllability probe (``evals.probes.controllability``) reads generated frames with
it; ``simworld train-idm`` trains it on a collected dataset (``simworld.train.idm``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from einops import rearrange
from torch import nn

from simworld import actions as A
from simworld.models.serialization import (
    CheckpointError,
    load_component,
    read_json,
    save_component,
    write_json,
)

IDM_FORMAT_VERSION = 1
IDM_MANIFEST = "idm.json"
MIN_FRAME_SIDE = 16


@dataclass
class IDMConfig:
    """Architecture of an :class:`InverseDynamicsModel`.

    Attributes:
        clip_length: T, frames per input clip (the model predicts T - 1 actions); >= 2.
        feature_channels: width of the per-frame features that are correlated.
        feature_stride: 1 (features at frame resolution) or 2 (half resolution, 4× cheaper).
        max_displacement: the correlation compares horizontal and vertical shifts of up to this many
            feature pixels (2× as many frame pixels): 4d + 1 channels.
        channels: width of each strided conv stage after the correlation (each halves H and W).
        pool_size: side of the adaptive average pooling after the CNN.
        hidden_size: width of the transition tokens and the transformer.
        num_layers: transformer layers over time.
        num_heads: attention heads (must divide ``hidden_size``).
        camera_scale: degrees per unit of the camera output (targets are divided by it).
    """

    clip_length: int = 8
    feature_channels: int = 16
    feature_stride: int = 2
    max_displacement: int = 6
    channels: tuple[int, ...] = (32, 64)
    pool_size: int = 4
    hidden_size: int = 128
    num_layers: int = 2
    num_heads: int = 4
    camera_scale: float = 15.0

    def __post_init__(self) -> None:
        self.channels = tuple(int(c) for c in self.channels)
        if self.clip_length < 2:
            raise ValueError(f"clip_length must be >= 2, got {self.clip_length}")
        if self.feature_stride not in (1, 2):
            raise ValueError(f"feature_stride must be 1 or 2, got {self.feature_stride}")
        if self.feature_channels < 1 or self.max_displacement < 0:
            raise ValueError(
                f"need feature_channels >= 1 and max_displacement >= 0, got {self.feature_channels}, "
                f"{self.max_displacement}"
            )
        if not self.channels or min(self.channels) < 1:
            raise ValueError(f"channels must be a non-empty list of widths >= 1, got {list(self.channels)}")
        if self.pool_size < 1 or self.hidden_size < 1 or self.num_layers < 0 or self.num_heads < 1:
            raise ValueError(
                "need pool_size >= 1, hidden_size >= 1, num_layers >= 0, num_heads >= 1; got "
                f"{self.pool_size}, {self.hidden_size}, {self.num_layers}, {self.num_heads}"
            )
        if self.hidden_size % self.num_heads:
            raise ValueError(f"num_heads={self.num_heads} must divide hidden_size={self.hidden_size}")
        if not self.camera_scale > 0:
            raise ValueError(f"camera_scale must be > 0, got {self.camera_scale}")


@dataclass
class IDMOutput:
    """Predictions for the T - 1 transitions of clips.

    Attributes:
        key_logits: float (B, T-1, 9), one logit per binary key in ``ACTION_KEYS`` order.
        camera: float (B, T-1, 2) [pitch, yaw] deltas in degrees.
    """

    key_logits: torch.Tensor
    camera: torch.Tensor


def _groups(channels: int) -> int:
    return next(g for g in (8, 4, 2, 1) if channels % g == 0)


class InverseDynamicsModel(nn.Module):
    """Frames → the actions between them (see the module docstring).

    Args:
        config: the architecture.
    """

    def __init__(self, config: IDMConfig) -> None:
        super().__init__()
        self.config = config
        c0 = config.feature_channels
        self.features = nn.Sequential(
            nn.Conv2d(3, c0, 3, stride=config.feature_stride, padding=1),
            nn.GroupNorm(_groups(c0), c0),
            nn.SiLU(),
            nn.Conv2d(c0, c0, 3, padding=1),
        )
        self.flow_terms = nn.Sequential(
            nn.Conv2d(len(FLOW_TERMS), c0, 3, stride=config.feature_stride, padding=1),
            nn.GroupNorm(_groups(c0), c0),
            nn.SiLU(),
        )
        layers: list[nn.Module] = []
        width = 4 * config.max_displacement + 1 + 3 * c0
        for c in config.channels:
            layers += [nn.Conv2d(width, c, 3, stride=2, padding=1), nn.GroupNorm(_groups(c), c), nn.SiLU()]
            width = c
        layers.append(nn.AdaptiveAvgPool2d(config.pool_size))
        self.encoder = nn.Sequential(*layers)
        self.to_token = nn.Linear((width + 2) * config.pool_size**2, config.hidden_size)
        self.time_embed = nn.Parameter(torch.zeros(config.clip_length - 1, config.hidden_size))
        layer = nn.TransformerEncoderLayer(
            config.hidden_size,
            config.num_heads,
            dim_feedforward=4 * config.hidden_size,
            dropout=0.0,
            activation="gelu",
            batch_first=True,
            norm_first=True,
        )
        self.temporal = nn.TransformerEncoder(layer, config.num_layers, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(config.hidden_size)
        self.key_head = nn.Linear(config.hidden_size, A.NUM_KEYS)
        self.camera_head = nn.Linear(config.hidden_size, 2)
        nn.init.normal_(self.time_embed, std=0.02)

    def forward(self, frames: torch.Tensor) -> IDMOutput:
        """Predict the actions between consecutive frames.

        Args:
            frames: uint8 (B, T, H, W, 3) with 2 <= T <= ``clip_length`` and H, W >= 16.

        Returns:
            Key logits and camera deltas (degrees) for the T - 1 transitions.

        Raises:
            ValueError: frames outside the convention above.
        """
        if frames.ndim != 5 or frames.shape[-1] != 3 or frames.dtype != torch.uint8:
            raise ValueError(
                f"frames must be uint8 (B, T, H, W, 3), got {frames.dtype} {tuple(frames.shape)}"
            )
        B, T, H, W, _ = frames.shape
        if not 2 <= T <= self.config.clip_length or min(H, W) < MIN_FRAME_SIDE:
            raise ValueError(
                f"frames must have 2..{self.config.clip_length} frames of at least {MIN_FRAME_SIDE}×"
                f"{MIN_FRAME_SIDE}, got T={T}, {H}×{W}"
            )
        dtype = self.to_token.weight.dtype
        x = rearrange(frames, "b t h w c -> (b t) c h w").to(dtype) / 127.5 - 1.0
        f = rearrange(self.features(x), "(b t) c h w -> b t c h w", b=B)  # (B, T, C0, H/2, W/2)
        f1, f2 = f[:, :-1].flatten(0, 1), f[:, 1:].flatten(0, 1)  # (B(T-1), C0, h, w)
        grey = rearrange(x, "(b t) c h w -> b t c h w", b=B).mean(dim=2)  # (B, T, H, W)
        terms = flow_terms(grey[:, :-1].flatten(0, 1), grey[:, 1:].flatten(0, 1))  # (B(T-1), 5, H, W)
        x = torch.cat(
            [correlation(f1, f2, self.config.max_displacement), f1, f2 - f1, self.flow_terms(terms)], 1
        )
        p = self.config.pool_size
        feats = torch.cat([self.encoder(x), regional_flow(terms, p)], dim=1)  # (B(T-1), C + 2, p, p)
        tokens = self.to_token(rearrange(feats, "(b t) c h w -> b t (c h w)", b=B))  # (B, T-1, D)
        tokens = self.norm(self.temporal(tokens + self.time_embed[: T - 1]))  # (B, T-1, D)
        camera = self.camera_head(tokens) * self.config.camera_scale  # (B, T-1, 2) degrees
        return IDMOutput(key_logits=self.key_head(tokens), camera=camera)

    @torch.no_grad()
    def predict(self, frames: np.ndarray, batch_size: int = 32) -> tuple[np.ndarray, np.ndarray]:
        """Actions between the consecutive frames of one video of any length >= 2.

        The video is cut into clips of ``clip_length`` frames that share their boundary frame
        (starts 0, T-1, 2(T-1), ...); when frames remain, one more clip ends at the last frame and
        gives the transitions from its start on. A video shorter than a clip is one clip.

        Args:
            frames: uint8 (N, H, W, 3), N >= 2.
            batch_size: clips per forward pass.

        Returns:
            ``(key_probability, camera)``: float64 (N-1, 9) in [0, 1] and float64 (N-1, 2) degrees.
        """
        frames = np.asarray(frames)
        N, T = len(frames), self.config.clip_length
        if N < 2:
            raise ValueError(f"need at least 2 frames, got {N}")
        starts = list(range(0, max(N - T, 0) + 1, T - 1))
        if starts[-1] + T < N:
            starts.append(N - T)
        L = min(T, N)
        device = self.to_token.weight.device
        keys, camera = np.zeros((N - 1, A.NUM_KEYS)), np.zeros((N - 1, 2))
        for i in range(0, len(starts), batch_size):
            part = starts[i : i + batch_size]
            clips = torch.from_numpy(np.stack([frames[s : s + L] for s in part])).to(device)
            out = self.eval()(clips)
            probs, cams = (
                torch.sigmoid(out.key_logits).double().cpu().numpy(),
                out.camera.double().cpu().numpy(),
            )
            for j, s in enumerate(part):
                keys[s : s + L - 1], camera[s : s + L - 1] = probs[j], cams[j]
        return keys, camera


FLOW_TERMS = ("Ix*It", "Iy*It", "Ix*Ix", "Iy*Iy", "Ix*Iy")
"""The Lucas–Kanade terms of :func:`flow_terms`, in channel order."""


def flow_terms(g1: torch.Tensor, g2: torch.Tensor, gain: float = 10.0) -> torch.Tensor:
    """Per-pixel Lucas–Kanade terms of two grey frames (Lucas & Kanade 1981).

    With spatial gradients Ix, Iy (central differences of the mean of both frames) and the temporal
    difference It = g2 - g1, the least-squares flow of a window solves
    ``[[ΣIx², ΣIxIy], [ΣIxIy, ΣIy²]] v = -[ΣIxIt, ΣIyIt]``: the network pools these products over
    its receptive field, which measures sub-pixel motion (walking moves the ground by a fraction of
    a pixel per step at 32×32) that a correlation over whole-pixel shifts cannot see.

    Args:
        g1: float (N, H, W) grey frames in [-1, 1].
        g2: float (N, H, W) the next frames.
        gain: scale of the products (they are small: gradients of smooth images).

    Returns:
        float (N, 5, H, W) in ``FLOW_TERMS`` order.
    """
    mean = (g1 + g2)[:, None] / 2  # (N, 1, H, W)
    padded = torch.nn.functional.pad(mean, (1, 1, 1, 1), mode="replicate")
    Ix = (padded[..., 1:-1, 2:] - padded[..., 1:-1, :-2]) / 2
    Iy = (padded[..., 2:, 1:-1] - padded[..., :-2, 1:-1]) / 2
    It = (g2 - g1)[:, None]
    return gain * torch.cat([Ix * It, Iy * It, Ix * Ix, Iy * Iy, Ix * Iy], dim=1)


def regional_flow(terms: torch.Tensor, grid: int, eps: float = 1e-3) -> torch.Tensor:
    """Lucas–Kanade flow of each cell of a ``grid``×``grid`` partition, from :func:`flow_terms`.

    Solves the 2×2 least-squares system of each cell (sums replaced by means; ``eps`` regularises
    flat cells towards zero flow) and clamps the result to ±3 pixels (beyond that the linearisation
    is meaningless; the correlation covers large motions).

    Args:
        terms: float (N, 5, H, W) in ``FLOW_TERMS`` order.
        grid: cells per side.
        eps: added to the diagonal of each cell's system (in units of ``gain``).

    Returns:
        float (N, 2, grid, grid): horizontal and vertical flow in pixels.
    """
    s = torch.nn.functional.adaptive_avg_pool2d(terms, grid)
    xt, yt, xx, yy, xy = s.unbind(dim=1)
    xx, yy = xx + eps, yy + eps
    det = xx * yy - xy * xy
    u = -(yy * xt - xy * yt) / det
    v = -(xx * yt - xy * xt) / det
    return torch.stack([u, v], dim=1).clamp(-3.0, 3.0)


def correlation(f1: torch.Tensor, f2: torch.Tensor, max_displacement: int) -> torch.Tensor:
    """A cost volume along the image axes: channel-mean products of ``f1`` with ``f2`` shifted.

    FlowNetC (Dosovitskiy et al. 2015) correlates every 2-D displacement; here only horizontal and
    vertical ones (a cross, 4d + 1 channels instead of (2d + 1)²), which is what turning (yaw:
    horizontal, pitch: vertical), strafing, jumping and walking (expansion: horizontal at the sides,
    vertical at the top and bottom) produce, at a fifth of the cost for d = 4.

    Args:
        f1: float (N, C, h, w) features of the first frames.
        f2: float (N, C, h, w) features of the next frames.
        max_displacement: d; displacements -d..d (zero padding outside the image).

    Returns:
        float (N, 4d + 1, h, w): channels 0..2d hold horizontal shifts dx = -d..d,
        ``mean_c f1[c, y, x] · f2[c, y, x + dx]``; channels 2d + 1.. the vertical shifts dy = -d..-1,
        1..d, ``mean_c f1[c, y, x] · f2[c, y + dy, x]``.
    """
    d = max_displacement
    h, w = f1.shape[-2:]
    padded = torch.nn.functional.pad(f2, (d, d, d, d))
    shifts = [(0, dx) for dx in range(-d, d + 1)] + [(dy, 0) for dy in range(-d, d + 1) if dy]
    out = [(f1 * padded[..., d + dy : d + dy + h, d + dx : d + dx + w]).mean(dim=1) for dy, dx in shifts]
    return torch.stack(out, dim=1)


@dataclass
class IDMCheckpoint:
    """A loaded IDM with what its folder records.

    Attributes:
        model: the network, in eval mode.
        frame_size: (H, W) it was trained at.
        training: free-form summary (data, steps, validation scores).
        path: the folder it was loaded from.
    """

    model: InverseDynamicsModel
    frame_size: tuple[int, int]
    training: dict[str, Any] = field(default_factory=dict)
    path: Path | None = None


def save_idm(
    folder: str | Path,
    model: InverseDynamicsModel,
    frame_size: tuple[int, int],
    training: dict[str, Any] | None = None,
) -> Path:
    """Write an IDM folder: ``config.json`` + ``model.safetensors`` + ``idm.json`` (written last).

    Returns:
        The folder.
    """
    folder = save_component(folder, model.config, model)
    write_json(
        folder / IDM_MANIFEST,
        {
            "format_version": IDM_FORMAT_VERSION,
            "action_schema": {"name": "simworld.actions", "flat_dim": A.FLAT_DIM},
            "frame_size": [int(frame_size[0]), int(frame_size[1])],
            "training": dict(training or {}),
        },
    )
    return folder


def load_idm(folder: str | Path, device: str | torch.device = "cpu") -> IDMCheckpoint:
    """Load an IDM folder written by :func:`save_idm` (strictly).

    Raises:
        CheckpointError: a missing or malformed file, another format version or action schema,
            or weights that do not match the config (names the file).
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise CheckpointError(
            f"{folder}: no inverse-dynamics model folder (train one with `simworld train-idm`)"
        )
    path = folder / IDM_MANIFEST
    meta = read_json(path)
    expected = {"format_version", "action_schema", "frame_size", "training"}
    if set(meta) != expected:
        raise CheckpointError(f"{path}: expected keys {sorted(expected)}, got {sorted(meta)}")
    if meta["format_version"] != IDM_FORMAT_VERSION:
        raise CheckpointError(
            f"{path}: format_version {meta['format_version']!r}, this simworld reads {IDM_FORMAT_VERSION}"
        )
    schema = {"name": "simworld.actions", "flat_dim": A.FLAT_DIM}
    if meta["action_schema"] != schema:
        raise CheckpointError(f"{path}: action_schema {meta['action_schema']!r}, expected {schema!r}")
    size = meta["frame_size"]
    if not (isinstance(size, list) and len(size) == 2 and all(isinstance(s, int) and s > 0 for s in size)):
        raise CheckpointError(f"{path}: frame_size must be [H, W], got {size!r}")
    model = load_component(folder, InverseDynamicsModel, IDMConfig, device=device)
    return IDMCheckpoint(model, (size[0], size[1]), dict(meta["training"]), folder)


# ----------------------------------------------------------------------------------------- scoring


def score_actions(
    key_probability: np.ndarray,
    camera: np.ndarray,
    true_keys: np.ndarray,
    true_camera: np.ndarray,
    threshold: float = 0.5,
) -> dict[str, Any]:
    """Precision/recall/F1 per key and camera errors of predicted actions against commanded ones.

    Args:
        key_probability: float (N, 9) predicted probabilities.
        camera: float (N, 2) predicted [pitch, yaw] degrees.
        true_keys: (N, 9) commanded keys, 0/1.
        true_camera: float (N, 2) commanded [pitch, yaw] degrees.
        threshold: a key is predicted pressed when its probability is >= this.

    Returns:
        ``{"keys": {key: {"precision", "recall", "f1", "support", "predicted"}}, "macro_f1",
        "camera_mae": [pitch, yaw], "yaw_sign_accuracy", "yaw_sign_support"}``. Undefined values
        (no commanded or no predicted positive) are NaN; ``macro_f1`` averages the F1 of keys
        commanded at least once; the yaw sign accuracy counts transitions whose commanded
        |yaw| >= 1°, and a prediction within ±0.5° of 0 counts as wrong.
    """
    pred = np.asarray(key_probability) >= threshold
    true = np.asarray(true_keys) > 0.5
    keys: dict[str, dict[str, float]] = {}
    for i, name in enumerate(A.ACTION_KEYS):
        tp = float(np.sum(pred[:, i] & true[:, i]))
        fp = float(np.sum(pred[:, i] & ~true[:, i]))
        fn = float(np.sum(~pred[:, i] & true[:, i]))
        keys[name] = {
            "precision": tp / (tp + fp) if tp + fp else float("nan"),
            "recall": tp / (tp + fn) if tp + fn else float("nan"),
            "f1": 2 * tp / (2 * tp + fp + fn) if 2 * tp + fp + fn else float("nan"),
            "support": tp + fn,
            "predicted": tp + fp,
        }
    f1s = [v["f1"] for v in keys.values() if v["support"] > 0]
    camera, true_camera = np.asarray(camera, np.float64), np.asarray(true_camera, np.float64)
    turning = np.abs(true_camera[:, 1]) >= 1.0
    signs = np.sign(np.where(np.abs(camera[:, 1]) < 0.5, 0.0, camera[:, 1]))
    return {
        "keys": keys,
        "macro_f1": float(np.mean(f1s)) if f1s else float("nan"),
        "camera_mae": np.abs(camera - true_camera).mean(axis=0).tolist() if len(camera) else [np.nan] * 2,
        "yaw_sign_accuracy": float(np.mean(signs[turning] == np.sign(true_camera[turning, 1])))
        if turning.any()
        else float("nan"),
        "yaw_sign_support": int(turning.sum()),
    }
