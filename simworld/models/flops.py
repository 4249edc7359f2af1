"""Analytic FLOP counts of the DiT (one multiply-add = 2 FLOPs).

Counted: every linear layer (patch embedding, qkv/out projections, MLPs, adaLN modulation,
conditioning MLPs, output layer) and the two attention matmuls (QKᵀ and AV, dense: a masked
entry is counted, as SDPA with a mask computes it). Not counted: norms, RoPE, softmax, GELU and
other elementwise work. ``tests`` check the linear part against ``torch.utils.flop_counter``.
"""

from __future__ import annotations

from dataclasses import dataclass

from simworld.models.dit import PRESETS, DiTConfig


@dataclass(frozen=True)
class FlopCount:
    """FLOPs of one DiT forward pass.

    Attributes:
        linear: FLOPs of linear layers.
        attention: FLOPs of the attention matmuls.
    """

    linear: int
    attention: int

    @property
    def total(self) -> int:
        """linear + attention."""
        return self.linear + self.attention


def dit_forward_flops(
    config: DiTConfig, tokens_per_frame: int, new_frames: int, context_frames: int = 0, batch: int = 1
) -> FlopCount:
    """FLOPs of a DiT forward over ``new_frames`` frames after ``context_frames`` KV-cached frames.

    Args:
        config: the architecture.
        tokens_per_frame: N = (h / p) * (w / p).
        new_frames: frames computed in this pass (all frames when there is no cache).
        context_frames: frames read from the KV cache.
        batch: clips.
    """
    D, N, T, F = config.hidden_size, tokens_per_frame, new_frames, context_frames
    P = config.in_channels * config.patch_size**2
    hidden = int(D * config.mlp_ratio)
    kinds = ("full",) if config.attention == "spacetime" else ("spatial", "temporal")
    per_token = 2 * P * D + config.depth * (len(kinds) * 8 * D * D + 4 * D * hidden) + 2 * D * P
    per_frame = 2 * (config.timestep_channels * D + D * D) + 2 * (config.action_dim * D + D * D)
    if config.extra_cond_dim:
        per_frame += 2 * (config.extra_cond_dim * D + D * D)
    per_frame += config.depth * 2 * D * 3 * (len(kinds) + 1) * D + 2 * D * 2 * D
    attention = 0
    for kind in kinds:
        if kind == "spatial":
            attention += 4 * T * N * N * D
        elif kind == "temporal":
            attention += 4 * N * T * (F + T) * D
        else:
            attention += 4 * (T * N) * ((F + T) * N) * D
    linear = batch * (per_token * T * N + per_frame * T)
    return FlopCount(linear=linear, attention=batch * config.depth * attention)


def flops_per_generated_frame(
    config: DiTConfig,
    tokens_per_frame: int,
    context_frames: int,
    num_inference_steps: int,
    guidance: bool = False,
) -> int:
    """FLOPs to generate one frame with the KV cache: each denoising step runs the new frame
    against ``context_frames`` cached frames (twice with guidance), then one pass appends it to the cache.
    """
    step = dit_forward_flops(config, tokens_per_frame, 1, context_frames).total
    return step * (num_inference_steps * (2 if guidance else 1) + 1)


def parameter_count(config: DiTConfig) -> int:
    """Parameters of a DiT with this config (built on the meta device, no memory used)."""
    import torch

    from simworld.models.dit import DiT

    with torch.device("meta"):
        model = DiT(config)
    return model.num_parameters()


def preset_table(
    in_channels: int,
    latent_size: int,
    patch_size: int,
    context_frames: int,
    num_inference_steps: int,
    attention: str = "factorized",
) -> list[dict[str, float]]:
    """Size, FLOPs per denoising step and per generated frame of every preset, for a square latent.

    Args:
        in_channels: latent channels.
        latent_size: latent side h = w.
        patch_size: patch side.
        context_frames: cached context frames.
        num_inference_steps: denoising steps per frame (no guidance).
        attention: "factorized" or "spacetime".
    """
    rows = []
    N = (latent_size // patch_size) ** 2
    for name in PRESETS:
        cfg = DiTConfig.preset(name, in_channels=in_channels, patch_size=patch_size, attention=attention)
        step = dit_forward_flops(cfg, N, 1, context_frames)
        rows.append(
            {
                "preset": name,
                "params_M": parameter_count(cfg) / 1e6,
                "tokens_per_frame": N,
                "step_GFLOP": step.total / 1e9,
                "frame_GFLOP": flops_per_generated_frame(cfg, N, context_frames, num_inference_steps) / 1e9,
            }
        )
    return rows
