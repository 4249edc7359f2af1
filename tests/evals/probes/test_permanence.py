"""The object-permanence probe on the simulator (ceiling), copy-last-frame and noise (floors) and a tiny
random checkpoint, at 32×32 with every default occlusion length (4 to 64 frames)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest

from envs.voxel.blocks import BLOCK_IDS
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
)
from evals.probes.frames import PSNR_CAP_DB, FrameScorer
from evals.probes.permanence import (
    DEFAULT_LENGTHS,
    ObjectPermanence,
    box_crossings,
    control_masks,
    object_masks,
    presence,
)
from evals.probes.registry import make_probe

H = W = 32
WORLD = 3


def score(probe: Probe, predictor: Predictor, cases, ctx: ProbeContext, seed: int = 0) -> list[Row]:
    truths = [ctx.truth(c) for c in cases]
    out = probe.score(cases, predictor.predict(cases, truths, seed), seed, ctx)
    probe.check_rows(out.rows)
    return out.rows


def summary(rows: Sequence[Row], metric: str) -> dict[str, float]:
    return {r.case: r.value for r in rows if r.metric == metric and r.horizon is None}


@pytest.fixture(scope="module")
def env() -> ProbeEnv:
    return ProbeEnv(params={"width": W, "height": H})


@pytest.fixture(scope="module")
def setup(env: ProbeEnv):
    probe = ObjectPermanence()
    cases = probe.cases(env, [WORLD])
    ctx = ProbeContext(env, FrameScorer(), keep_media=True)
    rows = {p.name: score(probe, p, cases, ctx) for p in (Simulator(env), CopyLastFrame(), Noise())}
    return probe, cases, ctx, rows


def test_the_cases_cover_every_object_mode_and_k(setup) -> None:
    _, cases, _, _ = setup
    got = {(c.params["object"], c.params["mode"], c.params["k"]) for c in cases}
    pairs = [(o, "look_away") for o in ("landmark", "mob", "placed", "broken")]
    pairs += [("landmark", "cover"), ("mob", "cover")]
    assert got == {(o, m, k) for o, m in pairs for k in DEFAULT_LENGTHS}
    assert len({c.key for c in cases}) == len(cases)


def test_the_object_is_hidden_in_the_truth_for_exactly_k_frames(setup) -> None:
    _, cases, ctx, rows = setup
    for c in cases:
        truth = ctx.truth(c)
        visible = object_masks(c, truth).any(axis=(1, 2))
        future = visible[truth.context_length :]
        assert int((~future).sum()) == c.params["k"], c.name
        assert visible[truth.context_length - 1], c.name  # seen at the end of the context
        assert future[-c.params["return_frames"] :].all(), c.name  # and back in every return frame
        hidden = np.nonzero(~future)[0]
        assert hidden[-1] - hidden[0] + 1 == c.params["k"], c.name  # one contiguous occlusion
    for r in rows["simulator"]:
        assert r.params["occluded_frames"] == r.params["k"]


def test_the_world_changes_in_the_context_the_predictor_sees(setup) -> None:
    _, cases, ctx, _ = setup
    for c in cases:
        if c.params["object"] not in ("placed", "broken"):
            continue
        truth = ctx.truth(c)
        C = truth.context_length
        context_events = [e for step in truth.events[: C - 1] for e in step]
        future_events = [e for step in truth.events[C - 1 :] for e in step]
        kind, block = ("place", "blue_wool") if c.params["object"] == "placed" else ("break", "yellow_wool")
        assert [(e.kind, block in (e.new, e.old)) for e in context_events] == [(kind, True)], c.name
        assert future_events == [], c.name


def test_the_return_view_differs_from_the_last_context_frame(setup) -> None:
    """Why copying the last context frame cannot pass: the object comes back somewhere else."""
    _, cases, ctx, _ = setup
    for c in cases:
        truth = ctx.truth(c)
        masks = object_masks(c, truth)
        last = masks[truth.context_length - 1]
        for m in masks[-c.params["return_frames"] :]:
            assert (m & last).sum() <= 0.1 * m.sum(), c.name
            cols = np.nonzero(m.any(axis=0))[0].mean(), np.nonzero(last.any(axis=0))[0].mean()
            assert cols[0] < cols[1], c.name  # further left in the view


def test_simulator_scores_perfectly_at_every_k(setup) -> None:
    probe, cases, ctx, rows = setup
    sim = rows["simulator"]
    assert len(summary(sim, "permanent")) == len(cases)
    for r in sim:
        if r.metric in ("masked_psnr", "control_psnr"):
            assert r.value == PSNR_CAP_DB, (r.case, r.metric)
        elif r.metric in ("presence", "permanent"):
            assert r.value == 1.0, (r.case, r.metric)
        elif ctx.scorer.lpips_available:
            assert r.value == 0.0, (r.case, r.metric)
        else:
            assert math.isnan(r.value) and r.note
    per_frame = [r for r in sim if r.metric == "presence" and r.horizon is not None]
    assert len(per_frame) == len(cases) * probe.return_frames
    for c in cases:  # the return frames are the last ones of the prediction
        got = {r.horizon for r in per_frame if r.case == c.name}
        assert got == set(range(c.horizon - probe.return_frames + 1, c.horizon + 1)), c.name


def test_copy_last_frame_fails_every_case(setup) -> None:
    _, cases, _, rows = setup
    copy, sim = rows["copy_last_frame"], rows["simulator"]
    permanent, pres = summary(copy, "permanent"), summary(copy, "presence")
    assert set(permanent) == {c.name for c in cases}
    for name in permanent:  # changed-world cases and returns to another view alike
        assert permanent[name] == 0.0 and pres[name] < 0.2, name
    psnr, sim_psnr = summary(copy, "masked_psnr"), summary(sim, "masked_psnr")
    assert max(psnr.values()) < 20 < min(sim_psnr.values())
    assert any(c.params["object"] in ("placed", "broken") for c in cases)


def test_noise_sits_at_the_floor(setup) -> None:
    _, _, ctx, rows = setup
    noise = rows["noise"]
    pres = summary(noise, "presence")
    assert max(pres.values()) < 0.2 and np.mean(list(pres.values())) < 0.1
    assert set(summary(noise, "permanent").values()) == {0.0}
    assert max(summary(noise, "masked_psnr").values()) < 12
    if ctx.scorer.lpips_available:
        assert min(summary(noise, "masked_lpips").values()) > 0.2


def test_control_region_separates_the_object_from_the_background(setup) -> None:
    """Copy-last gets the empty region above the landmark roughly right but not the landmark."""
    _, _, _, rows = setup
    copy = rows["copy_last_frame"]
    obj, control = summary(copy, "masked_psnr"), summary(copy, "control_psnr")
    assert control["landmark_look_away_k16"] > obj["landmark_look_away_k16"] + 5


def test_presence_matches_a_reference_loop() -> None:
    rng = np.random.default_rng(0)
    real = rng.integers(0, 256, (2, 6, 7, 3), dtype=np.uint8)
    real[:, 1:4, 2:5] = [200, 60, 200]  # an object of one colour with a speckle
    real[0, 2, 3] = [150, 45, 150]
    gen = np.clip(real.astype(int) + rng.integers(-40, 41, real.shape), 0, 255).astype(np.uint8)
    masks = np.zeros((2, 6, 7), bool)
    masks[:, 1:4, 2:5] = True
    masks[1] = False
    got = presence(gen, real, masks, 30.0)
    palette = {tuple((c // 8) * 8 + 4) for c in real[0][masks[0]].astype(float)}
    want = np.mean(
        [min(math.dist(p, q) for q in palette) <= 30.0 for p in gen[0][masks[0]].astype(float).tolist()]
    )
    assert got[0] == pytest.approx(want) and math.isnan(got[1])
    assert presence(real, real, masks, 7.0)[0] == 1.0  # within 4·√3 of its own bin centre
    blank = real.copy()
    blank[:, 1:4, 2:5] = [95, 159, 53]  # the object replaced by grass
    assert presence(blank, real, masks, 40.0)[0] == 0.0


def test_object_regions_agree_with_the_segmentation(setup) -> None:
    _, cases, ctx, _ = setup
    by_name = {c.name: c for c in cases}
    for name, block in (("landmark_look_away_k4", "magenta_wool"), ("placed_look_away_k4", "blue_wool")):
        c = by_name[name]
        truth = ctx.truth(c)
        np.testing.assert_array_equal(object_masks(c, truth), truth.segmentation == BLOCK_IDS[block])
    c = by_name["broken_look_away_k4"]
    truth = ctx.truth(c)
    masks = object_masks(c, truth)
    assert not masks[0].any()  # before the break the cell is a wall block: nothing is seen through it
    seen = truth.segmentation[masks]
    assert (seen == BLOCK_IDS["red_wool"]).mean() > 0.9  # the red panel shows through the hole


def test_box_crossings_of_a_known_ray() -> None:
    K = np.array([[16.0, 0, 16], [0, 16.0, 16], [0, 0, 1]])
    pose = np.array([[0.5, 1.5, 0.5, 0.0, 0.0]])  # looking along +z
    pixels = (np.array([0, 0]), np.array([15, 0]), np.array([15, 0]))  # near the centre, the corner
    t_in, t_out = box_crossings(pose, K, pixels, np.array([0.0, 1.0, 3.0]), np.array([1.0, 2.0, 4.0]))
    assert t_in[0] == pytest.approx(2.5) and t_out[0] == pytest.approx(3.5)
    assert t_in[1] > t_out[1]  # the corner ray misses


def test_control_region_is_the_mask_moved_up() -> None:
    masks = np.zeros((2, 8, 8), bool)
    masks[0, 5:7, 2:4] = True
    masks[1, 0:2, 2:4] = True  # touching the top: moved down instead
    control = control_masks(masks)
    assert control[0, 3:5, 2:4].all() and control[0].sum() == 4
    assert control[1, 2:4, 2:4].all() and control[1].sum() == 4
    assert not (control & masks).any()


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"objects": ["tree"]}, "objects must be"),
        ({"objects": []}, "objects must be"),
        ({"modes": ["blink"]}, "modes must be"),
        ({"objects": ["placed"], "modes": ["cover"]}, "applies to the objects"),
        ({"occlusion_lengths": [0]}, "occlusion_lengths"),
        ({"occlusion_lengths": [4.0]}, "occlusion_lengths"),
        ({"return_frames": 0}, "return_frames"),
        ({"turn_speed": 0}, "turn_speed"),
        ({"turn_speed": 270}, "turn_speed"),
        ({"colour_tolerance": -1}, "colour_tolerance"),
        ({"presence_threshold": 1.5}, "presence_threshold"),
    ],
)
def test_bad_options(options: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        ObjectPermanence(**options)


def test_a_k_shorter_than_the_turn_itself_is_refused(env: ProbeEnv) -> None:
    probe = ObjectPermanence(objects=["mob"], modes=["look_away"], occlusion_lengths=[4], turn_speed=15)
    with pytest.raises(ValueError, match="k=4 does not fit"):
        probe.cases(env, [WORLD])


def test_a_prediction_of_the_wrong_shape_is_refused(setup) -> None:
    probe, cases, ctx, _ = setup
    with pytest.raises(ValueError, match="prediction must be uint8"):
        probe.score(cases[:1], [np.zeros((1, H, W, 3), np.uint8)], 0, ctx)


def test_registry_media_and_protocols(setup) -> None:
    probe, cases, ctx, _ = setup
    assert isinstance(make_probe("permanence", occlusion_lengths=[8]), ObjectPermanence)
    assert "within Euclidean distance 40" in probe.metrics["presence"].protocol
    assert "100 dB" in probe.metrics["masked_psnr"].protocol
    assert ObjectPermanence(colour_tolerance=25).metrics["presence"].protocol.count("distance 25 ") == 1
    truths = [ctx.truth(c) for c in cases[:2]]
    out = probe.score(cases[:2], CopyLastFrame().predict(cases[:2], truths, 0), 0, ctx)
    assert [m.case for m in out.media] == [c.name for c in cases[:2]]
    assert out.media[0].truth.shape == out.media[0].prediction.shape == (cases[0].horizon, H, W, 3)
    assert "k=4" in out.media[0].caption


def test_lpips_unavailable_gives_nan_rows_with_the_reason(env: ProbeEnv, setup) -> None:
    probe, cases, _, _ = setup
    ctx = ProbeContext(env, FrameScorer(lpips_net=None), keep_media=False)
    rows = score(probe, CopyLastFrame(), cases[:1], ctx)
    lpips = [r for r in rows if "lpips" in r.metric]
    assert lpips and all(math.isnan(r.value) and r.note == "LPIPS not requested" for r in lpips)
    assert all(np.isfinite(r.value) for r in rows if "lpips" not in r.metric)


def test_cases_are_deterministic(env: ProbeEnv, setup) -> None:
    _, cases, _, _ = setup
    again = ObjectPermanence(objects=["landmark"], occlusion_lengths=[4, 64]).cases(env, [WORLD])
    digests = {c.name: c.digest() for c in cases}
    assert all(c.digest() == digests[c.name] for c in again)


def test_tiny_random_checkpoint_end_to_end(tmp_path: Path) -> None:
    from simworld.testing import build_tiny_checkpoint
    from simworld.world_model import WorldModel

    model = WorldModel.load(build_tiny_checkpoint(tmp_path / "ckpt", frame_size=(H, W)))
    env = ProbeEnv.from_model(model)
    probe = ObjectPermanence(objects=["landmark", "broken"], occlusion_lengths=[4])
    cases = probe.cases(env, [WORLD])
    ctx = ProbeContext(env, FrameScorer(), keep_media=False)
    rows = score(probe, ModelPredictor(model, env, checkpoint=str(tmp_path / "ckpt")), cases, ctx)
    assert {r.case for r in rows} == {c.name for c in cases}
    for r in rows:
        assert np.isfinite(r.value) or r.note, (r.case, r.metric)
    assert set(summary(rows, "permanent").values()) <= {0.0, 1.0}
    assert all(0.0 <= v <= 1.0 for v in summary(rows, "presence").values())


class _Edited(Predictor):
    """The true future, edited: shifted right by one pixel, or with the object painted over with grass."""

    kind = "baseline"

    def __init__(self, edit: str) -> None:
        super().__init__(edit)
        self.edit = edit

    def predict(self, cases, truths, seed):
        out = []
        for c, t in zip(cases, truths):
            frames = t.future_frames.copy()
            if self.edit == "shift":
                frames = np.roll(frames, 1, axis=2)
            else:
                frames[object_masks(c, t)[t.context_length :]] = (95, 159, 53)
            out.append(frames)
        return out


def test_presence_tolerates_a_small_misplacement_but_not_a_vanished_object(setup) -> None:
    probe, cases, ctx, _ = setup
    shifted = summary(score(probe, _Edited("shift"), cases, ctx), "presence")
    erased = score(probe, _Edited("erase"), cases, ctx)
    assert min(shifted.values()) > 0.6
    assert max(summary(erased, "presence").values()) < 0.05
    assert set(summary(erased, "permanent").values()) == {0.0}
    control = summary(erased, "control_psnr")
    assert min(control.values()) == PSNR_CAP_DB  # the background is untouched: the score is about the object
