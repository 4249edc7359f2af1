"""The world-model checkpoint: one folder, one sub-folder per component, a manifest. No pickle.

Layout::

    <checkpoint>/
      world_model.json        manifest (``WorldModelManifest``), written last
      vae/ or pixel/          latent space: config.json (+ model.safetensors for the VAE)
      dit/                    config.json + model.safetensors
      heads/                  config.json + model.safetensors (reward/termination head)

The manifest holds everything needed to sample: format version, action schema (name + flat
length), frame size (H, W), latent space (kind, folder, factors, channels), the noise schedule
and parameterisation, sampler defaults, ``max_context_frames``, and a free-form training summary.
Training state (optimizer, EMA, step, RNG, data position) is not part of it; a trainer keeps it
in its own ``train_state/`` folder beside these, which saving here leaves alone.

Loading is strict: a manifest or component config with unknown or missing keys, another format
version, weights with missing/unexpected keys or wrong shapes, or components that do not fit
together raise ``CheckpointError`` (a ``ValueError``) naming the file.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from simworld import actions as A
from simworld.diffusion.samplers import SamplerConfig
from simworld.diffusion.schedule import NoiseScheduleConfig
from simworld.models.dit import DiT, DiTConfig
from simworld.models.heads import RewardHeadConfig, RewardTerminationHead
from simworld.models.pixel_space import PixelSpace
from simworld.models.serialization import (
    CheckpointError,
    config_from_dict,
    load_component,
    read_json,
    save_component,
    write_json,
)
from simworld.models.vae import VideoVAE

FORMAT_VERSION = 1
MANIFEST_NAME = "world_model.json"
#: Bundled starting contexts of a checkpoint (the learned env's default reset), non-pickle npz.
CONTEXTS_FILE = "contexts/contexts.npz"
ACTION_SCHEMA_NAME = "simworld.actions"
LATENT_KINDS: dict[str, type] = {"vae": VideoVAE, "pixel": PixelSpace}
"""Latent-space kind -> class; the kind is also the name of its sub-folder."""

__all__ = [
    "CheckpointError",
    "Checkpoint",
    "WorldModelManifest",
    "save_checkpoint",
    "load_checkpoint",
    "read_manifest",
    "latent_kind",
]


@dataclass(frozen=True)
class WorldModelManifest:
    """Contents of ``world_model.json``.

    Attributes:
        format_version: checkpoint format version (``FORMAT_VERSION``).
        action_schema: ``{"name": "simworld.actions", "flat_dim": 21}``.
        frame_size: [H, W] of the env frames.
        latent_space: ``{"kind", "folder", "spatial_factor", "temporal_factor", "latent_channels"}``.
        noise_schedule: ``NoiseScheduleConfig`` fields (parameterisation included).
        sampler: ``SamplerConfig`` fields (defaults for generation).
        max_context_frames: sliding window of context frames.
        training: free-form JSON summary (data, steps, losses, ...).
    """

    format_version: int
    action_schema: dict[str, Any]
    frame_size: list[int]
    latent_space: dict[str, Any]
    noise_schedule: dict[str, Any]
    sampler: dict[str, Any]
    max_context_frames: int
    training: dict[str, Any] = field(default_factory=dict)


@dataclass
class Checkpoint:
    """The loaded components of a checkpoint.

    Attributes:
        manifest: the manifest.
        latent_space: ``VideoVAE`` or ``PixelSpace``.
        dit: the DiT.
        head: the reward/termination head.
    """

    manifest: WorldModelManifest
    latent_space: VideoVAE | PixelSpace
    dit: DiT
    head: RewardTerminationHead

    @property
    def sampler(self) -> SamplerConfig:
        """Sampler defaults."""
        return SamplerConfig(**self.manifest.sampler)

    @property
    def noise_schedule(self) -> NoiseScheduleConfig:
        """The training noise schedule."""
        return NoiseScheduleConfig(**self.manifest.noise_schedule)


def latent_kind(latent_space: Any) -> str:
    """The kind ("vae" or "pixel") of a latent-space object.

    Raises:
        TypeError: neither a ``VideoVAE`` nor a ``PixelSpace``.
    """
    for kind, cls in LATENT_KINDS.items():
        if isinstance(latent_space, cls):
            return kind
    raise TypeError(
        f"latent space must be one of {[c.__name__ for c in LATENT_KINDS.values()]}, "
        f"got {type(latent_space).__name__}"
    )


def _latent_summary(latent_space: VideoVAE | PixelSpace) -> dict[str, Any]:
    kind, cfg = latent_kind(latent_space), latent_space.config
    return {
        "kind": kind,
        "folder": kind,
        "spatial_factor": cfg.spatial_factor,
        "temporal_factor": cfg.temporal_factor,
        "latent_channels": cfg.latent_channels,
    }


def save_checkpoint(
    path: str | Path,
    *,
    latent_space: VideoVAE | PixelSpace,
    dit: DiT,
    head: RewardTerminationHead,
    frame_size: tuple[int, int],
    sampler: SamplerConfig,
    max_context_frames: int,
    noise_schedule: NoiseScheduleConfig | None = None,
    training: dict[str, Any] | None = None,
) -> Path:
    """Write a checkpoint folder (components first, the manifest last, atomically).

    Args:
        path: the folder (created; other content such as ``train_state/`` is left alone).
        latent_space: the VAE or pixel space.
        dit: the DiT.
        head: the reward/termination head.
        frame_size: (H, W) of env frames.
        sampler: sampler defaults.
        max_context_frames: sliding window of context frames.
        noise_schedule: the schedule the DiT was trained with (default: the standard one).
        training: JSON-serialisable training summary.

    Returns:
        The folder.
    """
    path = Path(path)
    manifest = WorldModelManifest(
        format_version=FORMAT_VERSION,
        action_schema={"name": ACTION_SCHEMA_NAME, "flat_dim": A.FLAT_DIM},
        frame_size=[int(frame_size[0]), int(frame_size[1])],
        latent_space=_latent_summary(latent_space),
        noise_schedule=dataclasses.asdict(noise_schedule or NoiseScheduleConfig()),
        sampler=dataclasses.asdict(sampler),
        max_context_frames=int(max_context_frames),
        training=dict(training or {}),
    )
    _check_fit(manifest, dit.config, head.config, path / MANIFEST_NAME)
    latent_space.save_pretrained(path / manifest.latent_space["folder"])
    save_component(path / "dit", dit.config, dit)
    save_component(path / "heads", head.config, head)
    tmp = path / f".{MANIFEST_NAME}.tmp"
    write_json(tmp, dataclasses.asdict(manifest))
    os.replace(tmp, path / MANIFEST_NAME)
    return path


def read_manifest(path: str | Path) -> WorldModelManifest:
    """Read and validate ``world_model.json`` of the checkpoint folder ``path``.

    Raises:
        CheckpointError: missing file, another format version, unknown/missing keys or bad values.
    """
    file = Path(path) / MANIFEST_NAME
    data = read_json(file)
    if data.get("format_version") != FORMAT_VERSION:
        raise CheckpointError(
            f"{file}: format_version {data.get('format_version')!r} is not supported; "
            f"this simworld reads format_version {FORMAT_VERSION}"
        )
    manifest = config_from_dict(WorldModelManifest, data, file)
    schema = manifest.action_schema
    if schema != {"name": ACTION_SCHEMA_NAME, "flat_dim": A.FLAT_DIM}:
        raise CheckpointError(
            f"{file}: action_schema must be {{'name': {ACTION_SCHEMA_NAME!r}, "
            f"'flat_dim': {A.FLAT_DIM}}}, got {schema}"
        )
    latent = manifest.latent_space
    expected = {"kind", "folder", "spatial_factor", "temporal_factor", "latent_channels"}
    if set(latent) != expected or latent["kind"] not in LATENT_KINDS:
        raise CheckpointError(
            f"{file}: latent_space needs keys {sorted(expected)} and kind in "
            f"{list(LATENT_KINDS)}, got {latent}"
        )
    for section, cls in (("sampler", SamplerConfig), ("noise_schedule", NoiseScheduleConfig)):
        config_from_dict(cls, getattr(manifest, section), f"{file} [{section}]")
    if len(manifest.frame_size) != 2 or min(manifest.frame_size) < 1 or manifest.max_context_frames < 1:
        raise CheckpointError(
            f"{file}: frame_size must be [H, W] > 0 and max_context_frames >= 1, got "
            f"{manifest.frame_size} and {manifest.max_context_frames}"
        )
    return manifest


def _check_fit(manifest: WorldModelManifest, dit: DiTConfig, head: RewardHeadConfig, source: Path) -> None:
    """Raise CheckpointError if the components do not fit together."""
    latent, (H, W) = manifest.latent_space, manifest.frame_size
    step = latent["spatial_factor"] * dit.patch_size
    problems = []
    if dit.in_channels != latent["latent_channels"]:
        problems.append(f"DiT in_channels {dit.in_channels} != latent_channels {latent['latent_channels']}")
    if dit.action_dim != A.FLAT_DIM:
        problems.append(f"DiT action_dim {dit.action_dim} != FLAT_DIM {A.FLAT_DIM}")
    if head.in_dim != dit.hidden_size:
        problems.append(f"head in_dim {head.in_dim} != DiT hidden_size {dit.hidden_size}")
    if H % step or W % step:
        problems.append(f"frame size {H}x{W} not divisible by spatial_factor * patch_size = {step}")
    if problems:
        raise CheckpointError(f"{source}: components do not fit: " + "; ".join(problems))


def load_checkpoint(
    path: str | Path, device: torch.device | str = "cpu", dtype: torch.dtype = torch.float32
) -> Checkpoint:
    """Load every component of a checkpoint, strictly.

    Args:
        path: the checkpoint folder.
        device: where to put the models.
        dtype: floating dtype of the models.

    Raises:
        CheckpointError: see the module docstring (names the file).
    """
    path = Path(path)
    manifest = read_manifest(path)
    latent = manifest.latent_space
    folder = path / latent["folder"]
    try:
        latent_space = LATENT_KINDS[latent["kind"]].from_pretrained(folder, device=device, dtype=dtype)
    except FileNotFoundError as err:
        raise CheckpointError(f"{folder}: {err}") from err
    except CheckpointError:
        raise
    except ValueError as err:
        raise CheckpointError(f"{folder}: {err}") from err
    if _latent_summary(latent_space) != latent:
        raise CheckpointError(
            f"{path / MANIFEST_NAME}: latent_space {latent} does not match {folder}: "
            f"{_latent_summary(latent_space)}"
        )
    dit = load_component(path / "dit", DiT, DiTConfig, device, dtype)
    head = load_component(path / "heads", RewardTerminationHead, RewardHeadConfig, device, dtype)
    _check_fit(manifest, dit.config, head.config, path / MANIFEST_NAME)
    return Checkpoint(manifest=manifest, latent_space=latent_space, dit=dit, head=head)


def write_contexts(checkpoint: str | Path, frames: Any, actions: Any) -> Path:
    """Bundle starting contexts with a checkpoint (written atomically).

    Args:
        checkpoint: the checkpoint folder.
        frames: uint8 (K, T, H, W, 3) real frames.
        actions: float (K, T-1, FLAT_DIM) the flat canonical actions between them.

    Returns:
        The file written (``<checkpoint>/contexts/contexts.npz``).

    Raises:
        ValueError: wrong dtype or shapes.
    """
    import numpy as np

    file = Path(checkpoint) / CONTEXTS_FILE
    frames, actions = np.asarray(frames), np.asarray(actions, np.float32)
    want_actions = (frames.shape[0], frames.shape[1] - 1, A.FLAT_DIM) if frames.ndim == 5 else None
    if frames.dtype != np.uint8 or frames.ndim != 5 or actions.shape != want_actions:
        raise ValueError(
            f"need frames uint8 (K, T, H, W, 3) and actions (K, T-1, {A.FLAT_DIM}), got "
            f"{frames.dtype} {frames.shape} and {actions.shape}"
        )
    file.parent.mkdir(parents=True, exist_ok=True)
    tmp = file.with_name(f".{file.name}.tmp")
    with open(tmp, "wb") as fh:
        np.savez(fh, frames=frames, actions=actions)
    os.replace(tmp, file)
    return file
