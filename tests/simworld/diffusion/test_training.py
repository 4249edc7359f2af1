"""Diffusion-forcing training: noise levels, dropout, head losses, and an overfit run on voxel frames."""

from __future__ import annotations

import gymnasium as gym
import pytest
import torch

import envs  # noqa: F401  (registers the env ids)
from envs.voxel.policies import make_policy
from simworld.diffusion.schedule import NoiseSchedule
from simworld.diffusion.training import (
    DiffusionForcingConfig,
    diffusion_forcing_loss,
    frame_aligned,
    packed_diffusion_forcing_loss,
    sample_noise_levels,
)
from simworld.models.dit import DiT, DiTConfig
from simworld.models.heads import RewardHeadConfig, RewardTerminationHead
from simworld.models.pixel_space import PixelSpace, PixelSpaceConfig
from simworld.rollout import record_scripted


def test_frame_aligned():
    steps = torch.arange(6.0).reshape(2, 3)
    values, mask = frame_aligned(steps)
    assert values.tolist() == [[0, 0, 1, 2], [0, 3, 4, 5]]
    assert mask.tolist() == [[False, True, True, True]] * 2


def test_noise_levels_mix_diffusion_forcing_and_context():
    g = torch.Generator().manual_seed(0)
    levels = sample_noise_levels(
        4000, 6, 1000, DiffusionForcingConfig(context_prob=0.5, context_noise_max=50), g
    )
    assert levels.shape == (4000, 6) and levels.min() >= 0 and levels.max() <= 999
    first = levels[:, 0]
    # Half the clips start with a context frame (<= 50); the others are uniform.
    assert 0.5 < (first <= 50).float().mean() < 0.6
    assert (levels[:, -1] <= 50).float().mean() < 0.1  # the last frame is never context
    independent = sample_noise_levels(2000, 6, 1000, DiffusionForcingConfig(context_prob=0.0), g)
    assert (independent[:, 0] != independent[:, 1]).float().mean() > 0.95  # one level per frame


def test_config_validation():
    with pytest.raises(ValueError, match="action_dropout"):
        DiffusionForcingConfig(action_dropout=1.5)
    with pytest.raises(ValueError):
        DiffusionForcingConfig(context_noise_max=-1)


def test_loss_shapes_errors_and_head_terms():
    model = DiT(DiTConfig.preset("tiny", in_channels=3, patch_size=2))
    head = RewardTerminationHead(RewardHeadConfig(in_dim=64, hidden=16))
    latents, actions = torch.randn(2, 3, 3, 4, 4), torch.randn(2, 2, 21)
    config = DiffusionForcingConfig(context_noise_max=999, action_dropout=0.0)  # every frame feeds the head
    out = diffusion_forcing_loss(
        model,
        NoiseSchedule(),
        config,
        latents,
        actions,
        rewards=torch.ones(2, 2),
        terminated=torch.ones(2, 2, dtype=torch.bool),
        head=head,
        generator=torch.Generator().manual_seed(0),
    )
    assert out.loss.ndim == 0 and out.diffusion > 0 and out.reward > 0 and out.termination > 0
    out.loss.backward()
    assert head.net[1].weight.grad is not None
    with pytest.raises(ValueError, match="T-1"):
        diffusion_forcing_loss(model, NoiseSchedule(), config, latents, actions[:, :1])


def test_teacher_forcing_loss_trains_noisy_copies_and_the_head_on_context_copies():
    model = DiT(DiTConfig.preset("tiny", in_channels=3, patch_size=2))
    head = RewardTerminationHead(RewardHeadConfig(in_dim=64, hidden=16))
    latents, actions = torch.randn(2, 3, 3, 4, 4), torch.randn(2, 2, 21)
    config = DiffusionForcingConfig(action_dropout=0.0, teacher_forcing=True)
    kwargs = dict(rewards=torch.ones(2, 2), terminated=torch.ones(2, 2, dtype=torch.bool), head=head)
    out = diffusion_forcing_loss(
        model, NoiseSchedule(), config, latents, actions, generator=torch.Generator().manual_seed(0), **kwargs
    )
    # a zero-initialised DiT predicts v = 0: the loss is the mean v^2 of the T noisy copies only
    g = torch.Generator().manual_seed(0)
    context = torch.randint(0, config.context_noise_max + 1, (2, 3), generator=g)
    levels = torch.randint(0, 1000, (2, 3), generator=g).float()
    noise = torch.randn((2, 6, 3, 4, 4), generator=g)[:, 3:]
    expected = (NoiseSchedule().velocity(latents, noise, levels) ** 2).mean()
    assert context.max() <= 100
    torch.testing.assert_close(out.diffusion, expected)
    assert out.reward > 0 and out.termination > 0
    out.loss.backward()
    assert head.net[1].weight.grad is not None
    bidirectional = DiT(DiTConfig.preset("tiny", in_channels=3, patch_size=2, temporal="bidirectional"))
    with pytest.raises(ValueError, match="causal"):
        diffusion_forcing_loss(bidirectional, NoiseSchedule(), config, latents, actions)
    with pytest.raises(ValueError, match="clips of one size"):
        packed_diffusion_forcing_loss(model, NoiseSchedule(), config, [latents[0]], [actions[0]])


@pytest.mark.parametrize("teacher_forcing", [False, True])
def test_overfit_on_voxel_frames(teacher_forcing):
    """A tiny DiT in pixel space fits a fixed batch of real voxel-world frames, either objective."""
    env = gym.make("simworld/VoxelWorld-v0", width=32, height=32)
    traj = record_scripted(env, make_policy("explore"), steps=5, seed=0)
    env.close()
    latents = PixelSpace(PixelSpaceConfig(4)).encode(torch.from_numpy(traj.frames[None]))  # (1, 6, 48, 8, 8)
    actions = torch.from_numpy(traj.actions[None])
    torch.manual_seed(0)
    model = DiT(DiTConfig.preset("tiny", in_channels=48, patch_size=2))
    optim = torch.optim.AdamW(model.parameters(), lr=5e-3)
    schedule, config = NoiseSchedule(), DiffusionForcingConfig(teacher_forcing=teacher_forcing)

    def loss(seed: int) -> torch.Tensor:
        return diffusion_forcing_loss(
            model,
            schedule,
            config,
            latents.expand(2, -1, -1, -1, -1),
            actions.expand(2, -1, -1),
            generator=torch.Generator().manual_seed(seed),
        )

    with torch.no_grad():
        before = sum(loss(s).diffusion for s in range(3)) / 3
    for step in range(20):
        optim.zero_grad()
        loss(step % 3).loss.backward()
        optim.step()
    with torch.no_grad():
        after = sum(loss(s).diffusion for s in range(3)) / 3
    assert after < 0.7 * before, (before, after)
