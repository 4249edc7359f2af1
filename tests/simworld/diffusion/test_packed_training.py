"""The packed (NaViT-style) diffusion-forcing loss: equal to the unpacked loss and gradients on clips
of one size, context prefixes inside each clip, an overfit run on mixed sizes, and bad input."""

from __future__ import annotations

import pytest
import torch

from simworld.diffusion.schedule import NoiseSchedule, NoiseScheduleConfig
from simworld.diffusion.training import (
    DiffusionForcingConfig,
    diffusion_forcing_loss,
    packed_diffusion_forcing_loss,
    sample_noise_levels,
)
from simworld.models.dit import DiT, DiTConfig
from simworld.models.heads import RewardHeadConfig, RewardTerminationHead

SCHEDULE = NoiseSchedule(NoiseScheduleConfig())


def _model(attention: str = "factorized", temporal: str = "causal") -> tuple[DiT, RewardTerminationHead]:
    torch.manual_seed(0)
    dit = DiT(DiTConfig.preset("tiny", in_channels=4, patch_size=2, attention=attention, temporal=temporal))
    for p in dit.parameters():  # leave adaLN-Zero's zeros, so that every weight gets a gradient
        p.data.add_(0.02 * torch.randn_like(p))
    return dit, RewardTerminationHead(RewardHeadConfig(in_dim=64, hidden=16))


def _grads(*modules: torch.nn.Module) -> list[torch.Tensor]:
    grads = [p.grad.clone() for m in modules for p in m.parameters()]
    for m in modules:
        m.zero_grad()
    return grads


@pytest.mark.parametrize(
    ("attention", "temporal"), [("factorized", "causal"), ("spacetime", "bidirectional")]
)
def test_packed_loss_and_gradients_equal_the_unpacked_ones_on_equal_clips(
    attention: str, temporal: str
) -> None:
    dit, head = _model(attention, temporal)
    config = DiffusionForcingConfig(context_prob=0.5, action_dropout=0.3)
    x, a = torch.randn(3, 5, 4, 8, 8), torch.randn(3, 4, 21)
    r, t = torch.randn(3, 4), torch.rand(3, 4) < 0.3
    one = diffusion_forcing_loss(
        dit,
        SCHEDULE,
        config,
        x,
        a,
        rewards=r,
        terminated=t,
        head=head,
        generator=torch.Generator().manual_seed(3),
    )
    one.loss.backward()
    unpacked = _grads(dit, head)
    two = packed_diffusion_forcing_loss(
        dit,
        SCHEDULE,
        config,
        list(x),
        list(a),
        rewards=list(r),
        terminated=list(t),
        head=head,
        generator=torch.Generator().manual_seed(3),
    )
    two.loss.backward()
    packed = _grads(dit, head)
    for name in ("loss", "diffusion", "reward", "termination"):
        assert torch.allclose(getattr(one, name), getattr(two, name), rtol=1e-5, atol=1e-6), name
    assert one.reward > 0 and one.termination > 0
    assert all(torch.allclose(u, v, rtol=1e-4, atol=1e-6) for u, v in zip(unpacked, packed))
    # another draw gives another loss: the equality is not that of a constant
    other = packed_diffusion_forcing_loss(
        dit, SCHEDULE, config, list(x), list(a), generator=torch.Generator()
    )
    assert not torch.allclose(other.diffusion, two.diffusion)


def test_context_prefix_stays_inside_each_clip() -> None:
    g = torch.Generator().manual_seed(0)
    config = DiffusionForcingConfig(context_prob=1.0, context_noise_max=0)
    lengths = torch.tensor([2, 3, 8] * 200)
    levels = sample_noise_levels(600, 8, 1000, config, g, lengths=lengths)
    for L in (2, 3, 8):
        rows = levels[lengths == L][:, :L]
        context = (rows == 0).cumprod(dim=1).sum(dim=1)  # leading clean frames
        # every clip starts with context, and (but for a frame drawing level 0 by chance) never
        # is all context: unfolded, a 2-frame clip would be all context 6 times in 7
        assert context.min() >= 1 and (rows == 0).all(dim=1).float().mean() < 0.03
        assert set(range(1, L)) <= set(context.tolist())  # every prefix length occurs


def test_overfit_on_mixed_sizes() -> None:
    dit, head = _model("factorized", "bidirectional")
    config = DiffusionForcingConfig(context_prob=0.5, action_dropout=0.0)
    g = torch.Generator().manual_seed(0)
    sizes = [(5, 8, 8), (3, 4, 8), (4, 8, 4), (2, 4, 4)]  # (T, h, w)
    smooth = torch.linspace(-1, 1, 8)
    clips = [
        (smooth[None, None, :h, None] * smooth[None, None, None, :w]).expand(T, 4, h, w) for T, h, w in sizes
    ]
    actions = [torch.zeros(T - 1, 21) for T, _, _ in sizes]
    rewards = [torch.ones(T - 1) for T, _, _ in sizes]

    def loss(generator: torch.Generator) -> torch.Tensor:
        out = packed_diffusion_forcing_loss(
            dit, SCHEDULE, config, clips, actions, rewards=rewards, head=head, generator=generator
        )
        return out.loss

    with torch.no_grad():
        before = sum(loss(torch.Generator().manual_seed(s)) for s in range(4))
    optimizer = torch.optim.AdamW([*dit.parameters(), *head.parameters()], lr=3e-3)
    for _ in range(40):
        optimizer.zero_grad()
        loss(g).backward()
        optimizer.step()
    with torch.no_grad():
        after = sum(loss(torch.Generator().manual_seed(s)) for s in range(4))
    assert after < 0.5 * before, (before, after)


def test_packed_loss_rejects_mismatched_clips() -> None:
    dit, _ = _model()
    config = DiffusionForcingConfig()
    with pytest.raises(ValueError, match="as many latent clips as action clips"):
        packed_diffusion_forcing_loss(dit, SCHEDULE, config, [torch.randn(3, 4, 8, 8)], [])
    with pytest.raises(
        ValueError, match=r"clip 1: expected latents \(T>=2, C, h, w\) and actions \(T-1, A\)"
    ):
        packed_diffusion_forcing_loss(
            dit,
            SCHEDULE,
            config,
            [torch.randn(3, 4, 8, 8), torch.randn(3, 4, 8, 4)],
            [torch.randn(2, 21), torch.randn(3, 21)],
        )
