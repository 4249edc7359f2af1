"""Train the video VAE (stage 1) and measure its reconstructions.

:func:`train_vae` is a plain loop: AdamW on the autoencoder, gradient clipping, optional bf16
autocast, and (when the loss has a discriminator) an alternating discriminator step. It returns
the loss history. The ``simworld train`` CLI (``simworld.train.trainer``: DDP, accumulation,
resume) builds on the same pieces, :func:`vae_loss_terms` and :func:`discriminator_step`.
:func:`evaluate_reconstruction` reports PSNR and LPIPS on held-out clips.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterable, Iterator
from typing import Any

import numpy as np
import torch
from einops import rearrange
from tqdm.auto import tqdm

from simworld.models.vae import VideoVAE
from simworld.models.vae_blocks import frames_to_float
from simworld.models.vae_loss import LPIPSLoad, VAELoss, VAELossConfig, load_lpips

COMPUTE_DTYPES = (torch.float32, torch.bfloat16)
PSNR_DATA_RANGE = 255.0


def _cycle(batches: Iterable[Any]) -> Iterator[Any]:
    """Yield from ``batches`` again and again (a list is re-iterated; a used-up iterator is an error)."""
    while True:
        empty = True
        for batch in batches:
            empty = False
            yield batch
        if empty:
            raise ValueError("the batches iterable yielded nothing (a one-shot iterator that ran out?)")


def vae_loss_terms(
    model: torch.nn.Module,
    loss_fn: VAELoss,
    x: torch.Tensor,
    step: int,
    *,
    generator: torch.Generator | None = None,
) -> tuple[dict[str, torch.Tensor | str], torch.Tensor]:
    """The VAE loss of float (B, T, C, H, W) clips in [-1, 1]: (terms with ``loss``, reconstruction).

    ``model`` is the ``VideoVAE`` or a wrapper around it with the same ``forward`` (DDP); run it
    under the caller's autocast.
    """
    reconstruction, posterior = model(x, sample_posterior=True, generator=generator)
    return loss_fn(x, reconstruction, posterior, step), reconstruction


def discriminator_step(
    loss_fn: VAELoss,
    disc_optimizer: torch.optim.Optimizer,
    x: torch.Tensor,
    reconstruction: torch.Tensor,
    autocast: Any,
    grad_hook: Any = None,
) -> dict[str, float]:
    """One hinge-loss step of the discriminator on real clips and (detached) reconstructions.

    ``grad_hook(parameters)`` runs between backward and step (e.g. a DDP gradient all-reduce).
    """
    with autocast:
        d_terms = loss_fn.discriminator_loss(x, reconstruction.detach())
    disc_optimizer.zero_grad(set_to_none=True)  # also drops what the generator term left there
    d_terms["loss_d"].backward()
    if grad_hook is not None:
        grad_hook(loss_fn.discriminator.parameters())
    disc_optimizer.step()
    return {k: float(v.detach()) for k, v in d_terms.items()}


def train_step(
    model: VideoVAE,
    loss_fn: VAELoss,
    optimizer: torch.optim.Optimizer,
    frames: torch.Tensor | np.ndarray,
    step: int,
    *,
    dtype: torch.dtype = torch.float32,
    grad_clip: float | None = 1.0,
    generator: torch.Generator | None = None,
    disc_optimizer: torch.optim.Optimizer | None = None,
) -> dict[str, float | str]:
    """One optimisation step on a batch of uint8 (B, T, H, W, C) clips; returns the terms as floats.

    The autoencoder step backpropagates ``loss_fn``'s total; then, if the adversarial terms are
    active at ``step``, the discriminator takes a hinge-loss step on the same batch.
    """
    device = model.device
    x = frames_to_float(torch.as_tensor(frames).to(device))
    autocast = torch.autocast(device.type, dtype=dtype, enabled=dtype != torch.float32)
    with autocast:
        terms, reconstruction = vae_loss_terms(model, loss_fn, x, step, generator=generator)
    optimizer.zero_grad(set_to_none=True)
    terms["loss"].backward()
    clip = grad_clip if grad_clip is not None else math.inf
    grad_norm = torch.nn.utils.clip_grad_norm_(model.parameters(), clip)
    optimizer.step()
    out = {k: (float(v.detach()) if isinstance(v, torch.Tensor) else v) for k, v in terms.items()}
    out["grad_norm"] = float(grad_norm)
    if disc_optimizer is not None and loss_fn.adversarial_active(step):
        out.update(discriminator_step(loss_fn, disc_optimizer, x, reconstruction, autocast))
    return out


def train_vae(
    model: VideoVAE,
    batches: Iterable[torch.Tensor | np.ndarray],
    steps: int,
    lr: float = 1e-4,
    device: str | torch.device = "cpu",
    dtype: torch.dtype = torch.float32,
    *,
    loss: VAELoss | VAELossConfig | None = None,
    grad_clip: float | None = 1.0,
    weight_decay: float = 0.0,
    betas: tuple[float, float] = (0.9, 0.999),
    seed: int = 0,
    progress: bool = False,
) -> list[dict[str, float | str]]:
    """Train ``model`` for ``steps`` steps on uint8 clips and return the per-step loss history.

    Args:
        model: the VAE; moved to ``device`` (its parameters keep their dtype).
        batches: uint8 (B, T, H, W, C) clips, tensors or arrays; re-iterated when exhausted.
        steps: optimisation steps.
        lr: AdamW learning rate (the discriminator uses the same).
        device: where to train.
        dtype: compute dtype: ``torch.float32``, or ``torch.bfloat16`` for autocast (weights and
            optimizer state stay float32).
        loss: a :class:`VAELoss`, or its config (default: ``VAELossConfig()``, L1 + LPIPS + KL).
        grad_clip: max global gradient norm of the autoencoder (``None``: no clipping).
        weight_decay: AdamW weight decay.
        betas: AdamW betas.
        seed: seeds the posterior sampling noise.
        progress: show a progress bar.

    Returns:
        One dict per step: ``step``, ``loss``, ``l1``, ``kl``, ``lpips`` (a float, or the string
        ``"unavailable: ..."``), ``grad_norm``, ``seconds`` since the start, and ``adv_g``,
        ``loss_d``, ``logits_real``, ``logits_fake`` while the adversarial terms are on.

    Raises:
        ValueError: ``steps < 1``, an unsupported ``dtype`` or no batches.
    """
    if steps < 1:
        raise ValueError(f"steps must be >= 1, got {steps}")
    if dtype not in COMPUTE_DTYPES:
        raise ValueError(f"dtype must be one of {[str(d) for d in COMPUTE_DTYPES]}, got {dtype}")
    device = torch.device(device)
    model.to(device).train()
    loss_fn = loss if isinstance(loss, VAELoss) else VAELoss(loss, in_channels=model.config.in_channels)
    loss_fn.to(device)
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr, betas=betas, weight_decay=weight_decay)
    disc_optimizer = None
    if loss_fn.discriminator is not None:
        disc_optimizer = torch.optim.AdamW(loss_fn.discriminator.parameters(), lr=lr, betas=betas)
    generator = torch.Generator(device).manual_seed(seed)
    history: list[dict[str, float | str]] = []
    batch_iter = _cycle(batches)
    t0 = time.perf_counter()
    for step in tqdm(range(steps), desc="train vae", disable=not progress):
        terms = train_step(
            model,
            loss_fn,
            optimizer,
            next(batch_iter),
            step,
            dtype=dtype,
            grad_clip=grad_clip,
            generator=generator,
            disc_optimizer=disc_optimizer,
        )
        history.append({"step": step, **terms, "seconds": time.perf_counter() - t0})
    return history


@torch.no_grad()
def evaluate_reconstruction(
    model: VideoVAE,
    frames: torch.Tensor | np.ndarray,
    batch_size: int = 8,
    lpips: LPIPSLoad | None = None,
    weights_dir: str | None = None,
) -> dict[str, float | int | str]:
    """PSNR and LPIPS of ``decode(encode(frames))`` (posterior mean) on held-out clips.

    PSNR is torchmetrics' ``PeakSignalNoiseRatio`` with ``data_range=255`` on the uint8 values,
    computed per frame and averaged over frames. LPIPS is v0.1 alex (:func:`load_lpips`) on
    frames scaled to [-1, 1], averaged over frames.

    Args:
        model: the VAE (evaluated where it is, in its dtype).
        frames: uint8 (N, T, H, W, C) clips.
        batch_size: clips per encode/decode call.
        lpips: an already loaded LPIPS (default: :func:`load_lpips` with ``weights_dir``).
        weights_dir: searched first for the LPIPS trunk.

    Returns:
        ``{"psnr": dB, "psnr_data_range": 255.0, "lpips": float or "unavailable: <reason>",
        "frames": number of frames}``.
    """
    from torchmetrics.image import PeakSignalNoiseRatio

    frames = torch.as_tensor(frames)
    lpips = lpips if lpips is not None else load_lpips(weights_dir)
    psnr = PeakSignalNoiseRatio(data_range=PSNR_DATA_RANGE, reduction="elementwise_mean", dim=(1, 2, 3))
    lpips_sum, count = 0.0, 0
    was_training = model.training
    model.eval()
    for first in range(0, len(frames), batch_size):
        clips = frames[first : first + batch_size]
        decoded = model.decode(model.encode(clips)).cpu()
        flat = "b t h w c -> (b t) c h w"
        real, fake = rearrange(clips, flat).float(), rearrange(decoded, flat).float()
        psnr.update(fake, real)
        if lpips.net is not None:
            net = lpips.net.to(real.device)
            lpips_sum += float(net(real / 127.5 - 1.0, fake / 127.5 - 1.0).sum())
        count += len(real)
    model.train(was_training)
    return {
        "psnr": float(psnr.compute()),
        "psnr_data_range": PSNR_DATA_RANGE,
        "lpips": lpips_sum / count if lpips.net is not None else lpips.status,
        "frames": count,
    }
