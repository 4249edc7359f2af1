"""The noise schedule and parameterisation: v-prediction on a DDPM (variance-preserving) schedule.

Forward process (Ho et al. 2020), per frame with its own integer or fractional timestep t:

    x_t = α_t x_0 + σ_t ε,   α_t = sqrt(ᾱ_t),  σ_t = sqrt(1 - ᾱ_t),  ε ~ N(0, I),

with ᾱ from diffusers' ``squaredcos_cap_v2`` betas (Nichol & Dhariwal 2021) over 1000 training
steps. The DiT predicts the velocity (Salimans & Ho 2022, "Progressive Distillation", sec. 4)

    v = α_t ε - σ_t x_0,   so   x_0 = α_t x_t - σ_t v,   ε = σ_t x_t + α_t v.

A timestep < 0 means "clean" (α = 1, σ = 0). Fractional timesteps (used by the flow sampler)
interpolate ᾱ in log-SNR.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from diffusers import DDPMScheduler

BETA_SCHEDULES = ("squaredcos_cap_v2", "linear", "scaled_linear")
PREDICTION_TYPE = "v_prediction"


@dataclass(frozen=True)
class NoiseScheduleConfig:
    """The training noise schedule (recorded in the checkpoint manifest).

    Attributes:
        num_train_timesteps: discrete timesteps of the schedule.
        beta_schedule: diffusers beta schedule name.
        prediction_type: what the network predicts; only "v_prediction".
    """

    num_train_timesteps: int = 1000
    beta_schedule: str = "squaredcos_cap_v2"
    prediction_type: str = PREDICTION_TYPE

    def __post_init__(self) -> None:
        if self.beta_schedule not in BETA_SCHEDULES:
            raise ValueError(f"beta_schedule must be one of {BETA_SCHEDULES}, got {self.beta_schedule!r}")
        if self.prediction_type != PREDICTION_TYPE:
            raise ValueError(f"prediction_type must be {PREDICTION_TYPE!r}, got {self.prediction_type!r}")
        if self.num_train_timesteps < 2:
            raise ValueError(f"num_train_timesteps must be >= 2, got {self.num_train_timesteps}")


class NoiseSchedule:
    """ᾱ table and the conversions between x_0, ε, v and x_t.

    Args:
        config: the schedule.
    """

    def __init__(self, config: NoiseScheduleConfig | None = None) -> None:
        self.config = config or NoiseScheduleConfig()
        ddpm = DDPMScheduler(
            num_train_timesteps=self.config.num_train_timesteps,
            beta_schedule=self.config.beta_schedule,
            prediction_type=PREDICTION_TYPE,
        )
        self.alphas_cumprod = ddpm.alphas_cumprod.double()  # (N,)
        self.log_snr = torch.log(self.alphas_cumprod / (1 - self.alphas_cumprod))  # (N,), decreasing

    @property
    def num_train_timesteps(self) -> int:
        """Number of discrete training timesteps."""
        return self.config.num_train_timesteps

    def alpha_sigma(self, t: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """α_t and σ_t (float32, shape of ``t``) for float timesteps; t < 0 gives (1, 0).

        Args:
            t: float timesteps in [-1, N - 1]; fractional values interpolate log-SNR.
        """
        tc = t.detach().double().cpu().clamp(0, self.num_train_timesteps - 1)
        lo = tc.floor().long()
        hi = (lo + 1).clamp(max=self.num_train_timesteps - 1)
        lam = torch.lerp(self.log_snr[lo], self.log_snr[hi], tc - lo)
        alpha2 = torch.sigmoid(lam)
        alpha, sigma = alpha2.sqrt(), (1 - alpha2).sqrt()
        clean = t.detach().cpu() < 0
        alpha, sigma = torch.where(clean, 1.0, alpha), torch.where(clean, 0.0, sigma)
        return alpha.float().to(t.device), sigma.float().to(t.device)

    def timestep_from_log_snr(self, log_snr: torch.Tensor) -> torch.Tensor:
        """The float timestep whose log-SNR is ``log_snr``, clamped to [0, N - 1]."""
        xp = self.log_snr.flip(0).numpy()  # increasing
        fp = np.arange(self.num_train_timesteps - 1, -1, -1, dtype=np.float64)
        t = np.interp(log_snr.detach().double().cpu().numpy(), xp, fp)
        return torch.from_numpy(np.asarray(t)).float().to(log_snr.device)

    @staticmethod
    def _expand(coef: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """Broadcast per-frame coefficients (B, T) onto x (B, T, ...)."""
        return coef.reshape(*coef.shape, *([1] * (x.ndim - coef.ndim))).to(x.dtype)

    def add_noise(self, x0: torch.Tensor, noise: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """x_t = α_t x_0 + σ_t ε for x0, noise (B, T, ...) and timesteps t (B, T)."""
        alpha, sigma = self.alpha_sigma(t)
        return self._expand(alpha, x0) * x0 + self._expand(sigma, x0) * noise

    def velocity(self, x0: torch.Tensor, noise: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """The v target α_t ε - σ_t x_0."""
        alpha, sigma = self.alpha_sigma(t)
        return self._expand(alpha, x0) * noise - self._expand(sigma, x0) * x0

    def x0_eps(
        self, x_t: torch.Tensor, v: torch.Tensor, t: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """(x_0, ε) = (α x_t - σ v, σ x_t + α v) from a v prediction."""
        alpha, sigma = self.alpha_sigma(t)
        a, s = self._expand(alpha, x_t), self._expand(sigma, x_t)
        return a * x_t - s * v, s * x_t + a * v
