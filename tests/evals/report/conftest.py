"""A genuine (small) eval run directory for the report tests, built from real probe computations.

Until ``evals.suite.run_eval`` exists this builds the run directory itself, in the
``simworld.eval/1`` format, from the probe machinery: a "turn away and come back" case in a voxel
arena (32×32 frames) with the turn length ``k`` swept, the real simulator as the ceiling,
copy-last-frame and noise as floors, two sampling seeds and two worlds; per-frame PSNR curves, a
summary PSNR of the revisit frame and LPIPS rows left NaN with the scorer's note (LPIPS not
requested), plus truth|prediction GIFs. ``benchmarks/report_render.py`` imports this file to build
the same run.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from evals.probes import frames as F
from evals.probes import scenarios as S
from evals.probes.base import Case, CopyLastFrame, Noise, ProbeEnv, Simulator, TruthCache
from evals.probes.frames import FrameScorer

SUITE = "report-test"
PROBE = "turn_back"
KS = (2, 4, 6)
WORLD_SEEDS = (0, 1)
SEEDS = (0, 1)
PSNR_CURVE = "full-frame PSNR of each predicted frame vs the real simulator, " + F.PSNR_PROTOCOL
PSNR_REVISIT = (
    "PSNR of the last predicted frame (the view back at the start pose) vs the real simulator, "
    + F.PSNR_PROTOCOL
)
LPIPS_PROTOCOL = "LPIPS v0.1 alex of the last predicted frame vs the real simulator, RGB in [-1, 1]"
METRICS = {
    PROBE: {
        "psnr": {"protocol": PSNR_CURVE, "higher_is_better": True, "unit": "dB"},
        "revisit_psnr": {"protocol": PSNR_REVISIT, "higher_is_better": True, "unit": "dB"},
        "lpips": {"protocol": LPIPS_PROTOCOL, "higher_is_better": False, "unit": ""},
    }
}


def _pillar(world, arena) -> None:
    world.fill(arena.cell(-1, 4), arena.cell(1, 4, 3), "stone")
    world.fill(arena.cell(3, 2), arena.cell(3, 2, 2), "planks")


def cases(world_seeds=WORLD_SEEDS, ks=KS) -> list[Case]:
    """Turn right k steps of 30° then back: the start view must come back."""
    scenario = S.in_arena(_pillar, radius=8)
    return [
        Case(
            PROBE,
            f"turn_{k}",
            w,
            context_actions=S.repeat(S.action(), 2),
            actions=S.repeat(S.action(yaw=30), k) + S.repeat(S.action(yaw=-30), k),
            scenario=scenario,
            params={"k": k, "step_deg": 30},
        )
        for w in world_seeds
        for k in ks
    ]


def build_run(path: Path, world_seeds=WORLD_SEEDS, seeds=SEEDS, ks=KS) -> Path:
    """Write a run directory (manifest, results.parquet/.csv, media.json, media/*.gif) at ``path``."""
    from simworld.video import write_video

    env = ProbeEnv(params={"width": 32, "height": 32})
    scorer = FrameScorer(lpips_net=None)
    truth = TruthCache(env)
    all_cases = cases(world_seeds, ks)
    truths = [truth(c) for c in all_cases]
    predictors = [Simulator(env), CopyLastFrame(), Noise()]
    rows, media = [], []
    path.mkdir(parents=True, exist_ok=True)
    for pred in predictors:
        for seed in seeds:
            predictions = pred.predict(all_cases, truths, seed)
            for case, tr, p in zip(all_cases, truths, predictions):
                base = {
                    "checkpoint": pred.name,
                    "checkpoint_kind": pred.kind,
                    "suite": SUITE,
                    "probe": PROBE,
                    "case": case.name,
                    "seed": seed,
                    "world_seed": case.world_seed,
                    "params": json.dumps(case.params),
                }
                curve = F.psnr(p, tr.future_frames)
                for h, v in enumerate(curve, start=1):
                    rows.append({**base, "metric": "psnr", "horizon": h, "value": float(v), "note": ""})
                rows.append(
                    {**base, "metric": "revisit_psnr", "horizon": None, "value": float(curve[-1]), "note": ""}
                )
                rows.append(
                    {
                        **base,
                        "metric": "lpips",
                        "horizon": None,
                        "value": np.nan,
                        "note": scorer.lpips_unavailable,
                    }
                )
                if seed == seeds[0] and case.world_seed == world_seeds[0] and case.params["k"] == ks[-1]:
                    rel = f"media/{pred.name}/{case.name}_w{case.world_seed}_s{seed}.gif"
                    write_video(path / rel, np.concatenate([tr.future_frames, p], axis=2), fps=4, scale=2)
                    media.append(
                        {
                            "checkpoint": pred.name,
                            "probe": PROBE,
                            "case": case.name,
                            "world_seed": case.world_seed,
                            "seed": seed,
                            "path": rel,
                            "caption": "the pillar must be back in the middle of the last frame",
                        }
                    )
    df = pd.DataFrame(rows).astype(
        {"horizon": "Int64", "seed": "int64", "world_seed": "int64", "value": "float64"}
    )
    df.to_parquet(path / "results.parquet", index=False)
    df.to_csv(path / "results.csv", index=False)
    (path / "media.json").write_text(json.dumps(media, indent=1))
    manifest = {
        "format": "simworld.eval/1",
        "suite": SUITE,
        "created": "2025-01-01T00:00:00+00:00",
        "wall_time_s": 1.5,
        "git_revision": None,
        "packages": {"numpy": np.__version__, "pandas": pd.__version__},
        "hardware": {"cpu": "test", "device": "cpu"},
        "config": {"probes": [PROBE], "seeds": list(seeds), "world_seeds": list(world_seeds), "ks": list(ks)},
        "env": env.describe(),
        "checkpoints": [{"name": p.name, "kind": p.kind, "identity": p.identity()} for p in predictors],
        "metrics": METRICS,
        "weights": {"lpips": {"unavailable": scorer.lpips_unavailable}, "fvd": {"unavailable": "not used"}},
    }
    (path / "manifest.json").write_text(json.dumps(manifest, indent=1))
    return path


@pytest.fixture(scope="session")
def run_dir(tmp_path_factory) -> Path:
    """A run directory built once per session (tests must not modify it: use ``run_copy``)."""
    return build_run(tmp_path_factory.mktemp("runs") / "run_a")


@pytest.fixture
def run_copy(run_dir, tmp_path):
    """``run_copy(name)``: a fresh copy of the session run directory under ``tmp_path``."""

    def make(name: str = "run_b") -> Path:
        dest = tmp_path / name
        shutil.copytree(run_dir, dest)
        for stale in ("report.md", "report.html", "report_files"):
            target = dest / stale
            if target.is_dir():
                shutil.rmtree(target)
            elif target.exists():
                target.unlink()
        return dest

    return make
