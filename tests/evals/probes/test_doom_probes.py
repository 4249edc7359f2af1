"""The ground-truth probes on ViZDoom: reprojection, geometry and permanence score the real game
(the ceiling) far above copy-last-frame (a frozen world), with Doom's true pose, K, depth and labels."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from evals.probes.base import Case, CopyLastFrame, Noise, ProbeContext, ProbeEnv, Simulator, run_truth
from evals.probes.consistency import rigid_pixels
from evals.probes.frames import FrameScorer

pytest.importorskip("vizdoom")

from evals.probes import doom_scenes  # noqa: E402  (imports envs.vizdoom)
from evals.probes.permanence import ObjectPermanence  # noqa: E402
from evals.probes.pose_geometry import Geometry  # noqa: E402
from evals.probes.reprojection import Reprojection  # noqa: E402
from evals.probes.scenarios import action  # noqa: E402

DOOM = "simworld/Doom-v0"


def _summary(probe, env: ProbeEnv, predictors, world_seeds=(0,)) -> pd.DataFrame:
    """Per-case summary rows (no horizon) of every predictor, as a frame."""
    ctx = ProbeContext(env, FrameScorer(lpips_net=None), keep_media=False)
    cases = probe.cases(env, list(world_seeds))
    truths = [ctx.truth(c) for c in cases]
    rows = []
    for pred in predictors:
        for r in probe.score(cases, pred.predict(cases, truths, 0), 0, ctx).rows:
            if r.horizon is None:
                rows.append(
                    {"pred": pred.name, "case": r.case, "metric": r.metric, "value": r.value, **r.params}
                )
    return pd.DataFrame(rows)


def _value(df: pd.DataFrame, pred: str, case: str, metric: str) -> float:
    return float(df[(df.pred == pred) & (df.case == case) & (df.metric == metric)].value.mean())


def test_reprojection_on_doom_separates_the_game_from_a_frozen_world() -> None:
    env = ProbeEnv(DOOM, {"height": 32, "width": 32})
    probe = Reprojection(horizon=12)
    assert all(c.scenario is doom_scenes.face_open for c in probe.cases(env, [0]))
    df = _summary(probe, env, [Simulator(env), CopyLastFrame()])
    # world 0 walks into a wall after a few steps: forward's gap is the smallest (measured 32.4 vs 28.5 dB)
    for case, gap in (("turn", 5.0), ("arc", 5.0), ("forward", 3.0)):
        sim, copy = (
            _value(df, "simulator", case, "masked_psnr"),
            _value(df, "copy_last_frame", case, "masked_psnr"),
        )
        assert sim == pytest.approx(_value(df, "simulator", case, "warp_self_psnr"))
        assert sim > copy + gap, (case, sim, copy)
        assert _value(df, "simulator", case, "covisible_fraction") > 0.5  # the quantised depth still agrees


def test_geometry_on_doom_recovers_the_true_turn() -> None:
    env = ProbeEnv(DOOM, {"height": 64, "width": 64})
    probe = Geometry(horizon=6, motions=["turn"], turn_step_deg=5.0)
    df = _summary(probe, env, [Simulator(env), CopyLastFrame()])
    sim, copy = (_value(df, p, "turn", "rotation_error") for p in ("simulator", "copy_last_frame"))
    assert sim < 1.5 and copy == pytest.approx(5.0, abs=0.1), (sim, copy)  # copy-last misses the whole turn
    assert _value(df, "simulator", "turn", "pose_rate") > 0.5


def test_permanence_on_doom_hides_the_column_for_exactly_k_frames() -> None:
    env = ProbeEnv(DOOM, {"height": 32, "width": 32})
    probe = ObjectPermanence(occlusion_lengths=[4, 12])
    cases = probe.cases(env, [0])
    assert [c.name for c in cases] == ["column_look_away_k4", "column_look_away_k12"]
    df = _summary(probe, env, [Simulator(env), CopyLastFrame(), Noise()])
    assert (df.occluded_frames == df.k).all()
    for case in ("column_look_away_k4", "column_look_away_k12"):
        assert _value(df, "simulator", case, "masked_psnr") == 100.0  # the column and the game are static
        assert _value(df, "copy_last_frame", case, "masked_psnr") < 15  # measured ~11.7 dB
        # the column shares the walls' palette: no presence test rather than a copy-last "1.0"
        for p in ("simulator", "copy_last_frame", "noise"):
            assert np.isnan(_value(df, p, case, "presence")) and np.isnan(_value(df, p, case, "permanent"))


def test_summon_column_puts_a_labelled_column_in_view_and_rigid_pixels_exclude_it() -> None:
    env = ProbeEnv(DOOM, {"height": 32, "width": 32})
    case = Case(
        "test", "column", 1, [], [action()], scenario=doom_scenes.summon_column, params={"object": "column"}
    )
    truth = run_truth(env, case)
    masks = doom_scenes.object_masks(case, truth)
    assert (masks.sum(axis=(1, 2)) > 20).all()  # in view in every frame
    assert not rigid_pixels(truth.segmentation, DOOM)[masks].any()
    assert rigid_pixels(np.array([0, 999, 1000]), "simworld/VoxelWorld-v0").tolist() == [True, True, False]


def test_permanence_on_doom_needs_look_away() -> None:
    with pytest.raises(ValueError, match="only the look_away mode"):
        ObjectPermanence(objects=["landmark"], modes=["cover"]).cases(
            ProbeEnv(DOOM, {"height": 32, "width": 32}), [0]
        )
