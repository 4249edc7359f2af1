"""Doom end to end, as docs/vizdoom.md documents it: collect with a scripted policy, validate, train
a tiny model, and evaluate the checkpoint on the real Doom env with the probes that need only frames
and actions (the voxel-scene probes are refused, naming the ones that can run)."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from simworld.cli import main

pytest.importorskip("vizdoom")


@pytest.fixture(scope="module")
def doom_checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Collect 4 Doom episodes with a scripted policy, validate, train a tiny model: its checkpoint."""
    tmp_path = tmp_path_factory.mktemp("doom_pipeline")
    with pytest.MonkeyPatch.context() as monkeypatch:
        monkeypatch.setenv("OMP_NUM_THREADS", "1")
        return _collect_and_train(tmp_path)


def _collect_and_train(tmp_path: Path) -> Path:
    data, run = tmp_path / "doom", tmp_path / "tiny"
    assert main([
        "collect", "env.id=simworld/Doom-v0", "+env.kwargs={frame_size: [32, 32]}", f"out={data}",
        "episodes=4", "steps=24", "policy=envs.vizdoom.policies:mixture", "num_workers=0", "progress=false",
    ]) == 0  # fmt: skip
    assert main(["validate", f"path={data}"]) == 0
    assert main([
        "train", f"data.path={data}", "trainer=debug", "vae=pixel", "data.window=4", "data.batch_size=2",
        f"trainer.out={run}", "trainer.progress=false",
    ]) == 0  # fmt: skip
    ckpt = run / "checkpoint"
    assert json.loads((ckpt / "model_card.json").read_text())["env"]["id"] == "simworld/Doom-v0"
    return ckpt


def test_collect_train_eval_report_on_doom(doom_checkpoint: Path, tmp_path: Path) -> None:
    ckpt, out = doom_checkpoint, tmp_path / "eval"
    assert main(["eval", f"checkpoints=[{ckpt}]", "suite=quick", f"out={tmp_path / 'refused'}"]) == 1
    args = ["eval", f"checkpoints=[{ckpt}]", "suite=quick", "suite.only=[controllability]", f"out={out}"]
    assert main([*args, "progress=false", "suite.probes.controllability.cases_per_world=1"]) == 0
    df = pd.read_parquet(out / "results.parquet")
    delta = df[(df.metric == "delta_psnr") & df.horizon.isna()].groupby("checkpoint").value.mean()
    assert delta["simulator"] > 20 and delta["copy_last_frame"] == 0.0  # the real Doom env is controllable
    assert (out / "report.html").stat().st_size > 0
    assert json.loads((out / "manifest.json").read_text())["env"]["id"] == "simworld/Doom-v0"


@pytest.mark.slow  # ~100 s on 2 busy cores; tests/evals/probes/test_doom_probes.py covers the probes fast
def test_ground_truth_probes_evaluate_a_doom_checkpoint(doom_checkpoint: Path, tmp_path: Path) -> None:
    """The ground-truth probes on the Doom checkpoint: the real game far above a frozen world."""
    ckpt, gt = doom_checkpoint, tmp_path / "eval_gt"
    assert main([
        "eval", f"checkpoints=[{ckpt}]", "suite=quick", "suite.only=[reprojection,geometry,permanence]",
        f"out={gt}", "progress=false", "++suite.probes.reprojection.motions=[turn]",
        "++suite.probes.geometry.motions=[turn]", "++suite.probes.geometry.turn_step_deg=10",
        "++suite.probes.geometry.horizon=6", "++suite.probes.geometry.upscale=4",
        "suite.probes.permanence.occlusion_lengths=[4]",
    ]) == 0  # fmt: skip
    df = pd.read_parquet(gt / "results.parquet")
    summary = df[df.horizon.isna()].groupby(["probe", "metric", "checkpoint"]).value.mean()
    assert (
        summary["reprojection", "masked_psnr", "simulator"]
        > summary["reprojection", "masked_psnr", "copy_last_frame"] + 8
    )
    assert (
        summary["geometry", "rotation_error", "simulator"]
        < 5
        < 9
        < summary["geometry", "rotation_error", "copy_last_frame"]
    )
    assert summary["permanence", "masked_psnr", "simulator"] == 100.0
    assert summary["permanence", "masked_psnr", "copy_last_frame"] < 15


def test_loop_closure_on_doom_scores_the_references_as_it_must() -> None:
    from evals.probes.base import CopyLastFrame, ProbeContext, ProbeEnv, Simulator
    from evals.probes.frames import FrameScorer
    from evals.probes.loop_closure import LoopClosure

    env = ProbeEnv("simworld/Doom-v0", {"height": 32, "width": 32})
    probe = LoopClosure(turn_step_deg=30.0)
    cases = probe.cases(env, [0])
    assert [c.name for c in cases] == ["rotate_360"] and cases[0].scenario is None
    ctx = ProbeContext(env, FrameScorer(lpips_net=None), keep_media=False)
    truth = ctx.truth(cases[0])
    results = {}
    for pred in (Simulator(env), CopyLastFrame()):
        rows = probe.score(cases, pred.predict(cases, [truth], seed=0), 0, ctx).rows
        results[pred.name] = [r.value for r in rows if r.metric == "psnr"]
    assert results["simulator"] == [100.0] * len(results["simulator"])  # deterministic real game
    assert min(results["copy_last_frame"]) < 25  # the view changes while turning; a frozen world fails
