"""Tiny random-weight world-model checkpoints for tests, examples and benchmarks.

``build_tiny_checkpoint`` writes a complete checkpoint folder (``simworld.checkpoint`` layout) with
a pixel-space latent, the ``tiny`` DiT preset (perturbed so that it is not the identity that
adaLN-Zero starts as), a small reward/termination head, and bundled starting contexts in
``contexts/contexts.npz`` (see ``envs.learned.contexts``). The weights are random: frames look
like noise and rewards are an arbitrary but deterministic function of them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

from simworld import actions as A
from simworld.checkpoint import save_checkpoint, write_contexts
from simworld.diffusion.samplers import SamplerConfig
from simworld.models.dit import DiT, DiTConfig
from simworld.models.heads import RewardHeadConfig, RewardTerminationHead
from simworld.models.pixel_space import PixelSpace, PixelSpaceConfig


def build_tiny_checkpoint(
    path: str | Path,
    frame_size: tuple[int, int] = (16, 16),
    preset: str = "tiny",
    spatial_factor: int = 4,
    patch_size: int = 2,
    max_context_frames: int = 8,
    num_inference_steps: int = 2,
    context_noise_level: int = 15,
    num_contexts: int = 3,
    context_length: int = 4,
    env: dict[str, Any] | None = None,
    action_gain: float = 1.0,
    seed: int = 0,
    temporal: str = "causal",
    extra_cond_dim: int = 0,
    reference: str = "none",
) -> Path:
    """Write a random-weight checkpoint folder with bundled contexts; return the folder.

    Args:
        path: the checkpoint folder (created).
        frame_size: (H, W), divisible by ``spatial_factor * patch_size``.
        preset: DiT size preset ("tiny", "small", ...).
        spatial_factor: pixel-space block size (1, 2 or 4).
        patch_size: DiT patch side.
        max_context_frames: sliding window of the checkpoint.
        num_inference_steps: sampler default.
        context_noise_level: sampler default.
        num_contexts: starting contexts written to ``contexts/contexts.npz`` (0: none).
        context_length: frames per bundled context.
        env: ``{"id": gymnasium id, "params": kwargs}`` of the real env, stored as
            ``training["env"]`` (used for live resets); None: not recorded.
        action_gain: multiplies the action embedding's output weights. Random weights barely let
            actions change frames and rewards (effects ~1e-3); a gain of ~10 makes the reward
            depend on the action clearly, for tests that need a learnable signal.
        seed: seed of the weights and the contexts.
        temporal: the DiT's temporal attention, "causal" (the world model) or "bidirectional"
            (needed by backward extension and interpolation, ``simworld.modes``).
        extra_cond_dim: length of the DiT's extra conditioning embedding (``simworld.modes``'
            ``condition``); 0 = off.
        reference: the DiT's reference mode ("none" or "previous": ``simworld.diffusion.reference``).
    """

    torch.manual_seed(seed)
    latent = PixelSpace(PixelSpaceConfig(spatial_factor))
    dit = DiT(
        DiTConfig.preset(
            preset,
            in_channels=latent.config.latent_channels,
            patch_size=patch_size,
            temporal=temporal,
            extra_cond_dim=extra_cond_dim,
            reference=reference,
        )
    )
    head = RewardTerminationHead(RewardHeadConfig(in_dim=dit.config.hidden_size, hidden=16))
    with torch.no_grad():  # adaLN-Zero starts as the identity; perturb so frames depend on inputs
        for p in dit.parameters():
            p.add_(torch.randn_like(p) * 0.05)
        dit.action_embed.mlp[2].weight.mul_(action_gain)
    sampler = SamplerConfig(num_inference_steps=num_inference_steps, context_noise_level=context_noise_level)
    training = {"note": "random weights (simworld.testing.build_tiny_checkpoint)"}
    if env is not None:
        training["env"] = dict(env)
    path = save_checkpoint(
        path,
        latent_space=latent,
        dit=dit.eval(),
        head=head.eval(),
        frame_size=frame_size,
        sampler=sampler,
        max_context_frames=max_context_frames,
        training=training,
    )
    if num_contexts > 0:
        rng = np.random.default_rng(seed)
        H, W = frame_size
        frames = rng.integers(0, 256, (num_contexts, context_length, H, W, 3), dtype=np.uint8)
        space = A.action_space(seed=seed)
        actions = np.zeros((num_contexts, context_length - 1, A.FLAT_DIM), np.float32)
        for k in range(num_contexts):
            for t in range(context_length - 1):
                actions[k, t] = A.to_flat(space.sample())
        write_contexts(path, frames, actions.astype(np.float32))
    return path
