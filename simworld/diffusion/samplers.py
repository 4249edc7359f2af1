"""Samplers for the newest frame, wrapping diffusers schedulers, selected by name.

All three take the DiT's v prediction in the variance-preserving (VP) space of ``schedule``:

- ``"ddim"``: ``DDIMScheduler`` (Song et al. 2021), deterministic (eta = 0), v_prediction;
- ``"dpmsolver++"``: ``DPMSolverMultistepScheduler`` (Lu et al. 2022), 2nd order, v_prediction;
- ``"flow_euler"``: ``FlowMatchEulerDiscreteScheduler`` (Esser et al. 2024), Euler steps of the
  rectified-flow ODE on ``z_s = (1 - s) x_0 + s ε``.

All start from pure noise at the largest timestep, even with one step ("trailing" spacing for
DDIM/DPM-Solver++; flow sigmas linear from 1 down to the flow sigma of VP timestep 0, the least
noise the model was trained at).

The VP model is run inside the flow sampler by this change of variables: with the VP latent
``x_t = α x_0 + σ ε`` (α² + σ² = 1),

    z = x_t / (α + σ),   s = σ / (α + σ)            (so z = (1 - s) x_0 + s ε),

hence, for a flow sigma s, the matching VP point has σ/α = s / (1 - s), i.e. log-SNR
λ = 2 log((1 - s) / s); it is fed to the model at the (fractional) timestep with that log-SNR,
as x_t = (α + σ) z with α = (1 - s) / r, σ = s / r, r = sqrt((1 - s)² + s²). The flow velocity
follows from v = α ε - σ x_0 (x_0 = α x_t - σ v, ε = σ x_t + α v):

    u = dz/ds = ε - x_0 = (σ - α) x_t + (α + σ) v.

At s = 1 (α = 0) the model sees pure noise at its largest timestep.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
from diffusers import DDIMScheduler, DPMSolverMultistepScheduler, FlowMatchEulerDiscreteScheduler

from simworld.diffusion.schedule import PREDICTION_TYPE, NoiseSchedule

SAMPLER_NAMES = ("ddim", "dpmsolver++", "flow_euler")
MAX_STEPS = 50


@dataclass(frozen=True)
class SamplerConfig:
    """How to sample a frame; the checkpoint stores the defaults.

    Attributes:
        name: "ddim", "dpmsolver++" or "flow_euler".
        num_inference_steps: denoising steps per frame, 1..50.
        guidance_scale: classifier-free guidance on the newest frame's action; 1 = none.
        context_noise_level: timestep at which context frames are fed (0 = clean; a small level
            "stabilises" long rollouts, as open-oasis does).
    """

    name: str = "ddim"
    num_inference_steps: int = 10
    guidance_scale: float = 1.0
    context_noise_level: int = 15

    def __post_init__(self) -> None:
        if self.name not in SAMPLER_NAMES:
            raise ValueError(f"sampler name must be one of {SAMPLER_NAMES}, got {self.name!r}")
        if not 1 <= self.num_inference_steps <= MAX_STEPS:
            raise ValueError(f"num_inference_steps must be in 1..{MAX_STEPS}, got {self.num_inference_steps}")
        if self.guidance_scale < 0 or self.context_noise_level < 0:
            raise ValueError(
                f"guidance_scale and context_noise_level must be >= 0, got "
                f"{self.guidance_scale}, {self.context_noise_level}"
            )


def make_scheduler(name: str, schedule: NoiseSchedule):
    """The diffusers scheduler ``name`` on the training schedule (v_prediction, trailing spacing).

    Raises:
        ValueError: unknown name.
    """
    common = {
        "num_train_timesteps": schedule.num_train_timesteps,
        "beta_schedule": schedule.config.beta_schedule,
        "prediction_type": PREDICTION_TYPE,
        "timestep_spacing": "trailing",
    }
    if name == "ddim":
        return DDIMScheduler(**common, clip_sample=False, set_alpha_to_one=True)
    if name == "dpmsolver++":
        return DPMSolverMultistepScheduler(**common, algorithm_type="dpmsolver++", solver_order=2)
    if name == "flow_euler":
        return FlowMatchEulerDiscreteScheduler(num_train_timesteps=schedule.num_train_timesteps, shift=1.0)
    raise ValueError(f"sampler name must be one of {SAMPLER_NAMES}, got {name!r}")


class Sampler:
    """One frame's denoising loop around a diffusers scheduler, in the model's VP/v terms.

    Usage: ``n = sampler.start(steps, device)``; for i in range(n): ``x_vp, t = sampler.model_input(x, i)``,
    ``v = model(x_vp, t)``, ``x = sampler.step(v, i, x)``. The final ``x`` is the clean latent.

    Args:
        name: sampler name.
        schedule: the training noise schedule.
    """

    def __init__(self, name: str, schedule: NoiseSchedule) -> None:
        self.name, self.schedule = name, schedule
        self.scheduler = make_scheduler(name, schedule)
        self._started = False

    def start(self, num_inference_steps: int, device: torch.device | str = "cpu") -> int:
        """Reset the scheduler for a new frame; return the number of steps."""
        if not 1 <= num_inference_steps <= MAX_STEPS:
            raise ValueError(f"num_inference_steps must be in 1..{MAX_STEPS}, got {num_inference_steps}")
        if self.name == "flow_euler":
            # Spread the flow sigmas over the range the VP model was trained on: from 1 down to the
            # flow sigma of VP timestep 0 (diffusers' default would end at 1/N, below that range).
            alpha, sigma = (float(c) for c in self.schedule.alpha_sigma(torch.zeros(())))
            sigmas = np.linspace(1.0, sigma / (alpha + sigma), num_inference_steps).tolist()
            self.scheduler.set_timesteps(sigmas=sigmas, device=device)
        else:
            self.scheduler.set_timesteps(num_inference_steps, device=device)
        self._started = True
        return len(self.scheduler.timesteps)

    def _flow_coefficients(self, i: int) -> tuple[float, float]:
        """(α, σ) of the VP point matching flow sigma s_i."""
        s = float(self.scheduler.sigmas[i])
        r = ((1 - s) ** 2 + s**2) ** 0.5
        return (1 - s) / r, s / r

    def model_input(self, sample: torch.Tensor, i: int) -> tuple[torch.Tensor, float]:
        """(VP latent to feed the model, its float timestep) at step i.

        Raises:
            ValueError: called before ``start``.
        """
        if not self._started:
            raise ValueError("call start() before model_input()")
        if self.name != "flow_euler":
            return sample, float(self.scheduler.timesteps[i])
        alpha, sigma = self._flow_coefficients(i)
        if alpha == 0.0:
            return sample, float(self.schedule.num_train_timesteps - 1)
        log_snr = torch.tensor(2.0 * math.log(alpha / sigma), dtype=torch.float64)
        return (alpha + sigma) * sample, float(self.schedule.timestep_from_log_snr(log_snr))

    def step(self, v: torch.Tensor, i: int, sample: torch.Tensor) -> torch.Tensor:
        """Advance ``sample`` one step given the model's v prediction at ``model_input(sample, i)``."""
        t = self.scheduler.timesteps[i]
        if self.name != "flow_euler":
            return self.scheduler.step(v, t, sample).prev_sample
        alpha, sigma = self._flow_coefficients(i)
        x_t = (alpha + sigma) * sample
        u = (sigma - alpha) * x_t + (alpha + sigma) * v  # flow velocity ε - x_0
        return self.scheduler.step(u.to(sample.dtype), t, sample).prev_sample
