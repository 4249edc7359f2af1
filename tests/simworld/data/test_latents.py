"""Latent caches: encode once with a deterministic encoder, resume, and read latent windows."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from simworld.data.latents import average_pool_encoder, cache_latents
from simworld.data.validate import validate_dataset
from simworld.data.windows import WindowDataset


def test_cache_latents_and_read_latent_windows(tmp_path: Path, make_dataset) -> None:
    frames_ds = make_dataset(tmp_path / "ds", [9, 12, 15])
    calls = []

    def encode(frames: torch.Tensor) -> torch.Tensor:
        calls.append(len(frames))
        return average_pool_encoder(4)(frames)

    out = cache_latents(
        frames_ds, tmp_path / "lat", encode, encoder_name="avgpool4", batch_size=5, progress=False
    )
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["schema"] == "simworld-latents"
    assert manifest["latent"] == {"encoder": "avgpool4", "shape": [3, 2, 2], "dtype": "float16"}
    assert max(calls) == 5 and sum(calls) == 1 + 10 + 13 + 16  # one probe frame, then every frame once
    assert validate_dataset(out) == []

    ds = WindowDataset(out, window=4, split="all", shuffle=False)
    sample = next(iter(ds))
    assert "frames" not in sample and sample["latents"].shape == (4, 3, 2, 2)
    assert sample["latents"].dtype == torch.float16 and sample["actions"].shape == (3, 21)
    frames = WindowDataset(frames_ds, window=4, split="all", shuffle=False)
    reference = average_pool_encoder(4)(next(iter(frames))["frames"])
    np.testing.assert_allclose(sample["latents"].float().numpy(), reference.numpy(), atol=1e-3)

    calls.clear()  # a rerun finds every episode encoded from the same bytes and encodes nothing new
    cache_latents(frames_ds, out, encode, encoder_name="avgpool4", batch_size=5, progress=False)
    assert calls == [1]
    with pytest.raises(ValueError, match="other settings.*latent.encoder"):
        cache_latents(frames_ds, out, encode, encoder_name="vae-v2", progress=False)


def test_encoder_output_shape_is_checked(tmp_path: Path, make_dataset) -> None:
    frames_ds = make_dataset(tmp_path / "ds", [4])
    with pytest.raises(ValueError, match=r"\(B, C, h, w\).*returned shape \(1, 12\)"):
        cache_latents(
            frames_ds,
            tmp_path / "lat",
            lambda f: f.reshape(len(f), -1)[:, :12].float(),
            encoder_name="flat",
            progress=False,
        )
