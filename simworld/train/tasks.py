"""What one training micro-step computes, per stage.

A task holds the trainable modules (``modules``, saved for resume), their DDP wrappers
(``wrapped``), the module whose EMA is kept (``ema_target``), and computes ``loss(batch, step,
generator)`` under the trainer's autocast. ``after_step`` runs extra optimisers (the VAE's
discriminator); ``extra_state``/``load_extra_state`` carry their state.

- :class:`VAETask`: VAE loss (``simworld.train.vae``) on frame clips.
- :class:`DiTTask`: diffusion-forcing loss + reward/termination head on latent clips (packed
  NaViT-style when the clips of a batch differ in size: ``data.sizes`` / ``data.windows``).
- :class:`JointTask`: both on the same frame clips; the DiT sees ``vae.encode(frames)``
  (posterior mean, normalised, no gradient into the VAE).
"""

from __future__ import annotations

from typing import Any

import torch

from simworld.diffusion.schedule import NoiseSchedule
from simworld.diffusion.training import LossOutput, diffusion_forcing_loss, packed_diffusion_forcing_loss
from simworld.models.vae import VideoVAE
from simworld.models.vae_blocks import frames_to_float
from simworld.models.vae_loss import VAELoss, VAELossConfig
from simworld.train.components import Denoiser, ModelConfig
from simworld.train.trainer import Distributed
from simworld.train.vae import discriminator_step, vae_loss_terms


def _terms(out: LossOutput) -> dict[str, Any]:
    """The loss terms the trainer logs."""
    return {
        "loss": out.loss,
        "diffusion": out.diffusion,
        "reward": out.reward,
        "termination": out.termination,
    }


class VAETask:
    """Train a ``VideoVAE`` (and its discriminator when the loss has an adversarial term).

    Args:
        vae: the VAE (moved to the rank's device).
        loss: loss weights.
        distributed: the job.
        dtype: autocast dtype (for the discriminator step).
        lr: discriminator learning rate.
    """

    def __init__(
        self, vae: VideoVAE, loss: VAELossConfig, distributed: Distributed, dtype: torch.dtype, lr: float
    ) -> None:
        self.device, self.dtype = distributed.device, dtype
        self.vae = vae.to(self.device).train()
        self.loss_fn = VAELoss(loss, in_channels=vae.config.in_channels).to(self.device)
        self.modules: dict[str, torch.nn.Module] = {"vae": self.vae}
        self.wrapped = [distributed.wrap(self.vae)]
        self.ema_target = None
        disc = self.loss_fn.discriminator
        self.disc_optimizer = torch.optim.AdamW(disc.parameters(), lr=lr) if disc is not None else None
        self._last: tuple[torch.Tensor, torch.Tensor] | None = None

    def loss(self, batch: dict[str, Any], step: int, generator: torch.Generator) -> dict[str, Any]:
        """VAE terms of a batch of uint8 frame clips ``batch["frames"]`` (B, T, H, W, 3)."""
        x = frames_to_float(batch["frames"].to(self.device))
        gen = generator if self.device.type == "cpu" else None  # CUDA draws use the saved CUDA RNG
        terms, reconstruction = vae_loss_terms(self.wrapped[0], self.loss_fn, x, step, generator=gen)
        self._last = (x, reconstruction)
        return terms

    def after_step(self, step: int, distributed: Distributed) -> dict[str, float]:
        """The discriminator's step on the last micro-batch, when the adversarial term is on."""
        if self.disc_optimizer is None or not self.loss_fn.adversarial_active(step) or self._last is None:
            return {}
        autocast = torch.autocast(self.device.type, dtype=self.dtype, enabled=self.dtype != torch.float32)
        x, reconstruction = self._last
        return discriminator_step(
            self.loss_fn, self.disc_optimizer, x, reconstruction, autocast, distributed.average_grads
        )

    def extra_state(self) -> dict[str, Any]:
        """Discriminator weights and optimizer (empty without one)."""
        if self.disc_optimizer is None:
            return {}
        return {
            "discriminator": self.loss_fn.discriminator.state_dict(),
            "disc_optimizer": self.disc_optimizer.state_dict(),
        }

    def load_extra_state(self, state: dict[str, Any]) -> None:
        """Restore :meth:`extra_state`."""
        if self.disc_optimizer is not None:
            self.loss_fn.discriminator.load_state_dict(state["discriminator"])
            self.disc_optimizer.load_state_dict(state["disc_optimizer"])


class DiTTask:
    """Train the DiT + reward/termination head with the diffusion-forcing loss.

    Args:
        denoiser: DiT + head (moved to the rank's device).
        model: the model config (objective and noise schedule).
        distributed: the job.
    """

    def __init__(self, denoiser: Denoiser, model: ModelConfig, distributed: Distributed) -> None:
        self.device = distributed.device
        self.denoiser = denoiser.to(self.device).train()
        self.schedule = NoiseSchedule(model.noise_schedule)
        self.objective = model.objective
        self.modules: dict[str, torch.nn.Module] = {"denoiser": self.denoiser}
        self.wrapped = [distributed.wrap(self.denoiser)]
        self.ema_target = self.denoiser

    def latent_loss(
        self, latents: torch.Tensor, batch: dict[str, Any], generator: torch.Generator
    ) -> dict[str, Any]:
        """Loss terms on float (B, T, C, h, w) latents with the batch's actions, rewards, terminations."""
        out = self.wrapped[0](
            diffusion_forcing_loss,
            self.schedule,
            self.objective,
            latents.to(self.device, torch.float32),
            batch["actions"].to(self.device, torch.float32),
            rewards=batch["rewards"].to(self.device),
            terminated=batch["terminated"].to(self.device),
            generator=generator,
        )
        return _terms(out)

    def packed_loss(
        self, latents: list[torch.Tensor], batch: dict[str, Any], generator: torch.Generator
    ) -> dict[str, Any]:
        """Loss terms on clips of different sizes (``MixedSizes`` batches), packed into one sequence.

        Args:
            latents: per clip, float (T_i, C, h_i, w_i).
            batch: per-clip lists of actions (T_i - 1, A), rewards and terminations (T_i - 1,).
            generator: the trainer's generator.
        """

        def each(key: str, dtype: torch.dtype | None = None) -> list[torch.Tensor]:
            return [v.to(self.device, dtype) for v in batch[key]]

        out = self.wrapped[0](
            packed_diffusion_forcing_loss,
            self.schedule,
            self.objective,
            [clip.to(self.device, torch.float32) for clip in latents],
            each("actions", torch.float32),
            rewards=each("rewards"),
            terminated=each("terminated"),
            generator=generator,
        )
        return _terms(out)

    def loss(self, batch: dict[str, Any], step: int, generator: torch.Generator) -> dict[str, Any]:
        """Loss terms of a batch of cached latent clips ``batch["latents"]``: a (B, T, C, h, w)
        tensor, or a list of (T_i, C, h_i, w_i) clips of different sizes (packed)."""
        if isinstance(batch["latents"], list):
            return self.packed_loss(batch["latents"], batch, generator)
        return self.latent_loss(batch["latents"], batch, generator)

    def after_step(self, step: int, distributed: Distributed) -> dict[str, float]:
        """Nothing more to do."""
        return {}

    def extra_state(self) -> dict[str, Any]:
        """No extra state."""
        return {}

    def load_extra_state(self, state: dict[str, Any]) -> None:
        """No extra state."""


class JointTask:
    """VAE and DiT trained together on frame clips; see the module docstring.

    Args:
        vae_task: the VAE part.
        dit_task: the DiT part.
    """

    def __init__(self, vae_task: VAETask, dit_task: DiTTask) -> None:
        self.vae_task, self.dit_task = vae_task, dit_task
        self.modules = {**vae_task.modules, **dit_task.modules}
        self.wrapped = [*vae_task.wrapped, *dit_task.wrapped]
        self.ema_target = dit_task.ema_target

    def loss(self, batch: dict[str, Any], step: int, generator: torch.Generator) -> dict[str, Any]:
        """VAE loss + DiT loss (terms prefixed ``vae_``)."""
        vae_terms = self.vae_task.loss(batch, step, generator)
        latents = self.vae_task.vae.encode(batch["frames"]).float()  # no_grad: the DiT does not train the VAE
        dit_terms = self.dit_task.latent_loss(latents, batch, generator)
        terms = {f"vae_{k}": v for k, v in vae_terms.items() if k != "loss"}
        return {
            **dit_terms,
            **terms,
            "vae_loss": vae_terms["loss"],
            "loss": vae_terms["loss"] + dit_terms["loss"],
        }

    def after_step(self, step: int, distributed: Distributed) -> dict[str, float]:
        """The VAE discriminator's step."""
        return self.vae_task.after_step(step, distributed)

    def extra_state(self) -> dict[str, Any]:
        """The VAE part's extra state."""
        return self.vae_task.extra_state()

    def load_extra_state(self, state: dict[str, Any]) -> None:
        """Restore :meth:`extra_state`."""
        self.vae_task.load_extra_state(state)
