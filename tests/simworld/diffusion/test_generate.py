"""Autoregressive generation: KV cache == recomputation, guidance, samplers, per-frame schedules."""

from __future__ import annotations

import pytest
import torch

from simworld.actions import FLAT_DIM
from simworld.diffusion.generate import AutoregressiveSampler, autoregressive_levels, generate, guide
from simworld.diffusion.samplers import SAMPLER_NAMES, SamplerConfig
from simworld.diffusion.schedule import NoiseSchedule
from simworld.models.dit import DiT, DiTConfig

B, C, S = 2, 3, 8


@pytest.fixture(scope="module")
def schedule() -> NoiseSchedule:
    return NoiseSchedule()


def tiny_dit(**overrides) -> DiT:
    torch.manual_seed(0)
    model = DiT(DiTConfig.preset("tiny", in_channels=C, patch_size=2, **overrides)).eval()
    with torch.no_grad():
        for p in model.parameters():
            p.add_(torch.randn_like(p) * 0.05)
    return model


@pytest.fixture(scope="module")
def model() -> DiT:
    return tiny_dit()


def context(T: int = 3):
    g = torch.Generator().manual_seed(5)
    mask = torch.ones(B, T, dtype=torch.bool)
    mask[:, 0] = False
    return torch.randn(B, T, C, S, S, generator=g), torch.randn(B, T, FLAT_DIM, generator=g), mask


def run(
    model, schedule, config: SamplerConfig, frames: int, use_kv_cache: bool, window: int = 16, seed: int = 0
) -> torch.Tensor:
    latents, actions, mask = context()
    ar = AutoregressiveSampler(model, schedule, config, window, use_kv_cache=use_kv_cache)
    gens = [torch.Generator().manual_seed(seed + i) for i in range(B)]
    ar.reset(latents, actions, mask, gens)
    g = torch.Generator().manual_seed(99)
    return torch.stack(
        [ar.next_frame(torch.randn(B, FLAT_DIM, generator=g), gens).latent for _ in range(frames)], 1
    )


@pytest.mark.parametrize(
    ("name", "reference"), [(name, "none") for name in SAMPLER_NAMES] + [("ddim", "previous")]
)
def test_kv_cache_equals_recomputation(model, schedule, name, reference):
    model = model if reference == "none" else tiny_dit(reference=reference)
    config = SamplerConfig(name=name, num_inference_steps=3, guidance_scale=2.0, context_noise_level=15)
    cached = run(model, schedule, config, frames=3, use_kv_cache=True)
    uncached = run(model, schedule, config, frames=3, use_kv_cache=False)
    assert cached.shape == (B, 3, C, S, S) and torch.isfinite(cached).all()
    torch.testing.assert_close(cached, uncached, atol=1e-4, rtol=0)


@pytest.mark.parametrize("attention", ["factorized", "spacetime"])
def test_kv_cache_equals_recomputation_per_attention(schedule, attention):
    model = tiny_dit(attention=attention)
    config = SamplerConfig(num_inference_steps=2, context_noise_level=0)
    torch.testing.assert_close(
        run(model, schedule, config, 2, True), run(model, schedule, config, 2, False), atol=1e-4, rtol=0
    )


@pytest.mark.parametrize("reference", ["none", "previous"])
def test_the_window_keeps_clean_latents_only_for_reference_models(schedule, reference):
    """The window is copied every step: plain models must not carry reference state in it."""
    ar = AutoregressiveSampler(
        tiny_dit(reference=reference), schedule, SamplerConfig(num_inference_steps=1), 2
    )
    latents, actions, mask = context()
    ar.reset(latents, actions, mask)
    for _ in range(3):  # past the 2-frame window
        ar.next_frame(torch.zeros(B, FLAT_DIM))
    keys = {"latents", "levels", "actions", "mask"}
    if reference == "none":
        assert set(ar.window) == keys
    else:
        assert set(ar.window) == keys | {"clean", "reference"}
        assert ar.window["clean"].shape == ar.window["latents"].shape == (B, 2, C, S, S)
        # each kept frame's reference is the clean frame before it, even after the window slid
        torch.testing.assert_close(ar.window["reference"][:, 1], ar.window["clean"][:, 0])


def test_sliding_window_keeps_going(model, schedule):
    config = SamplerConfig(num_inference_steps=1)
    out = run(model, schedule, config, frames=4, use_kv_cache=True, window=2)
    assert out.shape == (B, 4, C, S, S) and torch.isfinite(out).all()


@pytest.mark.parametrize("name", SAMPLER_NAMES)
@pytest.mark.parametrize("steps", [1, 5])
def test_each_sampler_runs(model, schedule, name, steps):
    out = run(
        model, schedule, SamplerConfig(name=name, num_inference_steps=steps), frames=1, use_kv_cache=True
    )
    assert out.shape == (B, 1, C, S, S) and torch.isfinite(out).all()


def test_guidance_scale_one_is_no_guidance(model, schedule):
    base = SamplerConfig(num_inference_steps=2, guidance_scale=1.0)
    plain = run(model, schedule, base, frames=2, use_kv_cache=True)
    # A scale a hair above 1 takes the two-branch path: the formula must reduce to the conditional v.
    nearly = run(model, schedule, SamplerConfig(num_inference_steps=2, guidance_scale=1.0 + 1e-7), 2, True)
    torch.testing.assert_close(plain, nearly, atol=1e-4, rtol=0)
    guided = run(model, schedule, SamplerConfig(num_inference_steps=2, guidance_scale=3.0), 2, True)
    assert (guided - plain).abs().max() > 1e-3
    v, v_null = torch.randn(4), torch.randn(4)
    torch.testing.assert_close(guide(v, v_null, 1.0), v)


def test_same_seed_same_frames_other_seed_differs(model, schedule):
    config = SamplerConfig(num_inference_steps=2)
    a, b = run(model, schedule, config, 2, True, seed=0), run(model, schedule, config, 2, True, seed=0)
    assert torch.equal(a, b)
    assert (run(model, schedule, config, 2, True, seed=7) - a).abs().max() > 1e-3


def test_bidirectional_model_refuses_the_cache(schedule):
    with pytest.raises(ValueError, match="causal"):
        AutoregressiveSampler(
            tiny_dit(temporal="bidirectional"), schedule, SamplerConfig(), 4, use_kv_cache=True
        )
    with pytest.raises(ValueError, match="reset"):
        AutoregressiveSampler(tiny_dit(), schedule, SamplerConfig(), 4).next_frame(torch.zeros(B, FLAT_DIM))


@pytest.mark.parametrize("reference", ["none", "previous"])
def test_per_frame_generate_matches_autoregressive_ddim(model, schedule, reference):
    """generate() with a per-frame schedule that only moves the last frame == the DDIM AR step."""
    model = model if reference == "none" else tiny_dit(reference=reference)
    latents, actions, mask = context()
    new_action = torch.randn(B, FLAT_DIM)
    ar = AutoregressiveSampler(
        model, schedule, SamplerConfig(num_inference_steps=4, context_noise_level=0), 8
    )
    ar.reset(latents, actions, mask)
    gens = [torch.Generator().manual_seed(i) for i in range(B)]
    expected = ar.next_frame(new_action, gens).latent
    noise = torch.zeros(B, 4, C, S, S)
    noise[:, -1] = torch.stack(
        [torch.randn(1, C, S, S, generator=torch.Generator().manual_seed(i))[0] for i in range(B)]
    )
    levels = autoregressive_levels(num_context=3, num_steps=4, context_level=-1)
    out = generate(
        model,
        schedule,
        torch.cat([latents, torch.zeros(B, 1, C, S, S)], 1),
        levels,
        torch.cat([actions, new_action[:, None]], 1),
        torch.cat([mask, torch.ones(B, 1, dtype=torch.bool)], 1),
        noise=noise,
    )
    torch.testing.assert_close(out[:, :3], latents)  # conditioning frames come back unchanged
    torch.testing.assert_close(out[:, -1], expected, atol=1e-4, rtol=0)


def test_generate_with_per_frame_levels_for_bidirectional_models(schedule):
    """Interpolation-style schedule: first and last frames given, the middle ones denoised together."""
    model = tiny_dit(temporal="bidirectional")
    latents, actions, _ = context(T=4)
    levels = torch.full((4, B, 4), -1.0)
    levels[:, :, 1:3] = torch.tensor([999.0, 600.0, 200.0, -1.0])[:, None, None]
    out = generate(
        model,
        schedule,
        latents,
        levels,
        actions,
        guidance_scale=2.0,
        generators=[torch.Generator().manual_seed(i) for i in range(B)],
    )
    torch.testing.assert_close(out[:, [0, 3]], latents[:, [0, 3]])
    assert torch.isfinite(out).all() and (out[:, 1:3] - latents[:, 1:3]).abs().max() > 1e-2
    with pytest.raises(ValueError, match="noise_levels"):
        generate(model, schedule, latents, levels[:, :, :2], actions)
