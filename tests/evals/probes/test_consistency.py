"""3D-consistency probes (loop closure, geometry, reprojection) against the simulator (ceiling),
copy-last-frame and noise (floors) and a tiny random-weight checkpoint."""

from __future__ import annotations

import math
from collections import defaultdict

import numpy as np
import pytest

from evals.probes.base import (
    CopyLastFrame,
    ModelPredictor,
    Noise,
    ProbeContext,
    ProbeEnv,
    Simulator,
)
from evals.probes.frames import FrameScorer
from evals.probes.loop_closure import LoopClosure
from evals.probes.pose_geometry import Geometry
from evals.probes.registry import make_probe
from evals.probes.reprojection import Reprojection


def run(probe, predictor, ctx, seeds=(0,), seed=0):
    """Score one predictor on a probe: {(case, metric, horizon): row}."""
    cases = probe.cases(ctx.env, list(seeds))
    truths = [ctx.truth(c) for c in cases]
    out = probe.score(cases, predictor.predict(cases, truths, seed), seed, ctx)
    rows = {(r.case, r.metric, r.horizon): r for r in out.rows}
    assert len(rows) == len(out.rows)
    for r in out.rows:  # a NaN always says why
        assert math.isfinite(r.value) or r.note, r
    return rows, out


def values(rows, case, metric):
    """Per-horizon values of a metric, in horizon order."""
    hs = sorted(h for (c, m, h) in rows if c == case and m == metric and h is not None)
    return np.array([rows[case, metric, h].value for h in hs])


@pytest.fixture(scope="module")
def scorer():
    return FrameScorer()


def ctx_at(size: int, scorer, keep_media=False) -> ProbeContext:
    return ProbeContext(ProbeEnv(params={"width": size, "height": size}), scorer, keep_media=keep_media)


# ------------------------------------------------------------------------------- loop closure


@pytest.fixture(scope="module")
def loop():
    return LoopClosure(turn_step_deg=30, walk_steps=8, hold_frames=2)


@pytest.fixture(scope="module")
def loop_ctx(scorer):
    return ctx_at(32, scorer, keep_media=True)


def test_loop_cases_return_to_the_start(loop, loop_ctx):
    cases = loop.cases(loop_ctx.env, [0, 5])
    assert [c.name for c in cases] == ["rotate_360", "walk_aba"] * 2
    assert [c.digest() for c in cases] == [c.digest() for c in loop.cases(loop_ctx.env, [0, 5])]
    for c in cases:
        t = loop_ctx.truth(c)
        a, back = t.pose[t.context_length - 1], t.pose[-1]
        assert np.linalg.norm(back[:3] - a[:3]) < 1e-4 and abs((back[3] - a[3] + 180) % 360 - 180) < 1e-9
        if c.name == "walk_aba":  # it did go somewhere: B is ~1.7 blocks ahead
            assert np.abs(t.pose[:, 2] - a[2]).max() > 1.0
        # walk: hold 2, walk 8, turn 6 + still 10 (the slide stops), walk 8, turn 6 + still 10
        assert c.context_length == 4 and c.horizon == (
            2 + 12 if c.name == "rotate_360" else 2 + 8 + 16 + 8 + 16
        )


def test_loop_simulator_is_perfect(loop, loop_ctx):
    rows, out = run(loop, Simulator(loop_ctx.env), loop_ctx)
    for case in ("rotate_360", "walk_aba"):
        assert (values(rows, case, "psnr") == 100.0).all()
        assert np.abs(values(rows, case, "lpips")).max() < 1e-6
        assert rows[case, "revisit_psnr", None].value == 100.0
        assert rows[case, "revisit_self_psnr", None].value > 50.0  # the true revisit pose is A
        assert rows[case, "revisit_context_psnr", None].value > 50.0  # the walk's slide leaves ~2e-5 blocks
        assert rows[case, "revisit_lpips", None].value < 1e-6
    assert len(out.media) == 2 and out.media[0].truth.shape == out.media[0].prediction.shape


def test_loop_copy_last_fails_while_turning_and_noise_is_the_floor(loop, loop_ctx):
    sim, _ = run(loop, Simulator(loop_ctx.env), loop_ctx)
    copy, _ = run(loop, CopyLastFrame(), loop_ctx)
    noise, _ = run(loop, Noise(), loop_ctx)
    turning = values(copy, "rotate_360", "psnr")[2:-1]  # after the hold, before the revisit
    assert turning.max() < 20.0 and turning.mean() < values(sim, "rotate_360", "psnr")[2:-1].mean() - 70
    assert values(copy, "walk_aba", "psnr")[2 : 2 + 8 + 16 + 8].mean() < 20.0  # away from A
    assert values(copy, "rotate_360", "lpips")[2:-1].min() > 0.05  # LPIPS is weak at 32×32
    # a frozen predictor "revisits" perfectly: why the per-frame curve is reported beside the revisit
    assert copy["rotate_360", "revisit_psnr", None].value == 100.0
    assert copy["walk_aba", "revisit_self_psnr", None].value == 100.0
    for case in ("rotate_360", "walk_aba"):
        assert values(noise, case, "psnr").max() < 12.0
        assert noise[case, "revisit_psnr", None].value < 12.0
        assert noise[case, "revisit_self_psnr", None].value < 12.0
        assert noise[case, "revisit_lpips", None].value > 0.2  # 0.3 at 32×32, ~1.2 at 64×64


def test_loop_without_hold_or_lpips_says_why(loop_ctx):
    probe = LoopClosure(turn_step_deg=90, walk_steps=2, hold_frames=0, cases=("rotate_360",))
    ctx = ProbeContext(loop_ctx.env, FrameScorer(lpips_net=None), keep_media=False)
    rows, out = run(probe, CopyLastFrame(), ctx)
    assert not out.media
    r = rows["rotate_360", "revisit_self_psnr", None]
    assert math.isnan(r.value) and "hold_frames=0" in r.note
    assert all(
        math.isnan(v.value) and v.note == "LPIPS not requested"
        for k, v in rows.items()
        if "lpips" in k[1] and "self" not in k[1]
    )


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"turn_step_deg": 7}, "must divide 180"),
        ({"turn_step_deg": 0}, "must divide 180"),
        ({"walk_steps": 0}, "walk_steps"),
        ({"context_frames": 0}, "context_frames"),
        ({"hold_frames": -1}, "hold_frames"),
        ({"cases": ("rotate_720",)}, "rotate_360"),
    ],
)
def test_loop_rejects_bad_options(kwargs, match):
    with pytest.raises(ValueError, match=match):
        LoopClosure(**kwargs)


# ---------------------------------------------------------------------------------- geometry


@pytest.fixture(scope="module")
def geo128(scorer):
    """Geometry at 128×128 on short turn and arc cases: (probe, ctx)."""
    probe = Geometry(horizon=5, motions=("turn", "arc"))
    return probe, ctx_at(128, scorer)


def test_geometry_on_the_simulator_recovers_the_true_motion(geo128):
    probe, ctx = geo128
    rows, _ = run(probe, Simulator(ctx.env), ctx)
    for case in ("turn", "arc"):
        rot = values(rows, case, "rotation_error")
        assert len(rot) == 4 and np.isfinite(rot).all()
        assert rot.max() < 1.5 and rows[case, "rotation_error", None].value < 1.0  # measured ~0.2-0.4°
        assert rows[case, "pose_rate", None].value == 1.0
        assert values(rows, case, "matches").min() >= 50
    assert np.median(values(rows, "arc", "sampson_error")) < 0.5  # measured ~0.2 px
    assert values(rows, "arc", "translation_error").max() < 30.0
    r = rows["turn", "sampson_error", 2]
    assert math.isnan(r.value) and "true translation negligible" in r.note
    assert math.isnan(rows["turn", "translation_error", 2].value)


def test_geometry_copy_last_estimates_no_motion(geo128):
    probe, ctx = geo128
    rows, _ = run(probe, CopyLastFrame(), ctx)
    for case in ("turn", "arc"):
        # identical frames: the estimate is the identity, so the error is the true 5° turn of each pair
        np.testing.assert_allclose(values(rows, case, "rotation_error"), 5.0, atol=1e-6)
        r = rows[case, "translation_error", 3]
        assert math.isnan(r.value) and r.note
    assert (
        np.median(values(rows, "arc", "sampson_error")) > 1.0
    )  # static points violate the true epipolar geometry


def test_geometry_noise_is_undefined_or_wrong(scorer):
    probe, ctx = Geometry(horizon=6, motions=("arc",)), ctx_at(64, scorer)
    rows, _ = run(probe, Noise(), ctx)
    rot = values(rows, "arc", "rotation_error")
    notes = [rows["arc", "rotation_error", h].note for h in range(2, 7)]
    for value, note in zip(rot, notes):
        assert (math.isnan(value) and note.startswith("too few matches")) or value > 10.0
    assert rows["arc", "pose_rate", None].value < 0.5


def test_geometry_too_small_frames_are_nan_with_a_note(scorer):
    probe, ctx = Geometry(horizon=3, motions=("turn",)), ctx_at(12, scorer)
    rows, _ = run(probe, Simulator(ctx.env), ctx)
    assert all(math.isnan(r.value) and "too small" in r.note for r in rows.values())


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"detector": "surf"}, "valid: auto, sift, orb"),
        ({"stride": 12}, "stride"),
        ({"motions": ("spin",)}, "motions"),
        ({"horizon": 1}, "horizon"),
        ({"turn_step_deg": 90}, "turn_step_deg"),
        ({"upscale": 0}, "upscale"),
        ({"min_matches": 4}, "five-point"),
    ],
)
def test_geometry_rejects_bad_options(kwargs, match):
    with pytest.raises(ValueError, match=match):
        Geometry(**kwargs)


# ------------------------------------------------------------------------------ reprojection


@pytest.fixture(scope="module")
def rep_ctx(scorer):
    return ctx_at(48, scorer)


def test_reprojection_simulator_equals_the_warp_reference(rep_ctx):
    probe = Reprojection(horizon=4)
    rows, _ = run(probe, Simulator(rep_ctx.env), rep_ctx)
    for case in ("turn", "arc", "forward"):
        np.testing.assert_array_equal(values(rows, case, "masked_psnr"), values(rows, case, "warp_self_psnr"))
        np.testing.assert_array_equal(
            values(rows, case, "masked_lpips"), values(rows, case, "warp_self_lpips")
        )
        assert rows[case, "warp_self_psnr", None].value > 21.0  # measured 23-25 dB at 48×48
        assert 0.4 < rows[case, "covisible_fraction", None].value < 1.0


def test_reprojection_floors(rep_ctx):
    probe = Reprojection(horizon=6)
    copy, _ = run(probe, CopyLastFrame(), rep_ctx)
    noise, _ = run(probe, Noise(), rep_ctx)
    for case in ("turn", "arc", "forward"):
        ref = values(copy, case, "warp_self_psnr")
        assert (values(copy, case, "masked_psnr")[-3:] < ref[-3:] - 1.0).all()
        assert values(copy, case, "masked_psnr")[-1] < ref[-1] - 5.0
        assert copy[case, "masked_lpips", None].value > copy[case, "warp_self_lpips", None].value
        assert noise[case, "masked_psnr", None].value < 12.0


def test_reprojection_mask_excludes_sky_mobs_and_the_unseen(rep_ctx):
    probe = Reprojection(horizon=3, motions=("forward",))
    case = probe.cases(rep_ctx.env, [0])[0]
    truth = rep_ctx.truth(case)
    warped, masks = probe.warps(truth)
    seg, depth = truth.future("segmentation"), truth.future("depth")
    assert (seg >= 1000).any()  # the still pig is in view
    assert not masks[seg >= 1000].any()
    assert not masks[~np.isfinite(depth)].any()
    assert masks.any(axis=(1, 2)).all()


def test_reprojection_without_depth_says_so(rep_ctx):
    probe = Reprojection(horizon=2, motions=("turn",))
    case = probe.cases(rep_ctx.env, [0])[0]
    truth = rep_ctx.truth(case)
    saved, truth.depth = truth.depth, None
    try:
        rows = probe.case_rows(case, truth.future_frames, truth, 0, rep_ctx)
    finally:
        truth.depth = saved
    assert rows and all(math.isnan(r.value) and r.note == "the env reports no depth" for r in rows)


def test_reprojection_rejects_bad_options():
    with pytest.raises(ValueError, match="depth_tolerance"):
        Reprojection(depth_tolerance=0)


# ------------------------------------------------------------------------ tiny checkpoint


def test_registry_names_point_here():
    assert isinstance(make_probe("loop_closure"), LoopClosure)
    assert isinstance(make_probe("geometry"), Geometry)
    assert isinstance(make_probe("reprojection", horizon=3), Reprojection)


def test_tiny_checkpoint_runs_every_probe(tmp_path, scorer):
    from simworld.testing import build_tiny_checkpoint
    from simworld.world_model import WorldModel

    model = WorldModel.load(build_tiny_checkpoint(tmp_path / "tiny", frame_size=(32, 32)))
    env = ProbeEnv.from_model(model)
    ctx = ProbeContext(env, scorer, keep_media=False)
    predictor = ModelPredictor(model, env)
    probes = [
        LoopClosure(turn_step_deg=90, walk_steps=2, hold_frames=1),
        Geometry(horizon=3, motions=("arc",)),
        Reprojection(horizon=3, motions=("turn",)),
    ]
    seen = defaultdict(int)
    for probe in probes:
        rows, _ = run(probe, predictor, ctx)  # every NaN carries a note (checked in run)
        for _, metric, _ in rows:
            seen[probe.name] += 1
            assert metric in probe.metrics
    assert seen["loop_closure"] and seen["geometry"] and seen["reprojection"]
    rows, _ = run(probes[2], predictor, ctx)
    assert np.isfinite(values(rows, "turn", "masked_psnr")).all()


def test_geometry_is_deterministic(scorer):
    probe, ctx = Geometry(horizon=4, motions=("arc",)), ctx_at(64, scorer)
    first, _ = run(probe, Simulator(ctx.env), ctx)
    again, _ = run(probe, Simulator(ctx.env), ctx)
    assert [(k, r.value, r.note) for k, r in first.items()] == [
        (k, r.value, r.note) for k, r in again.items()
    ]
