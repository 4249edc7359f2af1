"""Latent caches: encode every frame of a dataset once, then train the diffusion stage on latents.

``cache_latents(dataset, out, encode)`` runs ``encode`` (e.g. a VAE's encoder) over every
episode and writes a latent cache: a folder in the dataset layout whose manifest has schema
``simworld-latents`` and a ``latent`` section (encoder name, latent shape [C, h, w], dtype), and
whose shards hold ``latents`` (T+1, C, h, w) in place of ``frames``, with the episode's actions,
rewards, terminations, pose and intrinsics (depth is dropped). Each latent episode records the
sha256 of the frame shard it came from: rerunning skips episodes already encoded from the same
bytes, so the cache resumes after an interruption and follows a dataset that grew.
``WindowDataset(out, window=T)`` then yields ``latents`` windows.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm.auto import tqdm

from simworld.data.format import LATENTS_SCHEMA, Manifest, load_manifest
from simworld.data.shards import read_shard
from simworld.data.writer import DatasetWriter

Encoder = Callable[[torch.Tensor], Any]
"""``encode(frames: uint8 (B, H, W, 3) tensor) -> (B, C, h, w) tensor or array``."""

LATENT_DTYPES = ("float16", "float32")


def encode_frames(encode: Encoder, frames: np.ndarray, batch_size: int, dtype: str) -> np.ndarray:
    """Run ``encode`` over uint8 (N, H, W, 3) frames in batches; return (N, C, h, w) of ``dtype``.

    Raises:
        ValueError: the encoder returns something that is not (B, C, h, w) for B frames.
    """
    out = []
    with torch.inference_mode():
        for first in range(0, len(frames), batch_size):
            batch = torch.from_numpy(np.ascontiguousarray(frames[first : first + batch_size]))
            latents = encode(batch)
            latents = (
                latents.detach().float().cpu().numpy()
                if isinstance(latents, torch.Tensor)
                else np.asarray(latents)
            )
            if latents.ndim != 4 or len(latents) != len(batch):
                raise ValueError(
                    f"encode must map uint8 (B, H, W, 3) to (B, C, h, w); for B={len(batch)} it "
                    f"returned shape {latents.shape}"
                )
            out.append(latents.astype(dtype))
    return np.concatenate(out)


def cache_latents(
    dataset: str | Path,
    out: str | Path,
    encode: Encoder,
    *,
    encoder_name: str,
    batch_size: int = 64,
    dtype: str = "float16",
    verify: bool = True,
    progress: bool = True,
) -> Path:
    """Encode every episode of ``dataset`` with ``encode`` into the latent cache ``out``.

    Args:
        dataset: a frame dataset folder.
        out: the latent cache folder (created, or resumed when it exists with the same settings).
        encode: the encoder; called under ``torch.inference_mode``. Move its inputs to its device
            inside it; it receives CPU uint8 frames in [0, 255].
        encoder_name: recorded in the manifest; a cache with another name is not resumed.
        batch_size: frames per ``encode`` call.
        dtype: stored latent dtype, "float16" or "float32".
        verify: check each frame shard's sha256 before encoding it.
        progress: show a progress bar over episodes.

    Returns:
        ``out``.

    Raises:
        ValueError: bad arguments, an encoder output of the wrong shape, latent shapes that differ
            between episodes, or ``out`` holding a cache made with other settings.
        CorruptShardError: a frame shard does not match the dataset's manifest.
    """
    if dtype not in LATENT_DTYPES:
        raise ValueError(f"dtype must be one of {list(LATENT_DTYPES)}, got {dtype!r}")
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    source = load_manifest(dataset)
    if not source.episodes:
        raise ValueError(f"{dataset} has no episodes to encode")
    first = read_shard(dataset, source.episodes[0], keys=("frames",), verify=verify)["frames"][:1]
    shape = list(encode_frames(encode, first, 1, dtype).shape[1:])
    header = Manifest(
        env=source.env,
        action_schema=source.action_schema,
        frames_encoding="npz",
        ground_truth=[k for k in source.ground_truth if k != "depth"],
        schema=LATENTS_SCHEMA,
        source={"kind": "latents", "dataset": str(Path(dataset).resolve())},
        latent={"encoder": encoder_name, "shape": shape, "dtype": dtype},
    )
    writer = DatasetWriter(out, header)
    writer.remove_temporary_files()
    writer.verify_existing()
    done = {r.index: r.info.get("source_sha256") for r in writer.manifest.episodes}
    todo = [r for r in source.episodes if done.get(r.index) != r.sha256]
    t0 = time.perf_counter()
    for record in tqdm(todo, desc=f"encode {Path(dataset).name}", unit="ep", disable=not progress):
        arrays = read_shard(dataset, record, verify=verify)
        arrays.pop("depth", None)
        latents = encode_frames(encode, arrays.pop("frames"), batch_size, dtype)
        if list(latents.shape[1:]) != shape:
            raise ValueError(
                f"episode {record.index} encodes to latents of shape {list(latents.shape[1:])}, "
                f"earlier episodes to {shape}; a latent cache holds one shape"
            )
        info = {**record.info, "source_sha256": record.sha256, "frame_size": record.frame_size}
        writer.write(record.index, {"latents": latents, **arrays}, info, frames_key="latents")
    if todo and progress:
        frames = sum(r.num_frames for r in todo)
        print(f"encoded {frames} frames of {len(todo)} episodes in {time.perf_counter() - t0:.1f}s to {out}")
    return Path(out)


def average_pool_encoder(factor: int = 8) -> Encoder:
    """A deterministic stand-in encoder: (B, H, W, 3) uint8 -> (B, 3, H/factor, W/factor) in [-1, 1].

    For tests and for trying the latent pipeline before a VAE exists.
    """

    def encode(frames: torch.Tensor) -> torch.Tensor:
        x = frames.permute(0, 3, 1, 2).float() / 127.5 - 1.0
        return torch.nn.functional.avg_pool2d(x, factor)

    return encode
