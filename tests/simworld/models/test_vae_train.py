"""VAE training: overfitting real voxel frames, the adversarial/bf16/causal path, reconstruction metrics."""

from __future__ import annotations

import functools
from collections.abc import Iterator
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest
import torch

import envs  # noqa: F401  (registers simworld/VoxelWorld-v0)
from envs.voxel.policies import make_policy
from simworld import weights
from simworld.models.vae import VideoVAE
from simworld.models.vae_loss import VAELoss, VAELossConfig
from simworld.rollout import record_scripted
from simworld.train.vae import evaluate_reconstruction, train_vae

#: A 48×48×32 voxel world that generates in milliseconds (as tests/envs/voxel/conftest.py's SMALL).
SMALL_WORLD = {
    "world_size": 48,
    "world_height": 32,
    "terrain_height": 12,
    "terrain_amplitude": 4.0,
    "sea_level": 8,
}


@pytest.fixture(autouse=True, scope="module")
def one_thread() -> Iterator[None]:
    """One torch thread (two OpenMP threads on a busy 2-core machine are ~10× slower here)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@functools.cache
def voxel_frames(steps: int = 16, size: int = 32, seed: int = 0) -> np.ndarray:
    """uint8 (steps + 1, size, size, 3): the explore policy walking through a small voxel world.

    Restores torch's thread count afterwards: numba's OpenMP threading layer (the renderer) shares
    libgomp with torch and sets its thread count to numba's.
    """
    threads = torch.get_num_threads()
    env = gym.make("simworld/VoxelWorld-v0", width=size, height=size, **SMALL_WORLD)
    try:
        return record_scripted(env, make_policy("explore"), steps, seed).frames
    finally:
        env.close()
        torch.set_num_threads(threads)


def test_overfits_a_fixed_batch_of_real_voxel_frames() -> None:
    torch.manual_seed(0)
    model = VideoVAE.from_preset("tiny")
    batch = torch.from_numpy(voxel_frames()[None, ::4].copy())  # (1, 5, 32, 32, 3), frames 4 steps apart
    history = train_vae(model, [batch], steps=60, lr=2e-3, loss=VAELossConfig(lpips_weight=0.0))
    assert len(history) == 60 and history[-1]["step"] == 59
    first, last = history[0]["l1"], np.mean([h["l1"] for h in history[-5:]])
    assert last < 0.4 * first, (first, last)
    assert all(np.isfinite(h["loss"]) and h["grad_norm"] >= 0 for h in history)


def test_causal_model_trains_with_bf16_autocast_and_adversarial_term(tmp_path: Path) -> None:
    torch.manual_seed(0)
    model = VideoVAE.from_preset("tiny", temporal_factor=2)
    frames = voxel_frames()
    batches = [torch.from_numpy(frames[None, i : i + 5].copy()) for i in (0, 5)]
    loss = VAELoss(VAELossConfig(adv_weight=0.1, adv_start_step=1, disc_channels=16, disc_layers=2))
    one_shot = iter(batches)
    history = train_vae(model, one_shot, steps=2, lr=1e-3, dtype=torch.bfloat16, loss=loss)
    assert "adv_g" not in history[0] and "loss_d" not in history[0]
    assert {"adv_g", "loss_d", "logits_real", "logits_fake"} <= set(history[1])
    assert all(np.isfinite(h["loss"]) for h in history)
    assert next(model.parameters()).dtype == torch.float32  # autocast: weights stay float32
    with pytest.raises(ValueError, match="yielded nothing"):
        train_vae(model, one_shot, steps=1, lr=1e-3, loss=loss)  # used up by the first run


def test_train_vae_argument_errors() -> None:
    model = VideoVAE.from_preset("tiny")
    with pytest.raises(ValueError, match="steps must be >= 1"):
        train_vae(model, [], steps=0)
    with pytest.raises(ValueError, match=r"dtype must be one of \['torch.float32', 'torch.bfloat16'\]"):
        train_vae(model, [], steps=1, dtype=torch.float16)


def test_evaluate_reconstruction_psnr_reference(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    torch.manual_seed(0)
    model = VideoVAE.from_preset("tiny", spatial_factor=8)
    clips = torch.from_numpy(voxel_frames()[:16].reshape(4, 4, 32, 32, 3).copy())
    result = evaluate_reconstruction(model, clips, batch_size=3)
    decoded = model.decode(model.encode(clips)).reshape(-1, 32 * 32 * 3).double()
    mse = ((decoded - clips.reshape(-1, 32 * 32 * 3).double()) ** 2).mean(dim=1)
    expected = (10 * torch.log10(255.0**2 / mse)).mean()  # mean of per-frame PSNR, data range 255
    assert result["psnr"] == pytest.approx(float(expected), abs=1e-3)
    assert result["psnr_data_range"] == 255.0 and result["frames"] == 16
    shared = weights.shared_weights_dir()
    if shared is not None and (shared / "alexnet_imagenet_features.safetensors").is_file():
        assert isinstance(result["lpips"], float) and 0 < result["lpips"] < 1
    monkeypatch.delenv("SIMWORLD_WEIGHTS_DIR", raising=False)
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch_home"))
    monkeypatch.setattr(weights, "shared_weights_dir", lambda: tmp_path / "shared")
    result = evaluate_reconstruction(model, clips[:1], weights_dir=str(tmp_path))
    assert str(result["lpips"]).startswith("unavailable: AlexNet trunk weights not found")
