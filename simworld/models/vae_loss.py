"""Training loss of the video VAE: L1 + LPIPS + KL, and an optional PatchGAN hinge term.

The recipe of the latent-diffusion autoencoders (Rombach et al. 2022, ``LPIPSWithDiscriminator``
in CompVis/latent-diffusion) that video VAEs such as CogVideoX and Wan keep:

    loss = l1_weight · |x - x̂| + lpips_weight · LPIPS(x, x̂) + kl_weight · KL(q(z|x) || N(0, I))
           + adv_weight · (-D(x̂))                                        (from adv_start_step on)

with every term a mean: L1 over pixels, LPIPS over frames, KL over latent elements (so
``kl_weight = 1e-6`` here is about 12× weaker than the same number in latent-diffusion, which
sums both the pixel and the latent terms per image, at ×4/4 channels). The discriminator
(a per-frame PatchGAN, Isola et al. 2017) is trained with the hinge loss (Lim & Ye 2017) by
:meth:`VAELoss.discriminator_loss`.

LPIPS is v0.1 "alex" from the ``lpips`` package: its linear heads ship in the wheel, the ImageNet
AlexNet trunk is found through :func:`simworld.weights.find_weight` (``lpips_alexnet_trunk``). When
the trunk is not found, or fails its checksum, the LPIPS term is off: the loss logs a warning once
and every dict it returns has ``"lpips": "unavailable: <reason>"``. It never falls back to another
network.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from einops import rearrange
from torch import nn

from simworld.lpips_net import build_lpips
from simworld.models.vae_blocks import Posterior
from simworld.weights import find_weight

log = logging.getLogger(__name__)


@dataclass
class LPIPSLoad:
    """Result of :func:`load_lpips`.

    Attributes:
        net: The LPIPS network (eval mode, frozen), or ``None`` when unavailable.
        status: ``"lpips v0.1 alex, trunk <path>"`` or ``"unavailable: <reason>"``.
    """

    net: nn.Module | None
    status: str

    @property
    def available(self) -> bool:
        """Whether ``net`` is usable."""
        return self.net is not None


def load_lpips(weights_dir: str | os.PathLike[str] | None = None) -> LPIPSLoad:
    """Build LPIPS v0.1 (alex) with the AlexNet trunk found by ``find_weight("lpips_alexnet_trunk")``.

    Args:
        weights_dir: searched first; then ``$SIMWORLD_WEIGHTS_DIR``, torch's hub cache and
            ``../shared/weights`` (see :mod:`simworld.weights`).

    Returns:
        An :class:`LPIPSLoad`; ``net`` is ``None`` with the reason in ``status`` when the trunk is
        missing or fails its checksum. The network takes float (N, 3, H, W) in [-1, 1].
    """
    lookup = find_weight("lpips_alexnet_trunk", weights_dir)
    if lookup.path is None:
        searched = ", ".join(str(p) for p in lookup.searched)
        return LPIPSLoad(None, f"unavailable: AlexNet trunk weights not found (searched {searched})")
    if lookup.verify() is False:
        return LPIPSLoad(None, f"unavailable: {lookup.path} does not match its sha256 {lookup.sha256}")
    net = build_lpips("alex", lookup.path, lookup.file.format if lookup.file else "safetensors")
    return LPIPSLoad(net, f"lpips v0.1 alex, trunk {lookup.path}")


class PatchDiscriminator(nn.Module):
    """PatchGAN discriminator (Isola et al. 2017; taming-transformers' ``NLayerDiscriminator``), per frame.

    GroupNorm replaces BatchNorm because our batches are a few clips. Input float (N, C, H, W) in
    [-1, 1]; output (N, 1, h, w) patch logits.

    Args:
        in_channels: image channels.
        channels: width of the first layer (doubled per layer, at most 8×).
        num_layers: stride-2 layers; the receptive field grows with it (3: 70×70 pixels).
    """

    def __init__(self, in_channels: int = 3, channels: int = 32, num_layers: int = 3) -> None:
        super().__init__()
        layers: list[nn.Module] = [nn.Conv2d(in_channels, channels, 4, 2, 1), nn.LeakyReLU(0.2)]
        width = channels
        for i in range(1, num_layers + 1):
            out = channels * min(2**i, 8)
            stride = 2 if i < num_layers else 1
            layers += [
                nn.Conv2d(width, out, 4, stride, 1, bias=False),
                nn.GroupNorm(8, out),
                nn.LeakyReLU(0.2),
            ]
            width = out
        layers.append(nn.Conv2d(width, 1, 4, 1, 1))
        self.layers = nn.Sequential(*layers)
        for module in self.modules():  # DCGAN init, as pix2pix/taming do
            if isinstance(module, nn.Conv2d):
                nn.init.normal_(module.weight, 0.0, 0.02)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(N, C, H, W) -> (N, 1, h, w) logits."""
        return self.layers(x)


@dataclass
class VAELossConfig:
    """Weights of the VAE loss terms.

    Attributes:
        l1_weight: weight of the mean absolute pixel error (pixels in [-1, 1]).
        lpips_weight: weight of mean LPIPS per frame (latent-diffusion uses 1.0); 0 turns it off.
        kl_weight: weight of the mean KL per latent element.
        adv_weight: weight of the generator's hinge term; 0 (default) builds no discriminator.
        adv_start_step: step from which the adversarial terms (both sides) are on.
        disc_channels: width of the discriminator's first layer.
        disc_layers: stride-2 layers of the discriminator.
        weights_dir: searched first for the LPIPS trunk (then the standard places).
    """

    l1_weight: float = 1.0
    lpips_weight: float = 1.0
    kl_weight: float = 1e-6
    adv_weight: float = 0.0
    adv_start_step: int = 0
    disc_channels: int = 32
    disc_layers: int = 3
    weights_dir: str | None = None

    def __post_init__(self) -> None:
        for name in ("l1_weight", "lpips_weight", "kl_weight", "adv_weight"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)}")
        if (
            self.adv_start_step < 0
            or self.disc_channels < 8
            or self.disc_channels % 8
            or self.disc_layers < 1
        ):
            raise ValueError(
                f"need adv_start_step >= 0, disc_channels a positive multiple of 8, disc_layers >= 1; got "
                f"{self.adv_start_step}, {self.disc_channels}, {self.disc_layers}"
            )


class VAELoss(nn.Module):
    """The VAE loss; holds the frozen LPIPS network and, when ``adv_weight > 0``, the discriminator.

    Attributes:
        lpips_status: what :func:`load_lpips` found (``"unavailable: ..."`` when the term is off).
        discriminator: the :class:`PatchDiscriminator`, or ``None``.
    """

    def __init__(self, config: VAELossConfig | None = None, in_channels: int = 3) -> None:
        super().__init__()
        self.config = config or VAELossConfig()
        self.lpips: nn.Module | None = None
        if self.config.lpips_weight > 0:
            loaded = load_lpips(self.config.weights_dir)
            self.lpips, self.lpips_status = loaded.net, loaded.status
            if self.lpips is None:
                log.warning("VAE loss: LPIPS term off, %s", loaded.status)
        else:
            self.lpips_status = "unavailable: lpips_weight is 0"
        self.discriminator = (
            PatchDiscriminator(in_channels, self.config.disc_channels, self.config.disc_layers)
            if self.config.adv_weight > 0
            else None
        )

    def adversarial_active(self, step: int) -> bool:
        """Whether the adversarial terms are on at ``step``."""
        return self.discriminator is not None and step >= self.config.adv_start_step

    def lpips_distance(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """Mean LPIPS over frames of float (B, T, C, H, W) clips in [-1, 1] (needs the network)."""
        if self.lpips is None:
            raise RuntimeError(f"LPIPS is {self.lpips_status}")
        flat = "b t c h w -> (b t) c h w"
        return self.lpips(rearrange(x, flat).float(), rearrange(y, flat).float()).mean()

    def forward(
        self, x: torch.Tensor, reconstruction: torch.Tensor, posterior: Posterior, step: int = 0
    ) -> dict[str, torch.Tensor | str]:
        """The autoencoder's (generator's) loss.

        Args:
            x: float (B, T, C, H, W) in [-1, 1], the input clip.
            reconstruction: float (B, T, C, H, W), the decoder's output (unclamped).
            posterior: the encoder's posterior.
            step: training step (gates the adversarial term).

        Returns:
            ``{"loss", "l1", "kl", "lpips", ["adv_g"]}``: scalar tensors (``loss`` with gradients,
            the others detached), except ``"lpips"``, which is the string ``"unavailable: ..."``
            when the LPIPS term is off.
        """
        cfg = self.config
        l1 = (x.float() - reconstruction.float()).abs().mean()
        kl = posterior.kl().mean()
        loss = cfg.l1_weight * l1 + cfg.kl_weight * kl
        terms: dict[str, torch.Tensor | str] = {"l1": l1.detach(), "kl": kl.detach()}
        if self.lpips is not None:
            lpips_value = self.lpips_distance(x, reconstruction)
            loss = loss + cfg.lpips_weight * lpips_value
            terms["lpips"] = lpips_value.detach()
        else:
            terms["lpips"] = self.lpips_status
        if self.adversarial_active(step):
            logits = self.discriminator(rearrange(reconstruction, "b t c h w -> (b t) c h w"))
            adv_g = -logits.float().mean()
            loss = loss + cfg.adv_weight * adv_g
            terms["adv_g"] = adv_g.detach()
        return {"loss": loss, **terms}

    def discriminator_loss(self, x: torch.Tensor, reconstruction: torch.Tensor) -> dict[str, torch.Tensor]:
        """Hinge loss of the discriminator on real ``x`` vs. detached ``reconstruction`` (B, T, C, H, W).

        Returns:
            ``{"loss_d", "logits_real", "logits_fake"}`` (the last two detached means).
        """
        if self.discriminator is None:
            raise RuntimeError("no discriminator: adv_weight is 0")
        flat = "b t c h w -> (b t) c h w"
        real = self.discriminator(rearrange(x, flat)).float()
        fake = self.discriminator(rearrange(reconstruction.detach(), flat)).float()
        loss_d = 0.5 * (F.relu(1.0 - real).mean() + F.relu(1.0 + fake).mean())
        return {"loss_d": loss_d, "logits_real": real.mean().detach(), "logits_fake": fake.mean().detach()}
