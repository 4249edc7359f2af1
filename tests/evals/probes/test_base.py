"""The shared probe machinery: real runs with ground truth, second takes, predictors, the frame
scorer's conventions, and early refusal of a checkpoint the probe env cannot drive."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from evals.probes.base import (
    Case,
    CopyLastFrame,
    ModelPredictor,
    Noise,
    ProbeEnv,
    Simulator,
    check_compatible,
    run_truth,
)
from evals.probes.frames import FrameScorer, motion_energy, psnr
from evals.probes.scenarios import action, in_arena, repeat
from simworld.testing import build_tiny_checkpoint
from simworld.world_model import WorldModel

ENV = ProbeEnv(params={"width": 32, "height": 32})


def _mobs(world, arena) -> None:
    for dx in (-2, 0, 2):
        world.spawn_mob("pig", (arena.cx + dx + 0.5, arena.floor + 1.0, arena.cz + 4.5))


def _case(**kw) -> Case:
    base = dict(
        probe="t", name="walk", world_seed=3, context_actions=repeat(action(), 3),
        actions=repeat(action(forward=1), 6), scenario=in_arena(_mobs),
    )  # fmt: skip
    return Case(**{**base, **kw})


def test_truth_records_frames_and_ground_truth_and_is_deterministic() -> None:
    case = _case()
    a, b = run_truth(ENV, case), run_truth(ENV, case)
    assert a.frames.shape == (10, 32, 32, 3) and a.context_length == 4 and len(a.future_frames) == 6
    assert a.pose.shape == (10, 5) and a.depth.shape == (10, 32, 32) and a.intrinsics.shape == (3, 3)
    assert np.array_equal(a.frames, b.frames) and np.array_equal(a.pose, b.pose)
    assert a.pose[-1, 2] > a.pose[3, 2] + 0.5  # walked forward (+z at yaw 0) in the future part only
    assert np.allclose(a.pose[:4, :3], a.pose[0, :3])


def test_second_take_differs_only_after_the_context() -> None:
    case = _case(actions=repeat(action(), 40))
    one, two = run_truth(ENV, case), run_truth(ENV, case, variant=1)
    assert np.array_equal(one.context_frames, two.context_frames)
    moved = [not np.allclose(x, y) for x, y in zip(one.entities[4:], two.entities[4:])]
    assert any(moved)  # the mobs wander differently from the same start


def test_references_predict_what_they_claim() -> None:
    case = _case()
    truth = run_truth(ENV, case)
    (sim,) = Simulator(ENV).predict([case], [truth], seed=0)
    (copy,) = CopyLastFrame().predict([case], [truth], seed=0)
    assert np.array_equal(sim, truth.future_frames)  # the simulator re-run, not the stored truth
    assert all(np.array_equal(f, truth.context_frames[-1]) for f in copy)
    n0, n1 = (Noise().predict([case], [truth], seed=s)[0] for s in (0, 1))
    assert n0.shape == sim.shape and not np.array_equal(n0, n1)
    paired = _case(name="walk_random", sampling_key=case.key)
    assert np.array_equal(Noise().predict([paired], [truth], seed=0)[0], n0)  # shared sampling noise


def test_a_checkpoint_of_another_frame_size_is_refused_before_compute(tmp_path: Path) -> None:
    model = WorldModel.load(build_tiny_checkpoint(tmp_path / "ck", frame_size=(16, 16), num_contexts=0))
    with pytest.raises(ValueError, match=r"16×16 frames but the probe env .* renders 32×32"):
        ModelPredictor(model, ENV)
    env = ProbeEnv.from_model(model)
    check_compatible(model, env)
    assert env.frame_size == (16, 16)
    case = _case()
    (frames,) = ModelPredictor(model, env).predict([case], [run_truth(env, case)], seed=0)
    assert frames.shape == (6, 16, 16, 3) and frames.dtype == np.uint8


def test_frame_measures_follow_their_stated_conventions() -> None:
    rng = np.random.default_rng(0)
    a = rng.integers(0, 256, (3, 32, 32, 3), dtype=np.uint8)
    assert psnr(a, a).tolist() == [100.0] * 3  # capped, not inf
    b = a.copy()
    b[:, :16] = 255 - b[:, :16]
    mask = np.zeros((3, 32, 32), bool)
    mask[:, 16:] = True
    assert psnr(b, a, mask).tolist() == [100.0] * 3 and (psnr(b, a) < 20).all()
    assert np.isnan(psnr(b, a, np.zeros_like(mask))).all()
    assert motion_energy(np.repeat(a[:1], 3, axis=0)).tolist() == [0.0, 0.0]
    scorer = FrameScorer()
    if scorer.lpips_available:
        full = scorer.masked_lpips(b, a, np.ones_like(mask))
        assert np.allclose(full, scorer.lpips(b, a), rtol=0.01)  # ≈ the scalar (upsampling is not mean-exact)
        assert np.allclose(scorer.masked_lpips(b, a, mask), 0.0, atol=0.2)
    else:
        assert "not found" in scorer.lpips_unavailable
