"""The controllability probe: an IDM trained here on a tiny collected voxel dataset reads real frames
better than chance; the probe ranks the simulator above copy-last-frame and noise on IDM F1; ΔtPSNR
is large for the simulator and zero for predictors that ignore the actions."""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest
import torch

from envs.voxel.config import VoxelWorldConfig
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
from evals.probes.controllability import (
    NO_IDM_NOTE,
    Controllability,
    segment_actions,
    segment_policy,
)
from evals.probes.frames import FrameScorer
from evals.probes.registry import make_probe
from simworld import actions as A
from simworld.data.collect import CollectConfig, CollectEnvConfig, collect
from simworld.models.idm import IDMConfig
from simworld.train.idm import TrainIDMConfig, train_idm

H = W = 32
K = 16
POLICY = "evals.probes.controllability:segment_policy"


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def idm(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    """An IDM trained for 200 steps (about 10 s) on 60 episodes × 50 steps of the probe's segments."""
    root = tmp_path_factory.mktemp("idm")
    world = VoxelWorldConfig(width=W, height=H)
    collect(
        CollectConfig(
            env=CollectEnvConfig(world=world),
            out=str(root / "data"),
            episodes=60,
            steps=50,
            policy=POLICY,
            num_workers=0,
            progress=False,
        )
    )
    model = IDMConfig(
        clip_length=6, feature_channels=8, max_displacement=3, channels=(16, 32), hidden_size=32, num_heads=2
    )
    cfg = TrainIDMConfig(
        dataset=str(root / "data"),
        out=str(root / "idm"),
        model=model,
        steps=200,
        batch_size=16,
        lr=3e-3,
        warmup_steps=20,
        val_fraction=0.25,
        log_every=0,
        progress=False,
    )
    return root / "idm", train_idm(cfg)


def score(probe: Probe, predictor: Predictor, cases, ctx: ProbeContext, seed: int = 0) -> list[Row]:
    truths = [ctx.truth(c) for c in cases]
    out = probe.score(cases, predictor.predict(cases, truths, seed), seed, ctx)
    probe.check_rows(out.rows)
    return out.rows


def value(rows: Sequence[Row], metric: str) -> float:
    (row,) = [r for r in rows if r.metric == metric and r.case == "pooled"]
    return row.value


def deltas(rows: Sequence[Row]) -> list[float]:
    return [r.value for r in rows if r.metric == "delta_psnr" and r.horizon is None]


@pytest.fixture(scope="module")
def env() -> ProbeEnv:
    return ProbeEnv(params={"width": W, "height": H})


@pytest.fixture(scope="module")
def results(idm: tuple[Path, dict], env: ProbeEnv) -> dict[str, list[Row]]:
    probe = Controllability(horizon=K, cases_per_world=4, idm=str(idm[0]))
    cases = probe.cases(env, [0, 1])
    ctx = ProbeContext(env, FrameScorer(lpips_net=None), keep_media=False)
    return {p.name: score(probe, p, cases, ctx) for p in (Simulator(env), CopyLastFrame(), Noise())}


def test_idm_beats_chance_on_real_held_out_frames(idm: tuple[Path, dict]) -> None:
    val = idm[1]["validation"]
    assert val["transitions"] >= 500
    # turning: the sign of the yaw delta, far above the majority sign
    assert val["yaw_sign_accuracy"] > max(0.8, val["chance_yaw_sign"] + 0.2)
    # walking, strafing, jumping: F1 above that of always pressing the key (the best frame-blind guess)
    margins = [val["keys"][k]["f1"] - val["chance_f1"][k] for k in ("forward", "left", "right", "jump")]
    assert min(margins) > 0.0 and np.mean(margins) > 0.08, margins
    assert val["camera_mae"][1] < val["zero_camera_mae"][1]  # better than "never turning"


def test_probe_ranks_the_simulator_above_the_floors_on_idm_scores(results: dict[str, list[Row]]) -> None:
    sim, copy, noise = results["simulator"], results["copy_last_frame"], results["noise"]
    f1 = {name: value(rows, "idm_f1_macro") for name, rows in results.items()}
    assert f1["simulator"] > f1["copy_last_frame"] + 0.05 and f1["simulator"] > f1["noise"] + 0.1
    assert value(sim, "idm_f1_forward") > value(noise, "idm_f1_forward")
    assert value(sim, "idm_yaw_sign_accuracy") > 0.8 > value(copy, "idm_yaw_sign_accuracy")
    assert value(sim, "idm_camera_mae_yaw") < value(noise, "idm_camera_mae_yaw")
    row = next(r for r in sim if r.metric == "idm_f1_macro")
    assert row.world_seed == -1 and row.params["transitions"] == 8 * K and len(row.params["cases"]) == 8


def test_delta_psnr_needs_the_actions(results: dict[str, list[Row]]) -> None:
    sim, copy, noise = (deltas(results[n]) for n in ("simulator", "copy_last_frame", "noise"))
    assert len(sim) == len(copy) == len(noise) == 8
    assert min(sim) > 50.0  # the truth itself (100 dB cap) vs another trajectory
    assert copy == [0.0] * 8  # the same frame whatever the actions
    assert noise == [0.0] * len(noise)  # ignores the actions, and a pair shares its sampling noise
    per_frame = [r for r in results["simulator"] if r.metric == "delta_psnr" and r.horizon is not None]
    assert sorted({r.horizon for r in per_frame}) == list(range(1, K + 1))
    psnr = [r for r in results["simulator"] if r.metric == "psnr_commanded"]
    assert all(r.value == 100.0 for r in psnr)


def test_without_an_idm_the_idm_rows_say_how_to_get_one(env: ProbeEnv) -> None:
    probe = Controllability(horizon=8, cases_per_world=2)
    cases = probe.cases(env, [3])
    rows = score(
        probe, CopyLastFrame(), cases, ProbeContext(env, FrameScorer(lpips_net=None), keep_media=True)
    )
    idm_rows = [r for r in rows if r.metric.startswith("idm_")]
    assert len(idm_rows) == len([m for m in probe.metrics if m.startswith("idm_")]) == 3 * 9 + 4
    assert all(math.isnan(r.value) and r.note == NO_IDM_NOTE for r in idm_rows)
    assert deltas(rows) == [0.0, 0.0]


def test_cases_pair_commanded_and_random_actions(env: ProbeEnv) -> None:
    probe = Controllability(horizon=K, cases_per_world=2, context_frames=3)
    cases = probe.cases(env, [0, 1])
    assert [c.name for c in cases[:4]] == ["actions_0", "actions_0_random", "actions_1", "actions_1_random"]
    assert [c.digest() for c in cases] == [c.digest() for c in probe.cases(env, [0, 1])]
    commanded, random = cases[0], cases[1]
    assert commanded.params["actions"] == "commanded" and random.params == {
        **commanded.params,
        "actions": "random",
    }
    assert (
        commanded.world_seed == random.world_seed and commanded.context_length == random.context_length == 3
    )
    assert not np.array_equal(commanded.flat_actions(), random.flat_actions())
    flat = np.concatenate([c.flat_actions() for c in cases])
    assert flat[:, A.FLAT_KEYS].max(axis=0)[:5].tolist() == [
        1,
        1,
        1,
        1,
        1,
    ]  # every movement key and jump used
    assert np.abs(flat[:, A.FLAT_CAMERA]).max() > 0


def test_a_missing_partner_gives_nan_with_a_note(env: ProbeEnv) -> None:
    probe = Controllability(horizon=4, cases_per_world=1)
    cases = probe.cases(env, [0])[:1]
    rows = score(
        probe, Simulator(env), cases, ProbeContext(env, FrameScorer(lpips_net=None), keep_media=False)
    )
    (delta,) = [r for r in rows if r.metric == "delta_psnr"]
    assert math.isnan(delta.value) and "actions_0_random missing" in delta.note


def test_segment_policy_is_deterministic_per_episode() -> None:
    def episode(seed: int) -> np.ndarray:
        np.random.seed(seed)  # what collect does before each episode
        return np.stack([A.to_flat(segment_policy(None, {"tick": t})) for t in range(30)])

    a, b = episode(1), episode(1)
    assert np.array_equal(a, b) and not np.array_equal(a, episode(2))
    assert len(segment_actions(np.random.default_rng(0), 7)) == 7


def test_idm_of_another_frame_size_is_refused(idm: tuple[Path, dict]) -> None:
    probe = Controllability(idm=str(idm[0]))
    with pytest.raises(ValueError, match="reads 32×32 frames but the probe env renders 48×48"):
        probe.cases(ProbeEnv(params={"width": 48, "height": 48}), [0])
    with pytest.raises(ValueError, match="train one with `simworld train-idm`"):
        Controllability(idm=str(idm[0].parent / "nothing"))


@pytest.mark.parametrize(
    "options, message",
    [
        ({"horizon": 0}, "horizon must be"),
        ({"cases_per_world": 0}, "cases_per_world"),
        ({"threshold": 1.0}, "threshold"),
    ],
)
def test_bad_options(options: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Controllability(**options)


def test_tiny_random_checkpoint_end_to_end(tmp_path: Path, idm: tuple[Path, dict]) -> None:
    from simworld.testing import build_tiny_checkpoint
    from simworld.world_model import WorldModel

    model = WorldModel.load(build_tiny_checkpoint(tmp_path / "ckpt", frame_size=(H, W)))
    env = ProbeEnv.from_model(model)
    probe = make_probe("controllability", horizon=6, cases_per_world=2, idm=str(idm[0]))
    cases = probe.cases(env, [0])
    rows = score(probe, ModelPredictor(model, env), cases, ProbeContext(env, FrameScorer(lpips_net=None)))
    assert {r.metric for r in rows} == set(probe.metrics)
    assert all(math.isfinite(r.value) or r.note for r in rows)
    assert all(math.isfinite(d) for d in deltas(rows))
