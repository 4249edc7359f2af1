"""Noise schedule, v-parameterisation, and the three samplers (checked with an oracle denoiser)."""

from __future__ import annotations

import math

import pytest
import torch

from simworld.diffusion.samplers import SAMPLER_NAMES, Sampler, SamplerConfig
from simworld.diffusion.schedule import NoiseSchedule, NoiseScheduleConfig


@pytest.fixture(scope="module")
def schedule() -> NoiseSchedule:
    return NoiseSchedule()


def test_v_parameterisation_roundtrip(schedule):
    g = torch.Generator().manual_seed(0)
    x0, eps = torch.randn(2, 3, 4, 5, 5, generator=g), torch.randn(2, 3, 4, 5, 5, generator=g)
    t = torch.tensor([[0.0, 500.0, 999.0], [-1.0, 250.5, 10.0]])
    x_t, v = schedule.add_noise(x0, eps, t), schedule.velocity(x0, eps, t)
    x0_hat, eps_hat = schedule.x0_eps(x_t, v, t)
    torch.testing.assert_close(x0_hat, x0, atol=1e-5, rtol=0)
    torch.testing.assert_close(eps_hat[:, 1:], eps[:, 1:], atol=1e-4, rtol=0)
    alpha, sigma = schedule.alpha_sigma(t)
    torch.testing.assert_close(alpha**2 + sigma**2, torch.ones_like(alpha))
    assert alpha[1, 0] == 1 and sigma[1, 0] == 0  # t = -1 is clean
    torch.testing.assert_close(alpha[0, 1] ** 2, schedule.alphas_cumprod[500].float())


def test_timestep_from_log_snr_inverts_the_table(schedule):
    t = torch.tensor([0.0, 17.0, 500.0, 998.0])
    torch.testing.assert_close(
        schedule.timestep_from_log_snr(schedule.log_snr[t.long()]), t, atol=1e-3, rtol=0
    )


def test_schedule_config_validation():
    with pytest.raises(ValueError, match="beta_schedule"):
        NoiseScheduleConfig(beta_schedule="cosine")
    with pytest.raises(ValueError, match="v_prediction"):
        NoiseScheduleConfig(prediction_type="epsilon")


def test_sampler_config_validation():
    with pytest.raises(ValueError, match="sampler name must be one of"):
        SamplerConfig(name="euler")
    with pytest.raises(ValueError, match="1..50"):
        SamplerConfig(num_inference_steps=51)
    with pytest.raises(ValueError, match="1..50"):
        SamplerConfig(num_inference_steps=0)


def oracle(schedule: NoiseSchedule, x0: torch.Tensor):
    """The exact v predictor when the data distribution is the single point x0."""

    def predict(x_t: torch.Tensor, t: float) -> torch.Tensor:
        alpha, sigma = (c.item() for c in schedule.alpha_sigma(torch.tensor(t)))
        eps = (x_t - alpha * x0) / sigma
        return alpha * eps - sigma * x0

    return predict


@pytest.mark.parametrize("name", SAMPLER_NAMES)
@pytest.mark.parametrize("steps", [1, 4, 50])
def test_samplers_recover_the_data_point(schedule, name, steps):
    """With an exact denoiser every sampler must land on x0, for 1 and many steps.

    For flow_euler this checks the VP -> flow conversion: a wrong conversion misses x0.
    """
    g = torch.Generator().manual_seed(1)
    x0 = torch.randn(2, 1, 3, 4, 4, generator=g)
    model = oracle(schedule, x0)
    sampler = Sampler(name, schedule)
    x = torch.randn(x0.shape, generator=g)
    n = sampler.start(steps)
    assert n == steps
    for i in range(n):
        x_in, t = sampler.model_input(x, i)
        assert 0 <= t <= 999
        x = sampler.step(model(x_in, t), i, x)
    torch.testing.assert_close(x, x0, atol=2e-3, rtol=0)


def test_flow_conversion_identities(schedule):
    """z = x_t / (α + σ) lies on the flow path at s = σ / (α + σ) and u = ε - x0."""
    g = torch.Generator().manual_seed(2)
    x0, eps = torch.randn(8, generator=g), torch.randn(8, generator=g)
    sampler = Sampler("flow_euler", schedule)
    sampler.start(5)
    for i in range(5):
        s = float(sampler.scheduler.sigmas[i])
        z = (1 - s) * x0 + s * eps
        x_t, t = sampler.model_input(z, i)
        alpha, sigma = (c.item() for c in schedule.alpha_sigma(torch.tensor(t)))
        if 0 < t < 999:  # inside the table the fed point is exactly on the VP path at t
            torch.testing.assert_close(x_t, alpha * x0 + sigma * eps, atol=1e-4, rtol=0)
            assert math.isclose(sigma / (alpha + sigma), s, rel_tol=1e-4)


def test_model_input_before_start_is_an_error(schedule):
    with pytest.raises(ValueError, match="start"):
        Sampler("ddim", schedule).model_input(torch.zeros(1), 0)
