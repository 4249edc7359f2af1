"""``evals.probes.physics``: the physics failure-case catalogue.

The scenes must have their known outcomes in the real simulator (checked from its ground truth);
the checks are checked on synthetic frames; and the catalogue is validated on the baselines: the
simulator passes every case with a perfect score, copy-last-frame passes exactly the cases whose
truth is static, noise and the wrong outcomes themselves fail every case, a blurred truth passes,
and the tiny random checkpoint runs end to end. Frames are 32×32.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from envs.voxel.blocks import BLOCK_IDS
from evals.probes import physics as PH
from evals.probes.base import CopyLastFrame, ModelPredictor, Noise, ProbeContext, ProbeEnv, Simulator
from evals.probes.frames import FrameScorer
from evals.probes.physics import PhysicsCases, outcome_margin, physics_iq_metrics, physics_iq_score, stillness
from evals.probes.physics_cases import catalogue, render_wrong
from evals.probes.registry import make_probe

SIZE = 32
REQUIRED = (
    "sand_falls",
    "gravel_falls",
    "wall_blocks_motion",
    "ledge_fall",
    "jump_lands",
    "placed_block_persists",
    "broken_block_stays_broken",
    "noop_static",
    "rotate_restores",
    "mob_moves",
    "no_pass_through",
)
STATIC_TRUTH = {"noop_static", "wall_blocks_motion"}
"""The cases whose true future is the last context frame: the only ones copy-last-frame may pass."""


@pytest.fixture(scope="module")
def env() -> ProbeEnv:
    return ProbeEnv(params={"width": SIZE, "height": SIZE})


@pytest.fixture(scope="module")
def probe() -> PhysicsCases:
    return PhysicsCases()


@pytest.fixture(scope="module")
def ctx(env: ProbeEnv) -> ProbeContext:
    return ProbeContext(env, FrameScorer(lpips_net=None), keep_media=True)


@pytest.fixture(scope="module")
def cases(probe: PhysicsCases, env: ProbeEnv):
    return probe.cases(env, [0])


@pytest.fixture(scope="module")
def truths(cases, ctx):
    return {c.name: ctx.truth(c) for c in cases}


def run(probe, predictor, cases, ctx, seed: int = 0):
    truths = [ctx.truth(c) for c in cases]
    return probe.score(cases, predictor.predict(cases, truths, seed), seed, ctx)


def summary(out, metric: str) -> dict[str, float]:
    return {r.case: r.value for r in out.rows if r.metric == metric and r.horizon is None}


@pytest.fixture(scope="module")
def outputs(probe, env, cases, ctx):
    return {p.name: run(probe, p, cases, ctx) for p in (Simulator(env), CopyLastFrame(), Noise())}


# ------------------------------------------------------------------------------------ options


def test_catalogue_holds_the_required_cases_and_rejects_unknown_names() -> None:
    assert set(REQUIRED) <= set(PhysicsCases.CASE_NAMES) and len(PhysicsCases.CASE_NAMES) >= 10
    with pytest.raises(ValueError, match="valid: sand_falls, gravel_falls"):
        PhysicsCases(cases=["sand_falls", "sand_flies"])
    with pytest.raises(ValueError, match="none given"):
        PhysicsCases(cases=[])
    assert make_probe("physics", cases="jump_lands").case_names == ("jump_lands",)


def test_cases_are_deterministic_and_named(env: ProbeEnv) -> None:
    a = PhysicsCases(cases=["sand_falls", "mob_moves"]).cases(env, [3, 4])
    b = PhysicsCases(cases=["sand_falls", "mob_moves"]).cases(env, [3, 4])
    assert [c.digest() for c in a] == [c.digest() for c in b]
    assert [c.key for c in a] == [
        "physics/sand_falls/w3",
        "physics/mob_moves/w3",
        "physics/sand_falls/w4",
        "physics/mob_moves/w4",
    ]
    assert [c.stochastic for c in a] == [False, True, False, True]


# ------------------------------------------------------------------- the scenes' known outcomes


def _kinds(truth, case) -> list[set[str]]:
    """Block event kinds of each future step."""
    return [{e.kind for e in ev} for ev in truth.events[case.context_length - 1 :]]


def test_scenes_have_their_known_outcomes(cases, truths) -> None:
    by = {c.name: c for c in cases}
    eye = {n: t.pose[:, 1] for n, t in truths.items()}
    C = {n: by[n].context_length for n in by}

    sand = _kinds(truths["sand_falls"], by["sand_falls"])
    broke = next(k for k, s in enumerate(sand) if "break" in s)
    assert any("fall" in s for s in sand[broke + 1 :]), "the sand must fall after its support breaks"
    gravel = _kinds(truths["gravel_falls"], by["gravel_falls"])
    assert "place" in gravel[0] and any("fall" in s for s in gravel[1:])
    planks = _kinds(truths["non_gravity_stays"], by["non_gravity_stays"])
    assert any("break" in s for s in planks) and not any("fall" in s for s in planks)

    assert np.ptp(truths["wall_blocks_motion"].pose[:, :3], axis=0).max() == 0  # blocked: never moves
    assert eye["ledge_fall"][-1] == pytest.approx(eye["ledge_fall"][0] - 3)
    jump = eye["jump_lands"]
    assert jump.max() > jump[0] + 1.0 and jump[-1] == pytest.approx(jump[0])
    assert eye["jump_onto_step"][-1] == pytest.approx(eye["jump_onto_step"][0] + 1)
    rot = truths["rotate_restores"].pose
    assert np.ptp(rot[C["rotate_restores"] :, 3]) >= 89 and rot[-1, 3] == pytest.approx(rot[0, 3])
    assert (truths["noop_static"].future_frames == truths["noop_static"].context_frames[-1]).all()

    pillar = truths["no_pass_through"]
    red = BLOCK_IDS["red_wool"]
    assert (pillar.segmentation[-1] == red).mean() > 0.9  # the pillar fills the last view
    placed = truths["placed_block_persists"]
    assert "place" in {e.kind for ev in placed.events[: C["placed_block_persists"] - 1] for e in ev}
    seen = (placed.segmentation == red).any(axis=(1, 2))
    assert seen[C["placed_block_persists"] - 1] and seen[-1] and not seen[C["placed_block_persists"] + 6]
    broken = truths["broken_block_stays_broken"]
    assert "break" in {e.kind for ev in broken.events[: C["broken_block_stays_broken"] - 1] for e in ev}

    mobs = truths["mob_moves"].entities
    assert np.abs(mobs[-1][:, [0, 2]] - mobs[C["mob_moves"] - 1][:, [0, 2]]).max() > 0.5


def test_wrong_outcome_renderer_reproduces_the_real_env(env, cases, truths) -> None:
    case = next(c for c in cases if c.name == "rotate_restores")
    truth = truths["rotate_restores"]
    frames = render_wrong(env, case.world_seed, catalogue()["rotate_restores"].build, None, truth.pose)
    np.testing.assert_array_equal(frames, truth.frames)


def test_wrong_outcomes_differ_from_the_truth_after_the_event(probe, cases, truths, ctx) -> None:
    for case in cases:
        for wrong in probe.definition(case.name).wrong:
            frames = probe.wrong_frames(case, wrong, ctx)
            assert frames.shape == truths[case.name].future_frames.shape
            assert (frames != truths[case.name].future_frames).any(), (case.name, wrong.name)
    sand = next(c for c in cases if c.name == "sand_falls")
    floats = probe.wrong_frames(sand, probe.definition("sand_falls").wrong[1], ctx)
    k = next(k for k, s in enumerate(_kinds(truths["sand_falls"], sand)) if "break" in s)
    np.testing.assert_array_equal(floats[:k], truths["sand_falls"].future_frames[:k])  # same until the break


# ------------------------------------------------------------------------------------- checks


def test_outcome_margin_against_reference_values() -> None:
    rng = np.random.default_rng(0)
    truth = rng.integers(0, 256, (3, 8, 8, 3), dtype=np.uint8)
    wrong = truth.copy()
    wrong[:, :4] = 255 - wrong[:, :4]
    assert outcome_margin(truth, truth, wrong)[0] == 1.0
    assert outcome_margin(wrong, truth, wrong)[0] == -1.0
    m, frac = outcome_margin(truth, truth, truth)
    assert np.isnan(m) and frac == 0.0
    # a prediction 1/4 of the way from the truth to the wrong outcome: e_T = d/16, e_W = 9d/16
    quarter = (truth.astype(np.float64) + (wrong.astype(np.float64) - truth) / 4).astype(np.float64)
    p, t, w = quarter / 255, truth / 255, wrong / 255
    differ = np.abs(t - w).max(axis=-1) > 10 / 255
    e_t, e_w = ((p - t) ** 2).mean(-1)[differ].mean(), ((p - w) ** 2).mean(-1)[differ].mean()
    assert e_w / e_t == pytest.approx(9.0)
    assert (e_w - e_t) / (e_w + e_t) == pytest.approx(0.8)


def test_stillness_counts_pixels_that_change_from_the_previous_frame() -> None:
    last = np.zeros((4, 4, 3), np.uint8)
    frames = np.zeros((2, 4, 4, 3), np.uint8)
    frames[0, 0, 0] = 11  # changes by 11 > 10 on frame 1, back on frame 2
    frames[1, 1, 1] = 10  # 10 is within the threshold
    assert stillness(last, frames) == pytest.approx(1 - 2 / 32)


def test_physics_iq_metrics_and_score_on_a_moving_square() -> None:
    def video(x0: int) -> np.ndarray:
        v = np.zeros((4, 16, 16, 3), np.uint8)
        for k in range(4):
            v[k, 4:8, x0 + k : x0 + k + 4] = 200
        return v

    last = np.zeros((16, 16, 3), np.uint8)
    truth = video(2)
    same = physics_iq_metrics(truth, last, truth, last)
    assert same == {"spatial_iou": 1.0, "spatiotemporal_iou": 1.0, "weighted_spatial_iou": 1.0, "mse": 0.0}
    frozen = physics_iq_metrics(np.zeros_like(truth), last, truth, last)
    assert frozen["spatial_iou"] == 0.0 and frozen["spatiotemporal_iou"] == 0.0
    still = np.zeros((4, 16, 16), bool)
    assert PH._iou(still, still) == 1.0  # no motion on either side: IoU 1 (Physics-IQ)
    take2 = physics_iq_metrics(video(3), last, truth, last)
    assert 0 < take2["spatial_iou"] < 1
    assert physics_iq_score(same, take2) == 1.0  # as good as the truth: capped at 1
    assert physics_iq_score(frozen, take2) == 0.0
    assert np.isnan(physics_iq_score(same, {**frozen}))  # no natural reference at all


# --------------------------------------------------------------------------------- validation


def test_simulator_passes_every_case_perfectly(outputs) -> None:
    out = outputs["simulator"]
    assert set(summary(out, "pass")) == set(PhysicsCases.CASE_NAMES)
    assert all(v == 1.0 for v in summary(out, "pass").values())
    assert all(v == 1.0 for v in summary(out, "score").values())
    assert all(r.value == 100.0 for r in out.rows if r.metric in ("psnr", "region_psnr"))
    margins = [r.value for r in out.rows if r.metric.startswith("margin_")]
    assert margins and all(m == 1.0 for m in margins)  # every margin defined, at the truth
    moving = summary(out, "region_motion")
    assert moving["sand_falls"] > 0.01 and moving["noop_static"] == 0.0


def test_copy_last_frame_passes_exactly_the_static_cases(outputs) -> None:
    out = outputs["copy_last_frame"]
    passed = {case for case, v in summary(out, "pass").items() if v == 1.0}
    assert passed == STATIC_TRUTH
    assert all(v == -1.0 for v in summary(out, "margin_static").values())  # it IS "nothing happens"
    assert summary(out, "score")["mob_moves"] < 0.1
    assert summary(out, "region_motion")["sand_falls"] == 0.0


def test_noise_fails_every_case(outputs) -> None:
    out = outputs["noise"]
    assert all(v == 0.0 for v in summary(out, "pass").values())
    assert max(summary(out, "score").values()) < 0.3
    assert max(summary(out, "psnr").values()) < 12


def test_wrong_outcomes_fail_and_a_blurred_truth_passes(probe, cases, ctx) -> None:
    import cv2

    outcome = [c for c in cases if probe.definition(c.name).wrong]
    wrong = [probe.wrong_frames(c, probe.definition(c.name).wrong[-1], ctx) for c in outcome]
    out = probe.score(outcome, wrong, 0, ctx)
    assert all(v == 0.0 for v in summary(out, "pass").values())
    assert all(v == -1.0 for v in summary(out, "margin_counterfactual").values())
    blurred = [
        np.stack([cv2.GaussianBlur(f, (0, 0), 0.7) for f in ctx.truth(c).future_frames]) for c in cases
    ]
    out = probe.score(cases, blurred, 0, ctx)
    assert all(v == 1.0 for v in summary(out, "pass").values())


def test_rows_media_and_bad_predictions(probe, cases, truths, outputs, ctx) -> None:
    out = outputs["simulator"]
    probe.check_rows(out.rows)
    horizons = {c.name: c.horizon for c in cases}
    for name, k in horizons.items():
        curve = [r.horizon for r in out.rows if r.case == name and r.metric == "psnr" and r.horizon]
        assert curve == list(range(1, k + 1))
    notes = {r.case: r.note for r in out.rows if r.metric == "pass"}
    assert "wrong outcome" in notes["sand_falls"] and "'floats'" in notes["sand_falls"]
    assert "physics_iq" in notes["mob_moves"] and "stillness" in notes["noop_static"]
    assert [m.case for m in out.media] == [c.name for c in cases]
    assert all(m.truth.shape == m.prediction.shape and m.caption for m in out.media)
    quiet = ProbeContext(ctx.env, ctx.scorer, keep_media=False)
    quiet.truth = ctx.truth
    assert not run(probe, CopyLastFrame(), cases[:1], quiet).media
    with pytest.raises(ValueError, match="prediction must be uint8"):
        probe.score(cases[:1], [truths[cases[0].name].future_frames[:-1]], 0, ctx)


def test_tiny_random_checkpoint_end_to_end(tmp_path: Path) -> None:
    from simworld.testing import build_tiny_checkpoint
    from simworld.world_model import WorldModel

    model = WorldModel.load(build_tiny_checkpoint(tmp_path / "ckpt", frame_size=(SIZE, SIZE)))
    env = ProbeEnv.from_model(model)
    probe = PhysicsCases(cases=["sand_falls", "noop_static", "mob_moves"])
    ctx = ProbeContext(env, FrameScorer(lpips_net=None), keep_media=False)
    out = run(probe, ModelPredictor(model, env), probe.cases(env, [0]), ctx)
    probe.check_rows(out.rows)
    assert all(np.isfinite(r.value) for r in out.rows)
    assert summary(out, "pass") == {"sand_falls": 0.0, "noop_static": 0.0, "mob_moves": 0.0}


def test_non_voxel_env_is_refused() -> None:
    with pytest.raises(ValueError, match="scenario API"):
        PhysicsCases().cases(ProbeEnv(id="CartPole-v1"), [0])
    with pytest.raises(ValueError, match="voxel world"):
        render_wrong(
            ProbeEnv(id="simworld/NoSuchWorld-v0"), 0, catalogue()["jump_lands"].build, None, np.zeros((1, 5))
        )
