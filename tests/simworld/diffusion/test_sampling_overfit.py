"""End-to-end check of the sampling path against the training loss on a memorised clip.

A tiny DiT in pixel space overfits one short real voxel clip with ``diffusion_forcing_loss``;
``WorldModel.reset``/``step`` (``AutoregressiveSampler``, diffusers schedulers, pixel decode) must
then reproduce the clip's last frame from the preceding frames far better than copying the last
context frame, and more denoising steps must not make it worse. A mismatch between training and
sampling (timestep convention, scheduler alphas, context levels, KV cache, action alignment)
shows up here as samples near or below copy-last, getting worse with more steps.

Note: the DiT's width must be at least the patch dimension (``C·p²``); a narrower one cannot pass
the noisy input through and, even overfit, denoises mid-noise inputs badly, so that multi-step
sampling drifts away while one step (from pure noise) still looks fine.
"""

from __future__ import annotations

import math

import gymnasium as gym
import pytest
import torch

import envs  # noqa: F401  (registers the env ids)
from envs.voxel.policies import make_policy
from simworld.diffusion.samplers import SamplerConfig
from simworld.diffusion.schedule import NoiseSchedule
from simworld.diffusion.training import DiffusionForcingConfig, diffusion_forcing_loss
from simworld.models.dit import DiT, DiTConfig
from simworld.models.heads import RewardHeadConfig, RewardTerminationHead
from simworld.models.pixel_space import PixelSpace, PixelSpaceConfig
from simworld.rollout import record_scripted
from simworld.world_model import WorldModel

TRAIN_STEPS = 900


def _psnr(a: torch.Tensor, b: torch.Tensor) -> float:
    """PSNR in dB of uint8 frames."""
    mse = ((a.float() - b.float()) ** 2).mean().item()
    return 10 * math.log10(255**2 / mse)


@pytest.fixture(scope="module")
def overfit():
    """(WorldModel, DiT overfit on one 6-frame 16×16 clip, frames (1, 6, H, W, 3), actions (1, 5, A))."""
    env = gym.make("simworld/VoxelWorld-v0", width=16, height=16)
    traj = record_scripted(env, make_policy("explore"), steps=5, seed=0)
    env.close()
    frames, actions = torch.from_numpy(traj.frames[None]), torch.from_numpy(traj.actions[None]).float()
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # several threads on a busy machine are many times slower
    latent = PixelSpace(PixelSpaceConfig(2))
    latents = latent.encode(frames)  # (1, 6, 12, 8, 8); patch dim 48 <= width 128
    torch.manual_seed(0)
    dit = DiT(DiTConfig.preset("tiny", in_channels=12, patch_size=2, hidden_size=128))
    optim = torch.optim.AdamW(dit.parameters(), lr=3e-3)
    lr = torch.optim.lr_scheduler.OneCycleLR(optim, max_lr=3e-3, total_steps=TRAIN_STEPS, pct_start=0.1)
    schedule = NoiseSchedule()
    config = DiffusionForcingConfig(context_prob=1.0, action_dropout=0.0)
    for step in range(TRAIN_STEPS):
        optim.zero_grad()
        diffusion_forcing_loss(
            dit,
            schedule,
            config,
            latents.expand(4, -1, -1, -1, -1),
            actions.expand(4, -1, -1),
            generator=torch.Generator().manual_seed(step),
        ).loss.backward()
        optim.step()
        lr.step()
    head = RewardTerminationHead(RewardHeadConfig(in_dim=128, hidden=16))
    wm = WorldModel(latent, dit.eval(), head.eval(), (16, 16), max_context_frames=8)
    yield wm, frames, actions
    torch.set_num_threads(threads)


def _sample_last(wm: WorldModel, frames, actions, sampler: SamplerConfig, use_kv_cache: bool = True):
    """The last frame sampled from the preceding ones, uint8 (H, W, 3)."""
    wm.sampler, wm.use_kv_cache = sampler, use_kv_cache
    wm.reset(frames[:, :-1], actions[:, :-1], seed=0)
    return wm.step(actions[:, -1]).frames[0]


def test_sampling_reproduces_memorised_frame(overfit):
    wm, frames, actions = overfit
    truth = frames[0, -1]
    copy_last = _psnr(frames[0, -2], truth)
    psnr = {}
    for name, steps, cache, level in [
        ("ddim", 1, True, 15),
        ("ddim", 4, True, 15),
        ("ddim", 10, True, 15),
        ("dpmsolver++", 10, True, 15),
        ("ddim", 10, False, 15),
        ("ddim", 10, True, 0),
    ]:
        sampler = SamplerConfig(name=name, num_inference_steps=steps, context_noise_level=level)
        psnr[name, steps, cache, level] = _psnr(_sample_last(wm, frames, actions, sampler, cache), truth)
    print(f"copy-last {copy_last:.2f} dB; sampled {psnr}")
    for key, value in psnr.items():
        if key[1] > 1:  # one step only gives the blurry conditional mean
            assert value > copy_last + 5, (key, value, copy_last)
    assert psnr["ddim", 10, True, 15] > psnr["ddim", 1, True, 15] - 0.5, psnr
    assert psnr["ddim", 10, False, 15] == pytest.approx(
        psnr["ddim", 10, True, 15], abs=0.1
    )  # cache = no cache
