"""The long-range coherence probe on the simulator (ceiling), copy-last-frame and noise (floors) and a
tiny random checkpoint, at 32×32 with short horizons."""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest
import torch

from evals.metrics.base import MetricUnavailable
from evals.metrics.fvd import FVD
from evals.metrics.i3d import StyleGANVDetectorStandIn
from evals.probes import frames as F
from evals.probes.base import (
    CopyLastFrame,
    ModelPredictor,
    Noise,
    Predictor,
    Probe,
    ProbeContext,
    ProbeEnv,
    Row,
    Simulator,
    run_truth,
)
from evals.probes.coherence import (
    LongRangeCoherence,
    collapse_horizon,
    curve_indices,
    fvd_buckets,
    running_mean,
)
from evals.probes.frames import FrameScorer
from evals.probes.registry import make_probe

H = W = 32
K = 40
OPTIONS = dict(horizon=K, context_frames=4, curve_stride=8, fvd_clip_length=9)


def score(probe: Probe, predictor: Predictor, cases, ctx: ProbeContext, seed: int = 0) -> list[Row]:
    truths = [ctx.truth(c) for c in cases]
    out = probe.score(cases, predictor.predict(cases, truths, seed), seed, ctx)
    probe.check_rows(out.rows)
    return out.rows


def pick(rows: Sequence[Row], metric: str, case: str | None = None, horizon: object = "any") -> list[Row]:
    return [
        r
        for r in rows
        if r.metric == metric
        and (case is None or r.case == case)
        and (horizon == "any" or r.horizon == horizon)
    ]


def summary(rows: Sequence[Row], metric: str) -> dict[str, float]:
    return {r.case: r.value for r in pick(rows, metric, horizon=None)}


@pytest.fixture(scope="module")
def env() -> ProbeEnv:
    return ProbeEnv(params={"width": W, "height": H})


@pytest.fixture(scope="module")
def scorer() -> FrameScorer:
    return FrameScorer()


@pytest.fixture(scope="module")
def setup(env: ProbeEnv, scorer: FrameScorer):
    probe = LongRangeCoherence(**OPTIONS)
    probe.load_fvd = lambda: (_ for _ in ()).throw(  # machine independent: no I3D weights
        MetricUnavailable("FVD", "FVD unavailable: I3D weights not found", "put the weights there")
    )
    cases = probe.cases(env, [0])
    ctx = ProbeContext(env, scorer, keep_media=True)
    rows = {p.name: score(probe, p, cases, ctx) for p in (Simulator(env), CopyLastFrame(), Noise())}
    return probe, cases, ctx, rows


def test_cases_are_deterministic_and_replay_the_policy(env: ProbeEnv) -> None:
    probe = LongRangeCoherence(**OPTIONS)
    a, b = probe.cases(env, [0, 1]), probe.cases(env, [0, 1])
    assert [c.key for c in a] == [
        "coherence/explore/w0",
        "coherence/loop/w0",
        "coherence/explore/w1",
        "coherence/loop/w1",
    ]
    assert [c.digest() for c in a] == [c.digest() for c in b]
    assert a[0].digest() != a[2].digest()  # another world, another exploration
    assert all(c.horizon == K and c.context_length == 4 for c in a)
    explore = run_truth(env, a[0])
    walked = np.linalg.norm(explore.pose[-1, [0, 2]] - explore.pose[0, [0, 2]])
    assert walked > 2.0  # the explorer walks away: the scene changes
    assert sum(int(act["forward"]) for act in a[1].actions) > 0  # the loop policy walks too


def test_simulator_scores_perfectly(setup) -> None:
    probe, cases, _, rows = setup
    sim = rows["simulator"]
    assert all(r.value == F.PSNR_CAP_DB for r in pick(sim, "psnr"))
    assert all(r.value == 0.0 for r in pick(sim, "lpips"))
    assert all(r.value == pytest.approx(1.0, abs=1e-6) for r in pick(sim, "ssim"))
    for metric in ("sharpness_drift", "sharpness_log2_ratio", "colour_mean_drift", "colour_std_drift"):
        assert all(r.value == 0.0 for r in pick(sim, metric)), metric
    collapse = pick(sim, "collapse_horizon")
    assert len(collapse) == len(cases) and all(
        r.value == K and r.note.startswith("no collapse") for r in collapse
    )


def test_noise_collapses_at_once_and_sits_at_the_floor(setup) -> None:
    _, _, _, rows = setup
    noise = rows["noise"]
    assert set(summary(noise, "collapse_horizon").values()) == {1.0}
    assert all(v < 12.0 for v in summary(noise, "psnr").values())
    assert all(v > 0.25 for v in summary(noise, "lpips").values())
    assert all(v < 0.05 for v in summary(noise, "ssim").values())
    assert all(v > 1.5 for v in summary(noise, "sharpness_drift").values())
    assert summary(noise, "sharpness_log2_ratio") == summary(noise, "sharpness_drift")  # > 0: sharper
    assert all(v > 0.1 for v in summary(noise, "colour_std_drift").values())


def test_copy_last_frame_drifts_away_from_the_truth(setup) -> None:
    _, cases, _, rows = setup
    copy = rows["copy_last_frame"]
    for case in (c.name for c in cases):
        psnr = {r.horizon: r.value for r in pick(copy, "psnr", case) if r.horizon is not None}
        lpips = {r.horizon: r.value for r in pick(copy, "lpips", case) if r.horizon is not None}
        assert psnr[1] > max(psnr[k] for k in (32, 40)) + 3.0  # one step away it is close; later it is not
        assert lpips[1] < min(lpips[k] for k in (32, 40))
        assert summary(copy, "psnr")[case] < F.PSNR_CAP_DB - 50
    # the baseline is its own collapse reference: never strictly worse than itself
    assert set(summary(copy, "collapse_horizon").values()) == {float(K)}
    # the floors rank below the ceiling on every summary
    sim, noise = summary(rows["simulator"], "psnr"), summary(rows["noise"], "psnr")
    assert all(sim[c] > summary(copy, "psnr")[c] > noise[c] for c in sim)


def test_curve_rows_are_subsampled_but_summaries_use_every_frame(setup) -> None:
    probe, cases, ctx, rows = setup
    copy = rows["copy_last_frame"]
    case = cases[0]
    assert sorted(r.horizon for r in pick(copy, "psnr", case.name) if r.horizon is not None) == [
        1,
        8,
        16,
        24,
        32,
        40,
    ]
    truth = ctx.truth(case)
    pred = np.repeat(truth.context_frames[-1:], K, axis=0)
    want = F.psnr(pred, truth.future_frames)
    assert pick(copy, "psnr", case.name, horizon=None)[0].value == pytest.approx(want.mean())
    assert pick(copy, "psnr", case.name, horizon=24)[0].value == pytest.approx(want[23])
    sp, st = F.sharpness(pred), F.sharpness(truth.future_frames)
    assert probe.sharpness_window == 8  # frames 33..40 for the row at k = 40
    drift = abs(math.log2((sp[32:40].mean() + 1e-6) / (st[32:40].mean() + 1e-6)))
    assert pick(copy, "sharpness_drift", case.name, horizon=40)[0].value == pytest.approx(drift)
    r = pick(copy, "psnr", case.name)[0]
    assert r.world_seed == 0 and r.params == {"policy": "explore", "horizon": K, "context_frames": 4}


def test_fvd_rows_are_nan_with_the_reason_without_weights(setup) -> None:
    _, cases, _, rows = setup
    fvd = pick(rows["noise"], "fvd")
    assert [r.horizon for r in fvd] == [18, 36]  # buckets (0, 18], (18, 36]; (36, 40] holds no 9-frame clip
    assert all(math.isnan(r.value) and "I3D weights not found" in r.note for r in fvd)
    assert all(r.case == "pooled" and r.world_seed == -1 for r in fvd)
    assert fvd[0].params["clips_per_set"] == 2 * len(cases)
    assert fvd[0].params["cases"] == sorted(c.key for c in cases)


def test_fvd_pools_cases_and_windows(env: ProbeEnv, scorer: FrameScorer) -> None:
    torch.manual_seed(0)
    net = torch.nn.Sequential(
        torch.nn.AdaptiveAvgPool3d((1, 4, 4)), torch.nn.Flatten(), torch.nn.Linear(48, 400)
    )
    calls: list[int] = []

    class Injected(LongRangeCoherence):
        def load_fvd(self) -> FVD:
            calls.append(1)
            return FVD(
                "stylegan_v", clip_length=9, feature_network=StyleGANVDetectorStandIn(net), batch_size=4
            )

    probe = Injected(**{**OPTIONS, "horizon": 18, "policies": ["explore", "loop", "circle"]})
    cases = probe.cases(env, [0])
    ctx = ProbeContext(env, scorer, keep_media=False)
    sim = pick(score(probe, Simulator(env), cases, ctx), "fvd")
    noise = pick(score(probe, Noise(), cases, ctx), "fvd")
    assert calls == [1]  # built once, reused
    assert len(sim) == 1 and sim[0].params["clips_per_set"] == 6 and "6 clips per set" in sim[0].note
    assert abs(sim[0].value) < 1e-6
    assert noise[0].value > 1.0


def test_lpips_unavailable_gives_nan_rows_and_a_psnr_collapse(env: ProbeEnv) -> None:
    probe = LongRangeCoherence(**{**OPTIONS, "horizon": 16, "policies": ["explore"]})
    cases = probe.cases(env, [2])
    ctx = ProbeContext(env, FrameScorer(lpips_net=None), keep_media=False)
    sim, noise = score(probe, Simulator(env), cases, ctx), score(probe, Noise(), cases, ctx)
    assert all(math.isnan(r.value) and r.note == "LPIPS not requested" for r in pick(noise, "lpips"))
    (c_sim,), (c_noise,) = pick(sim, "collapse_horizon"), pick(noise, "collapse_horizon")
    assert c_sim.value == 16 and "no collapse" in c_sim.note and "PSNR" in c_sim.note
    assert c_noise.value == 1 and "PSNR" in c_noise.note


def test_collapse_rule() -> None:
    assert np.allclose(running_mean(np.array([1.0, 3.0, 5.0, 7.0]), 2), [1.0, 2.0, 4.0, 6.0])
    base = np.full(20, 0.4)
    model = np.concatenate([np.full(10, 0.1), np.full(10, 0.9)])
    # running mean over 4 frames: 0.3 at frame 11, 0.5 at frame 12 (> 0.4); without a window, frame 11
    assert collapse_horizon(model, base, 4, lower_is_better=True) == 12
    assert collapse_horizon(model, base, 1, lower_is_better=True) == 11
    assert collapse_horizon(base, base, 4, lower_is_better=True) is None
    assert collapse_horizon(-model, -base, 4, lower_is_better=False) == 12  # PSNR: worse = lower
    assert curve_indices(10, 4) == [1, 4, 8, 10]
    assert fvd_buckets(512, 16) == [(0, 32), (32, 64), (64, 128), (128, 256), (256, 512)]
    assert fvd_buckets(40, 9) == [(0, 18), (18, 36)]


@pytest.mark.parametrize(
    "options, message",
    [
        ({"horizon": 0}, "horizon must be an int >= 1"),
        ({"policies": ["explore", "wander"]}, "valid: noop, random, explore"),
        ({"fvd_clip_length": 8}, "fvd_clip_length must be an int >= 9"),
        ({"fvd_protocol": "tats"}, "valid: stylegan_v, videogpt"),
        ({"curve_stride": 0}, "curve_stride must be"),
    ],
)
def test_bad_options(options: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        LongRangeCoherence(**options)


def test_registry_and_media(setup) -> None:
    probe = make_probe("coherence", horizon=8)
    assert isinstance(probe, LongRangeCoherence) and probe.horizon == 8
    _, cases, ctx, _ = setup
    truths = [ctx.truth(c) for c in cases]
    out = setup[0].score(cases, CopyLastFrame().predict(cases, truths, 0), 0, ctx)
    assert len(out.media) == len(cases)
    assert out.media[0].truth.shape == (K, H, W, 3) and "policy" in out.media[0].caption


def test_tiny_random_checkpoint_end_to_end(tmp_path: Path) -> None:
    from simworld.testing import build_tiny_checkpoint
    from simworld.world_model import WorldModel

    model = WorldModel.load(build_tiny_checkpoint(tmp_path / "ckpt", frame_size=(H, W)))
    env = ProbeEnv.from_model(model)
    probe = LongRangeCoherence(**{**OPTIONS, "horizon": 24, "policies": ["explore"]})
    cases = probe.cases(env, [0])
    ctx = ProbeContext(env, FrameScorer(), keep_media=False)
    rows = score(probe, ModelPredictor(model, env, checkpoint=str(tmp_path / "ckpt")), cases, ctx)
    assert {r.metric for r in rows} == set(probe.metrics)
    assert all(math.isfinite(r.value) or r.note for r in rows)
    assert all(math.isfinite(r.value) for r in rows if r.metric != "fvd")
    (collapse,) = pick(rows, "collapse_horizon")
    assert 1 <= collapse.value <= 24
