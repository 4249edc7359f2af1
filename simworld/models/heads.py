"""Reward and termination head on the DiT trunk.

For frame f the head reads the DiT's last hidden tokens of that frame, fed (nearly) clean (noise
level <= the context-noise level), mean-pools them over space and predicts

- the reward of the transition into frame f (the step whose action conditions frame f), and
- a termination logit: whether frame f ends the episode.

Why a head on the shared trunk rather than DIAMOND's separate reward/termination model: the
frame's features already see its history (causal attention) and the action that led to it (its
adaLN conditioning), the features are computed anyway when the generated frame is appended to
the KV cache, so rewards cost one small MLP per step, and the head trains on the same batches.
The price is that the head's gradient reaches the trunk; ``reward_weight`` and
``termination_weight`` in ``DiffusionForcingConfig`` balance it against the diffusion loss.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn


@dataclass(frozen=True)
class RewardHeadConfig:
    """Configuration of ``RewardTerminationHead``.

    Attributes:
        in_dim: width of the DiT features (``DiTConfig.hidden_size``).
        hidden: hidden width of the MLP.
    """

    in_dim: int = 384
    hidden: int = 256

    def __post_init__(self) -> None:
        if self.in_dim < 1 or self.hidden < 1:
            raise ValueError(f"in_dim and hidden must be >= 1, got {self.in_dim}, {self.hidden}")


@dataclass
class HeadOutput:
    """Predictions of the head.

    Attributes:
        reward: float (B, T) predicted reward of the transition into each frame.
        termination_logit: float (B, T); sigmoid gives the probability that the frame is terminal.
    """

    reward: torch.Tensor
    termination_logit: torch.Tensor


class RewardTerminationHead(nn.Module):
    """Mean-pool a frame's tokens, LayerNorm, MLP to (reward, termination logit).

    Args:
        config: widths.
    """

    def __init__(self, config: RewardHeadConfig) -> None:
        super().__init__()
        self.config = config
        self.net = nn.Sequential(
            nn.LayerNorm(config.in_dim),
            nn.Linear(config.in_dim, config.hidden),
            nn.SiLU(),
            nn.Linear(config.hidden, 2),
        )

    def forward(self, features: torch.Tensor) -> HeadOutput:
        """Predict from DiT features (B, T, N, D) of (nearly) clean frames."""
        pooled = features.mean(dim=2)  # (B, T, D)
        out = self.net(pooled.to(self.net[1].weight.dtype)).float()  # (B, T, 2)
        return HeadOutput(reward=out[..., 0], termination_logit=out[..., 1])
