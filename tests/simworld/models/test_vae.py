"""VideoVAE: config validation, shapes for ×4/×8 and temporal 1/2/4, round trip, latent stats,
save/load, causality, and equality with diffusers' own encode/decode."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file, save_file

import simworld  # noqa: F401  (before anything that may import torchvision)
from simworld.models.serialization import CheckpointError
from simworld.models.vae import PRESETS, VideoVAE, VideoVAEConfig

SIZE = 32  # frames are 32×32 unless a test says otherwise: latents 8×8 (×4) or 4×4 (×8)


@pytest.fixture(autouse=True, scope="module")
def one_thread() -> Iterator[None]:
    """Run torch on one thread: on a shared 2-core machine, two OpenMP threads waiting on each
    other make these small convolutions about 10× slower."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def tiny(spatial_factor: int = 4, temporal_factor: int = 1, seed: int = 0) -> VideoVAE:
    torch.manual_seed(seed)
    return VideoVAE.from_preset("tiny", spatial_factor, temporal_factor).eval()


def random_frames(B: int, T: int, H: int = SIZE, W: int = SIZE, seed: int = 0) -> torch.Tensor:
    # Smooth-ish random frames (blocky, like voxel renders) rather than white noise.
    g = torch.Generator().manual_seed(seed)
    coarse = torch.randint(0, 256, (B, T, H // 4, W // 4, 3), generator=g, dtype=torch.uint8)
    return coarse.repeat_interleave(4, dim=2).repeat_interleave(4, dim=3)


# ------------------------------------------------------------------------------------ config


def test_config_rejects_bad_values_naming_valid_ones() -> None:
    with pytest.raises(ValueError, match=r"spatial_factor must be one of \[4, 8\], got 2"):
        VideoVAEConfig(spatial_factor=2)
    with pytest.raises(ValueError, match=r"temporal_factor must be one of \[1, 2, 4\], got 3"):
        VideoVAEConfig(temporal_factor=3)
    with pytest.raises(ValueError, match="must have log2\\(spatial_factor\\) \\+ 1 = 4 entries"):
        VideoVAEConfig(spatial_factor=8, block_out_channels=(32, 64, 128))
    with pytest.raises(ValueError, match="norm_num_groups=16 must divide"):
        VideoVAEConfig(block_out_channels=(24, 48, 48))
    with pytest.raises(ValueError, match="multiple of the first"):
        VideoVAEConfig(temporal_factor=2, block_out_channels=(32, 48, 64))
    with pytest.raises(ValueError, match="valid presets: tiny, small, base"):
        VideoVAEConfig.from_preset("huge")


def test_presets_build_at_every_factor() -> None:
    assert list(PRESETS) == ["tiny", "small", "base"]
    config = VideoVAEConfig.from_preset("small", spatial_factor=8, temporal_factor=4)
    assert config.block_out_channels == (32, 64, 128, 128) and config.latent_channels == 16
    assert VideoVAEConfig.from_preset("tiny", latent_channels=6).latent_channels == 6


# ------------------------------------------------------------------------------------ shapes


@pytest.mark.parametrize("spatial_factor", [4, 8])
@pytest.mark.parametrize("temporal_factor", [1, 2, 4])
def test_shapes(spatial_factor: int, temporal_factor: int) -> None:
    model = tiny(spatial_factor, temporal_factor)
    T = 1 + 2 * temporal_factor
    frames = random_frames(2, T, SIZE, 2 * SIZE)  # non-square on purpose
    latents = model.encode(frames)
    C = model.config.latent_channels
    assert latents.shape == (2, 3, C, SIZE // spatial_factor, 2 * SIZE // spatial_factor)
    assert latents.shape[1:] == model.latent_shape(T, SIZE, 2 * SIZE)
    assert latents.dtype == torch.float32 and torch.isfinite(latents).all()
    decoded = model.decode(latents)
    assert decoded.shape == frames.shape and decoded.dtype == torch.uint8


def test_single_frame_is_allowed_for_every_temporal_factor() -> None:
    for temporal_factor in (2, 4):
        model = tiny(4, temporal_factor)
        assert model.decode(model.encode(random_frames(1, 1))).shape == (1, 1, SIZE, SIZE, 3)


@pytest.mark.parametrize(("temporal_factor", "T"), [(2, 4), (4, 3), (4, 7), (2, 0)])
def test_frame_count_must_be_one_plus_multiple(temporal_factor: int, T: int) -> None:
    model = tiny(4, temporal_factor)
    with pytest.raises(ValueError, match=rf"1 \+ k\*{temporal_factor} frames"):
        model.encode(random_frames(1, max(T, 1))[:, :T])


def test_bad_inputs() -> None:
    model = tiny(8)
    with pytest.raises(ValueError, match="multiples of spatial_factor=8, got 36x32"):
        model.encode(torch.zeros(1, 1, 36, 32, 3, dtype=torch.uint8))
    with pytest.raises(TypeError, match="uint8"):
        model.encode(torch.zeros(1, 1, 32, 32, 3))
    with pytest.raises(ValueError, match=r"uint8 \(B, T, H, W, 3\)"):
        model.encode(torch.zeros(1, 32, 32, 3, dtype=torch.uint8))
    with pytest.raises(ValueError, match=r"latents must be \(B, T', 8, h, w\)"):
        model.decode(torch.zeros(1, 1, 4, 4, 4))


def test_round_trip_dtype_range_and_sampling() -> None:
    model = tiny()
    frames = random_frames(1, 2)
    mean = model.encode(frames)
    assert torch.equal(mean, model.encode(frames.numpy()))  # numpy in, same result
    a = model.encode(frames, sample=True, generator=torch.Generator().manual_seed(1))
    b = model.encode(frames, sample=True, generator=torch.Generator().manual_seed(1))
    assert torch.equal(a, b) and not torch.equal(a, mean)
    decoded = model.decode(mean)
    assert decoded.dtype == torch.uint8 and decoded.shape == frames.shape
    floats = model.decode_float(mean)
    assert floats.shape == (1, 2, 3, SIZE, SIZE) and floats.dtype == torch.float32
    expected = ((floats.clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8).permute(0, 1, 3, 4, 2)
    assert torch.equal(decoded, expected)


# ------------------------------------------------------------------------------ latent stats


def test_latent_stats_normalise_the_data_they_were_computed_on() -> None:
    model = tiny(4, 2)
    batches = [random_frames(2, 5, seed=s) for s in range(3)]
    raw = model.encode(batches[0])  # shift 0, scale 1: raw latents
    assert not model.has_latent_stats
    assert raw.mean().abs() > 1e-3 or (raw.std() - 1).abs() > 1e-3  # not already N(0, 1)
    shift, scale = model.compute_latent_stats(iter(batches))
    assert model.has_latent_stats and int(model.latent_stats_count) == 3 * 2 * 3 * 8 * 8
    assert shift.shape == scale.shape == (model.config.latent_channels,)
    latents = torch.cat([model.encode(b) for b in batches])  # (6, 3, C, 8, 8)
    per_channel = latents.transpose(0, 2).reshape(model.config.latent_channels, -1)
    torch.testing.assert_close(per_channel.mean(dim=1), torch.zeros(8), atol=1e-4, rtol=0)
    torch.testing.assert_close(per_channel.std(dim=1, unbiased=False), torch.ones(8), atol=1e-4, rtol=0)
    assert {"latent_shift", "latent_scale", "latent_stats_count"} <= set(model.state_dict())
    with pytest.raises(ValueError, match="no batches"):
        model.compute_latent_stats([])


# --------------------------------------------------------------------------------- save/load


def test_save_load_gives_identical_outputs(tmp_path: Path) -> None:
    model = tiny(4, 4)
    frames = random_frames(1, 5)
    model.compute_latent_stats([frames])
    model.save_pretrained(tmp_path / "vae")
    assert sorted(p.name for p in (tmp_path / "vae").iterdir()) == ["config.json", "model.safetensors"]
    loaded = VideoVAE.from_pretrained(tmp_path / "vae", device="cpu")
    assert loaded.config == model.config and loaded.has_latent_stats
    (za, fa), (zb, fb) = (
        (z, m.decode(z))
        for m in (model, loaded)
        for z in [m.encode(frames, sample=True, generator=torch.Generator().manual_seed(0))]
    )
    assert torch.equal(za, zb) and torch.equal(fa, fb)
    half = VideoVAE.from_pretrained(tmp_path / "vae", dtype=torch.bfloat16)
    assert half.dtype == torch.bfloat16 and half.latent_shift.dtype == torch.bfloat16
    assert half.encode(frames).dtype == torch.bfloat16


def test_strict_load_lists_missing_and_unexpected_keys(tmp_path: Path) -> None:
    tiny().save_pretrained(tmp_path)
    state = load_file(str(tmp_path / "model.safetensors"))
    state.pop("latent_scale")
    state.pop("autoencoder.decoder.conv_out.bias")
    state["autoencoder.extra.weight"] = torch.zeros(2)
    state["latent_shift"] = torch.zeros(5)
    save_file(state, str(tmp_path / "model.safetensors"))
    with pytest.raises(CheckpointError) as info:
        VideoVAE.from_pretrained(tmp_path)
    message = str(info.value)
    assert isinstance(info.value, ValueError) and str(tmp_path / "model.safetensors") in message
    assert "missing keys: ['autoencoder.decoder.conv_out.bias', 'latent_scale']" in message
    assert "unexpected keys: ['autoencoder.extra.weight']" in message
    assert "latent_shift: file (5,) vs model (4,)" in message


def test_load_rejects_unknown_config_keys_and_versions(tmp_path: Path) -> None:
    tiny().save_pretrained(tmp_path)
    config = json.loads((tmp_path / "config.json").read_text())
    assert config["class_name"] == "VideoVAE" and config["format_version"] == 1
    assert config["config"]["block_out_channels"] == [16, 32, 32]
    config["config"]["dropout"] = 0.1
    (tmp_path / "config.json").write_text(json.dumps(config))
    with pytest.raises(CheckpointError, match=r"unknown: \['dropout'\]"):
        VideoVAE.from_pretrained(tmp_path)
    config["format_version"] = 99
    (tmp_path / "config.json").write_text(json.dumps(config))
    with pytest.raises(CheckpointError, match="format_version 1"):
        VideoVAE.from_pretrained(tmp_path)
    with pytest.raises(CheckpointError, match="config.json: file not found"):
        VideoVAE.from_pretrained(tmp_path / "nowhere")


# --------------------------------------------------------------------------------- causality


@pytest.mark.parametrize("temporal_factor", [1, 2, 4])
def test_later_frames_do_not_change_earlier_latents(temporal_factor: int) -> None:
    model = tiny(4, temporal_factor)
    T = 1 + 3 * temporal_factor  # latents: frame 0, then groups 1, 2, 3
    frames = random_frames(1, T)
    changed = frames.clone()
    first_of_group_2 = 1 + temporal_factor if temporal_factor > 1 else 2
    changed[:, first_of_group_2:] = 255 - changed[:, first_of_group_2:]  # groups 2 and 3 (or frames 2..)
    a, b = model.encode(frames), model.encode(changed)
    assert torch.equal(a[:, :2], b[:, :2])
    assert not torch.allclose(a[:, 2], b[:, 2])
    # Decoding is causal too: later latents do not change earlier frames.
    da, db = model.decode(a), model.decode(torch.cat([a[:, :2], b[:, 2:]], dim=1))
    assert torch.equal(da[:, :first_of_group_2], db[:, :first_of_group_2])


# ---------------------------------------------------------------------- diffusers reference


def test_causal_path_equals_diffusers_wan_encode_decode() -> None:
    """Our frame-0-then-rest calls compute what AutoencoderKLWan's chunked loops compute."""
    model = tiny(4, 4)
    x = torch.rand(1, 9, 3, SIZE, SIZE, generator=torch.Generator().manual_seed(0)) * 2 - 1
    with torch.no_grad():
        ours = model.posterior(x)
        ref = model.autoencoder.encode(x.transpose(1, 2)).latent_dist
        torch.testing.assert_close(ours.mean, ref.mean.transpose(1, 2), atol=1e-5, rtol=1e-5)
        torch.testing.assert_close(ours.logvar, ref.logvar.transpose(1, 2), atol=1e-5, rtol=1e-5)
        decoded = model.decode_raw(ours.mean).clamp(-1, 1)
        ref_decoded = model.autoencoder.decode(ref.mean).sample.transpose(1, 2)
        torch.testing.assert_close(decoded, ref_decoded, atol=1e-5, rtol=1e-5)


def test_per_frame_path_equals_diffusers_autoencoderkl() -> None:
    model = tiny(8, 1)
    x = torch.rand(2, 3, 3, SIZE, SIZE, generator=torch.Generator().manual_seed(0)) * 2 - 1
    with torch.no_grad():
        ours = model.posterior(x)
        ref = model.autoencoder.encode(x.flatten(0, 1)).latent_dist
        torch.testing.assert_close(ours.mean.flatten(0, 1), ref.mean)
        ref_decoded = model.autoencoder.decode(ref.mean).sample
        torch.testing.assert_close(model.decode_raw(ours.mean).flatten(0, 1), ref_decoded)


# ------------------------------------------------------------------------------ dtype/device


def test_bf16_autocast_and_bf16_weights() -> None:
    model = tiny(4, 2)
    frames = random_frames(1, 3)
    reference = model.encode(frames)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        latents = model.encode(frames)
        decoded = model.decode(latents)
    assert latents.dtype == torch.float32 and decoded.dtype == torch.uint8
    assert (latents - reference).abs().max() < 0.1 * reference.abs().max()
    model.to(torch.bfloat16)
    assert model.encode(frames).dtype == torch.bfloat16
    with torch.no_grad():
        assert np.isfinite(model.decode_float(model.encode(frames)).float().numpy()).all()
