"""The spacetime DiT: shapes, configs, causality, KV cache, packing, RoPE and FLOP counts."""

from __future__ import annotations

import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode

from simworld.actions import CAMERA_MAX_DEG, FLAT_CAMERA, FLAT_DIM
from simworld.models.conditioning import mu_law_camera
from simworld.models.dit import PRESETS, DiT, DiTConfig
from simworld.models.flops import dit_forward_flops, parameter_count
from simworld.models.kv_cache import KVCache
from simworld.models.packing import pack_clips, patchify, unpatchify
from simworld.models.rope import apply_rope, rope_angles, rope_axis_dims
from simworld.models.spatial_pos import SPATIAL_POS_MODES, grid_fractions, spatial_embedding

ATOL = 1e-5


def tiny_dit(**overrides) -> DiT:
    """A tiny DiT whose zero-initialised layers are perturbed so every path matters."""
    torch.manual_seed(0)
    model = DiT(DiTConfig.preset("tiny", in_channels=3, patch_size=2, **overrides)).eval()
    with torch.no_grad():
        for p in model.parameters():
            p.add_(torch.randn_like(p) * 0.05)
    return model


def inputs(B: int = 2, T: int = 4, h: int = 8, w: int = 8, seed: int = 1):
    g = torch.Generator().manual_seed(seed)
    return (
        torch.randn(B, T, 3, h, w, generator=g),
        torch.rand(B, T, generator=g) * 999,
        torch.randn(B, T, FLAT_DIM, generator=g),
    )


@pytest.mark.parametrize("attention", ["factorized", "spacetime"])
def test_shapes_and_zero_init(attention):
    model = DiT(DiTConfig.preset("tiny", in_channels=3, patch_size=2, attention=attention))
    x, levels, actions = inputs(h=8, w=12)
    out = model(x, levels, actions)
    assert out.prediction.shape == x.shape
    assert out.features.shape == (2, 4, 4 * 6, 64)
    assert torch.all(out.prediction == 0)  # adaLN-Zero + zero output layer


def test_config_validation_and_presets():
    with pytest.raises(ValueError, match="attention must be one of"):
        DiTConfig(attention="axial")
    with pytest.raises(ValueError, match="temporal must be one of"):
        DiTConfig(temporal="future")
    with pytest.raises(ValueError, match="divisible by num_heads"):
        DiTConfig(hidden_size=100, num_heads=3)
    with pytest.raises(ValueError, match="unknown DiT preset"):
        DiTConfig.preset("huge")
    assert list(PRESETS) == ["tiny", "mini", "small", "base", "L", "XL"]
    sizes = [parameter_count(DiTConfig.preset(name)) for name in PRESETS]
    assert sizes == sorted(sizes) and sizes[0] < 1e6 and sizes[-1] > 5e8


def test_bad_inputs():
    model = tiny_dit()
    x, levels, actions = inputs()
    with pytest.raises(ValueError, match="expected latents"):
        model(x[:, :, :2], levels, actions)
    with pytest.raises(ValueError, match="expected latents"):
        model(x[..., :7], levels, actions)
    with pytest.raises(ValueError, match="expected noise_levels"):
        model(x, levels[:, :2], actions)
    with pytest.raises(ValueError, match="expected actions"):
        model(x, levels, actions[..., :5])
    with pytest.raises(ValueError, match="no extra conditioning"):
        model(x, levels, actions, extra=torch.zeros(2, 4, 3))


@pytest.mark.parametrize("attention", ["factorized", "spacetime"])
def test_causal_and_bidirectional(attention):
    x, levels, actions = inputs()
    changed = x.clone()
    changed[:, 2:] = torch.randn_like(changed[:, 2:])
    causal = tiny_dit(attention=attention)
    a, b = causal(x, levels, actions).prediction, causal(changed, levels, actions).prediction
    torch.testing.assert_close(a[:, :2], b[:, :2], atol=ATOL, rtol=0)  # earlier frames untouched
    assert (a[:, 2:] - b[:, 2:]).abs().max() > 1e-3
    bidirectional = tiny_dit(attention=attention, temporal="bidirectional")
    a, b = bidirectional(x, levels, actions).prediction, bidirectional(changed, levels, actions).prediction
    assert (a[:, :2] - b[:, :2]).abs().max() > 1e-3  # the future reaches the past
    with pytest.raises(ValueError, match="causal"):
        bidirectional(x, levels, actions, cache=KVCache(4))


@pytest.mark.parametrize("spatial_pos", SPATIAL_POS_MODES)
@pytest.mark.parametrize("attention", ["factorized", "spacetime"])
def test_kv_cache_matches_full_forward(attention, spatial_pos):
    model = tiny_dit(attention=attention, spatial_pos=spatial_pos)
    x, levels, actions = inputs(T=5)
    full = model(x, levels, actions)
    cache = KVCache(max_frames=8)
    parts = [model(x[:, :3], levels[:, :3], actions[:, :3], cache=cache, write_cache=True)]
    parts.append(model(x[:, 3:4], levels[:, 3:4], actions[:, 3:4], cache=cache, write_cache=True))
    peek = model(x[:, 4:], levels[:, 4:], actions[:, 4:], cache=cache, write_cache=False)
    assert cache.num_frames == 4  # the read-only pass did not append
    parts.append(peek)
    torch.testing.assert_close(
        torch.cat([p.prediction for p in parts], 1), full.prediction, atol=ATOL, rtol=0
    )
    torch.testing.assert_close(torch.cat([p.features for p in parts], 1), full.features, atol=1e-4, rtol=0)


@pytest.mark.parametrize("attention", ["factorized", "spacetime"])
def test_teacher_forcing_denoises_each_frame_as_autoregressive_sampling_does(attention):
    """Noisy copy i of a teacher-forced pass == the last frame of a causal pass over context 0..i-1 + it."""
    model = tiny_dit(attention=attention, spatial_pos="fractional")
    x, levels, actions = inputs(T=4)
    noisy, noisy_levels, _ = inputs(T=4, seed=2)
    tf = model(
        torch.cat([x, noisy], 1),
        torch.cat([levels, noisy_levels], 1),
        torch.cat([actions, actions], 1),
        teacher_forcing=True,
    )
    for i in range(4):
        ar = model(
            torch.cat([x[:, :i], noisy[:, i : i + 1]], 1),
            torch.cat([levels[:, :i], noisy_levels[:, i : i + 1]], 1),
            actions[:, : i + 1],
        )
        torch.testing.assert_close(tf.prediction[:, 4 + i], ar.prediction[:, i], atol=ATOL, rtol=0)
        torch.testing.assert_close(
            tf.prediction[:, i], model(x, levels, actions).prediction[:, i], atol=ATOL, rtol=0
        )
    changed = noisy.clone()
    changed[:, 1] += 1.0  # a noisy copy reaches no other frame
    other = model(torch.cat([x, changed], 1), torch.cat([levels, noisy_levels], 1), teacher_forcing=True)
    plain = model(torch.cat([x, noisy], 1), torch.cat([levels, noisy_levels], 1), teacher_forcing=True)
    keep = [f for f in range(8) if f != 5]
    torch.testing.assert_close(other.prediction[:, keep], plain.prediction[:, keep], atol=ATOL, rtol=0)
    with pytest.raises(ValueError, match="even number of frames"):
        model(x[:, :3], levels[:, :3], teacher_forcing=True)
    with pytest.raises(ValueError, match="causal model"):
        tiny_dit(temporal="bidirectional")(x, levels, teacher_forcing=True)
    with pytest.raises(ValueError, match="no KV cache"):
        model(x, levels, cache=KVCache(8), teacher_forcing=True)


def test_kv_cache_window_is_bounded():
    model = tiny_dit()
    x, levels, actions = inputs(T=1)
    cache = KVCache(max_frames=3)
    sizes = []
    for _ in range(6):
        model(x, levels, actions, cache=cache, write_cache=True)
        sizes.append(cache.nbytes())
    assert cache.num_frames == 3 and cache.next_frame == 6
    assert len(set(sizes)) == 1  # ring buffer of max_frames + 1 slots, allocated once
    with pytest.raises(ValueError, match="takes 1 frame"):
        model(*inputs(T=2), cache=cache)
    with pytest.raises(ValueError, match="empty cache"):
        model(*inputs(T=2), cache=cache, write_cache=True)
    cache.select(torch.tensor([1]))
    assert cache.nbytes() == sizes[0] // 2


@pytest.mark.parametrize("spatial_pos", SPATIAL_POS_MODES)
@pytest.mark.parametrize("attention", ["factorized", "spacetime"])
def test_packed_equals_separate(attention, spatial_pos):
    model = tiny_dit(attention=attention, spatial_pos=spatial_pos)
    g = torch.Generator().manual_seed(3)
    clips = [
        torch.randn(3, 3, 8, 8, generator=g),
        torch.randn(2, 3, 4, 12, generator=g),
        torch.randn(1, 3, 6, 2, generator=g),
    ]
    levels = [torch.rand(len(c), generator=g) * 999 for c in clips]
    actions = [torch.randn(len(c), FLAT_DIM, generator=g) for c in clips]
    masks = [torch.rand(len(c), generator=g) > 0.3 for c in clips]
    packed = pack_clips(clips, levels, actions, patch_size=2, action_masks=masks)
    assert packed.tokens.shape == (1, 3 * 16 + 2 * 12 + 1 * 3, 12)
    for out, clip, lv, act, mask in zip(model.forward_packed(packed), clips, levels, actions, masks):
        alone = model(clip[None], lv[None], act[None], mask[None])
        torch.testing.assert_close(out.prediction, alone.prediction, atol=ATOL, rtol=0)
        torch.testing.assert_close(out.features, alone.features, atol=1e-4, rtol=0)


def test_pack_clips_rejects_bad_clips():
    with pytest.raises(ValueError, match="divisible by patch_size"):
        pack_clips([torch.zeros(2, 3, 5, 4)], [torch.zeros(2)], [torch.zeros(2, FLAT_DIM)], patch_size=2)
    with pytest.raises(ValueError, match="as many"):
        pack_clips([torch.zeros(2, 3, 4, 4)], [], [], patch_size=2)


def test_patchify_roundtrip():
    x = torch.randn(2, 3, 4, 6, 8)
    tokens = patchify(x, 2)
    assert tokens.shape == (2, 3 * 3 * 4, 16)
    torch.testing.assert_close(unpatchify(tokens, 3, 3, 4, 2), x)


def test_rope_is_relative():
    """Scores depend only on position differences, on every axis."""
    assert rope_axis_dims(64) == (24, 20, 20) and sum(rope_axis_dims(32)) == 32
    with pytest.raises(ValueError):
        rope_axis_dims(5)
    q, k = torch.randn(1, 1, 2, 32), torch.randn(1, 1, 2, 32)

    def score(pq, pk):
        cq, sq = rope_angles(torch.tensor([pq], dtype=torch.float32), 32)
        ck, sk = rope_angles(torch.tensor([pk], dtype=torch.float32), 32)
        return (apply_rope(q, cq, sq) * apply_rope(k, ck, sk)).sum(-1)

    torch.testing.assert_close(score([3, 1, 2], [1, 4, 0]), score([13, 6, 9], [11, 9, 7]), atol=1e-4, rtol=0)
    assert (score([3, 1, 2], [1, 4, 0]) - score([3, 1, 2], [1, 5, 0])).abs().max() > 1e-4


def test_extra_conditioning_hook():
    model = tiny_dit(extra_cond_dim=5)
    x, levels, actions = inputs()
    base = model(x, levels, actions).prediction  # extra=None: its null embedding
    with_extra = model(x, levels, actions, extra=torch.randn(2, 4, 5)).prediction
    assert (base - with_extra).abs().max() > 1e-4


@pytest.mark.parametrize("attention", ["factorized", "spacetime"])
def test_flop_count_matches_counter(attention):
    """The analytic linear FLOPs equal torch's flop counter (which does not count CPU SDPA)."""
    cfg = DiTConfig.preset("tiny", in_channels=4, patch_size=2, attention=attention, extra_cond_dim=3)
    model = DiT(cfg)
    with FlopCounterMode(display=False) as counter:
        model(
            torch.randn(2, 3, 4, 8, 12),
            torch.rand(2, 3) * 999,
            torch.randn(2, 3, FLAT_DIM),
            extra=torch.randn(2, 3, 3),
        )
    assert counter.get_total_flops() == dit_forward_flops(cfg, 24, 3, 0, batch=2).linear


def test_fractional_spatial_position_is_size_independent():
    # the same fractional spot of two grid sizes gets the same embedding; other spots differ
    small, big = grid_fractions(1, 4, 4), grid_fractions(2, 8, 8)
    assert small.shape == (16, 2) and big.shape == (128, 2)
    torch.testing.assert_close(small[5], torch.tensor([0.375, 0.375], dtype=torch.float64))
    emb_small, emb_big = spatial_embedding(small, 64), spatial_embedding(big, 64)
    centre_small = emb_small[0]  # token (0, 0) of 4x4 covers fractions [0, 0.25)
    assert torch.linalg.vector_norm(emb_big[0] - centre_small) < torch.linalg.vector_norm(
        emb_big[63] - centre_small
    )
    torch.testing.assert_close(emb_big[:64], emb_big[64:])  # the same in every frame
    with pytest.raises(ValueError, match="divisible by 4"):
        spatial_embedding(small, 30)
    with pytest.raises(ValueError, match="spatial_pos must be one of"):
        DiTConfig.preset("tiny", spatial_pos="absolute")


@pytest.mark.parametrize("spatial_pos", SPATIAL_POS_MODES)
def test_only_fractional_positions_let_a_model_place_content_in_a_uniform_frame(spatial_pos):
    """RoPE alone is blind to where a token is when all tokens look alike (the attention values are
    all equal), so "top half +1, bottom half -1" cannot be learnt from a uniform input; with the
    fractional embedding it is, and it carries over to a frame size never trained on."""
    torch.manual_seed(0)
    model = DiT(DiTConfig.preset("tiny", in_channels=3, patch_size=2, spatial_pos=spatial_pos))
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)

    def loss_at(h: int, w: int) -> torch.Tensor:
        rows = torch.where(torch.arange(h) < h / 2, 1.0, -1.0)[:, None].expand(h, w)
        out = model(torch.zeros(2, 1, 3, h, w), torch.full((2, 1), 500.0), torch.zeros(2, 1, FLAT_DIM))
        return ((out.prediction - rows) ** 2).mean()

    for i in range(150):
        loss = loss_at(*[(8, 8), (16, 8), (8, 16)][i % 3])
        opt.zero_grad()
        loss.backward()
        opt.step()
    with torch.no_grad():
        unseen = float(loss_at(12, 12))
    if spatial_pos == "none":
        assert unseen == pytest.approx(1.0, abs=1e-3)  # the best position-blind answer: 0 everywhere
    else:
        assert unseen < 0.01


def test_mu_law_camera_encoding_spreads_small_turns_and_keeps_the_rest():
    flat = torch.zeros(7, FLAT_DIM)
    degrees = torch.tensor([-180.0, -10.0, -1.0, 0.0, 1.0, 5.0, 10.0])
    flat[:, FLAT_CAMERA.start + 1] = degrees / CAMERA_MAX_DEG  # yaw
    flat[:, 0] = 1.0  # a key stays as it is
    out = mu_law_camera(flat)
    yaw = out[:, FLAT_CAMERA.start + 1]
    assert torch.allclose(yaw[[1, 3, 6]], torch.tensor([-1.0, 0.0, 1.0]), atol=1e-6)  # ±10° -> ±1
    assert 0.2 < yaw[4] < 0.3 and 0.7 < yaw[5] < 0.8  # 1° and 5°: far from 0.006 and 0.03
    assert torch.allclose(yaw[2], -yaw[4]) and yaw[0] < -2.0  # odd; 180° stays beyond 10°
    assert torch.all(yaw[1:] > yaw[:-1])  # monotone: no two turns are confused
    assert torch.equal(out[:, 0], flat[:, 0])  # keys untouched
    assert torch.equal(out[:, FLAT_CAMERA.start], flat[:, FLAT_CAMERA.start])  # pitch 0 stays 0


def test_camera_encoding_is_what_the_action_embedding_reads():
    torch.manual_seed(0)
    linear = DiT(DiTConfig.preset("tiny", in_channels=3))
    mu = DiT(DiTConfig.preset("tiny", in_channels=3, camera_encoding="mu_law"))
    mu.load_state_dict(linear.state_dict())  # same tensors: the encoding adds none
    actions = torch.zeros(1, 2, FLAT_DIM)
    actions[0, 1, FLAT_CAMERA] = torch.tensor([2.0, -3.0]) / CAMERA_MAX_DEG
    got = mu.action_embed(actions)
    assert torch.allclose(got, linear.action_embed(mu_law_camera(actions)))
    assert not torch.allclose(got[0, 1], linear.action_embed(actions)[0, 1])
    assert torch.allclose(got[0, 0], linear.action_embed(actions)[0, 0])  # no camera: same


def test_camera_encoding_validation():
    with pytest.raises(ValueError, match=r"camera_encoding must be one of \('linear', 'mu_law'\)"):
        DiTConfig.preset("tiny", camera_encoding="log")
    with pytest.raises(ValueError, match="canonical flat layout"):
        DiT(DiTConfig.preset("tiny", action_dim=4, camera_encoding="mu_law"))
    assert DiTConfig.preset("tiny").camera_encoding == "linear"  # what checkpoints without the field mean
