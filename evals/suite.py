"""Run a probe suite for checkpoints and baselines into a run directory (``evals.rundir`` format).

The work is cut into units — (predictor, probe, seed) — each a pure function of its inputs. A
unit's digest covers the predictor's identity (a checkpoint's weight hash and sampler), the
probe's name and options, the env, the cases' digests, the seed and the LPIPS network, and its
rows land in ``<run>/units/<digest>.json`` the moment it finishes. A rerun (after a crash, a
kill or with one more checkpoint) reuses every finished unit and computes only the rest, so the
final table is the same as an uninterrupted run's. Under ``torchrun`` each rank takes every
``world_size``-th unit; rank 0 waits for all, then merges the table and writes the report.

Predictors: each checkpoint (``ModelPredictor``) plus the suite's baselines — ``simulator`` (the
ceiling), ``copy_last_frame`` and ``noise`` (the floors) — so that every number has a reference
beside it.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pandas as pd
from tqdm.auto import tqdm

from evals import rundir
from evals.config import BASELINES, SuiteConfig  # noqa: F401  (re-exported)
from evals.probes.base import (
    CopyLastFrame,
    Media,
    ModelPredictor,
    Noise,
    Predictor,
    Probe,
    ProbeContext,
    ProbeEnv,
    Row,
    Simulator,
)
from evals.probes.frames import FrameScorer
from evals.probes.registry import make_probe
from simworld.info import hardware, package_versions

UNIT_FORMAT = 1


@dataclass
class EvalResult:
    """What ``run_eval`` returns (on rank 0; other ranks get an empty table).

    Attributes:
        run_dir: the run directory.
        results: the long-format table.
        computed: units computed in this call.
        reused: units found finished on disk.
        wall_time_s: this call's wall time.
    """

    run_dir: Path
    results: pd.DataFrame
    computed: int
    reused: int
    wall_time_s: float


def build_predictors(
    checkpoints: Sequence[str],
    config: SuiteConfig,
    device: str = "cpu",
    names: Sequence[str] | None = None,
    loader: Callable[[str, str], Any] | None = None,
) -> tuple[ProbeEnv, list[Predictor]]:
    """Load the checkpoints, choose the env, and add the baselines.

    Raises:
        ValueError: checkpoints of different frame sizes or envs, duplicate names, or a checkpoint
            the env cannot drive (checked before any compute).
    """
    if loader is None:
        from envs.learned.core import load_model

        def loader(path: str, dev: str) -> Any:
            return load_model(path, device=dev)

    if names and len(names) != len(checkpoints):
        raise ValueError(f"names: {len(names)} names for {len(checkpoints)} checkpoints")
    models = [loader(str(path), device) for path in checkpoints]
    if models:
        env = ProbeEnv.from_model(models[0])
        for path, m in zip(checkpoints[1:], models[1:]):
            other = ProbeEnv.from_model(m)
            if other.describe() != env.describe():
                raise ValueError(
                    f"checkpoint {path} was trained on {other.describe()} but {checkpoints[0]} on "
                    f"{env.describe()}; evaluate checkpoints of different envs or frame sizes "
                    "in separate runs"
                )
    else:
        env = ProbeEnv(id=str(config.env.get("id", ProbeEnv.id)), params=dict(config.env.get("params") or {}))
    predictors: list[Predictor] = []
    for i, (path, m) in enumerate(zip(checkpoints, models)):
        name = names[i] if names else Path(str(path)).resolve().name
        predictors.append(
            ModelPredictor(m, env, name=name, checkpoint=str(path), batch_size=config.batch_size)
        )
    for b in config.baselines:
        predictors.append(
            {"simulator": lambda: Simulator(env), "copy_last_frame": CopyLastFrame, "noise": Noise}[b]()
        )
    seen = [p.name for p in predictors]
    dupes = sorted({n for n in seen if seen.count(n) > 1})
    if dupes:
        raise ValueError(f"predictor names must be unique, got {dupes} twice; pass distinct names")
    return env, predictors


def _unit_digest(
    pred: Predictor,
    probe_name: str,
    options: dict,
    probe_identity: dict,
    env: ProbeEnv,
    cases: list,
    seed: int,
    lpips: str,
) -> str:
    blob = {
        "format": UNIT_FORMAT,
        "predictor": pred.identity(),
        "probe": probe_name,
        "options": options,
        "probe_identity": probe_identity,
        "env": env.describe(),
        "cases": [c.digest() for c in cases],
        "seed": seed,
        "lpips": lpips,
    }
    return hashlib.sha256(json.dumps(blob, sort_keys=True, default=str).encode()).hexdigest()[:32]


def _media_entry(run: Path, pred: Predictor, m: Media) -> dict[str, Any]:
    from simworld.video import side_by_side, write_video

    rel = Path("media") / pred.name / m.probe / f"{m.case}-w{m.world_seed}-s{m.seed}.gif"
    side = side_by_side(m.truth, m.prediction)
    write_video(run / rel, side, fps=10.0, scale=max(1, 128 // side.shape[1]))
    return {
        "checkpoint": pred.name,
        "probe": m.probe,
        "case": m.case,
        "world_seed": m.world_seed,
        "seed": m.seed,
        "path": str(rel),
        "caption": f"truth | {pred.name}. {m.caption}".strip(),
    }


def _run_unit(
    run: Path,
    suite: str,
    pred: Predictor,
    probe: Probe,
    cases: list,
    seed: int,
    ctx: ProbeContext,
    keep_media: int,
) -> dict[str, Any]:
    truths = [ctx.truth(c) for c in cases]
    predictions = pred.predict(cases, truths, seed)
    ctx.keep_media = keep_media > 0
    out = probe.score(cases, predictions, seed, ctx)
    probe.check_rows(out.rows)
    rows = [_row_dict(r, pred, suite) for r in out.rows]
    media = [_media_entry(run, pred, m) for m in out.media[:keep_media]]
    return {"rows": rows, "media": media}


def _row_dict(r: Row, pred: Predictor, suite: str) -> dict[str, Any]:
    return {
        "checkpoint": pred.name,
        "checkpoint_kind": pred.kind,
        "suite": suite,
        "probe": r.probe,
        "case": r.case,
        "metric": r.metric,
        "horizon": r.horizon,
        "seed": int(r.seed),
        "world_seed": int(r.world_seed),
        "params": json.dumps(r.params, sort_keys=True, default=str),
        "value": float(r.value),
        "note": r.note,
    }


def run_eval(
    checkpoints: Sequence[str],
    config: SuiteConfig,
    out: str | Path,
    device: str = "cpu",
    names: Sequence[str] | None = None,
    progress: bool = True,
    report: bool = True,
    extra_manifest: dict[str, Any] | None = None,
) -> EvalResult:
    """Evaluate checkpoints (and the suite's baselines) on a suite; write the run directory.

    Args:
        checkpoints: checkpoint folders (may be empty: baselines only).
        config: the suite.
        out: the run directory (created; an existing one is resumed).
        device: where models and LPIPS run.
        names: row labels of the checkpoints (default: folder names).
        progress: progress bars per probe and a summary at the end.
        report: write ``report.md``/``report.html`` (``evals.report``) at the end.
        extra_manifest: more manifest entries (e.g. the CLI's full config).

    Raises:
        ValueError: bad suite or incompatible checkpoints (before any compute).
    """
    joined = _join_group() if int(os.environ.get("WORLD_SIZE", "1")) > 1 else False
    try:
        return _evaluate(checkpoints, config, out, device, names, progress, report, extra_manifest)
    finally:
        if joined:  # while Python is alive: gloo's threads must not outlive the interpreter
            import torch.distributed as dist

            dist.destroy_process_group()


def _evaluate(
    checkpoints: Sequence[str],
    config: SuiteConfig,
    out: str | Path,
    device: str = "cpu",
    names: Sequence[str] | None = None,
    progress: bool = True,
    report: bool = True,
    extra_manifest: dict[str, Any] | None = None,
) -> EvalResult:
    """The body of ``run_eval`` (the process group, when sharded, is already joined)."""
    t0 = time.perf_counter()
    rank, world = int(os.environ.get("RANK", "0")), int(os.environ.get("WORLD_SIZE", "1"))
    env, predictors = build_predictors(checkpoints, config, device, names)
    probes = {name: make_probe(name, **(opts or {})) for name, opts in config.probes.items()}
    cannot = [n for n, p in probes.items() if p.supported_envs is not None and env.id not in p.supported_envs]
    if cannot:
        can = [n for n, p in probes.items() if n not in cannot] or ["controllability"]
        raise ValueError(
            f"probes {cannot} build voxel-world scenes and cannot run on {env.id!r} (the checkpoint's "
            f"env); run the probes that need only frames and actions, e.g. suite.only=[{','.join(can)}]"
        )
    run = Path(out)
    (run / "units").mkdir(parents=True, exist_ok=True)
    scorer = FrameScorer(lpips_net=config.lpips_net, device=device)
    ctx = ProbeContext(env, scorer)
    lpips_id = scorer.lpips_label or scorer.lpips_unavailable
    units = []
    for pname, probe in probes.items():
        cases = probe.cases(env, list(config.world_seeds))
        for pred in predictors:
            keep = (
                0 if (pred.kind == "simulator" and not config.media_for_simulator) else config.media_per_probe
            )
            # a seed-independent predictor is computed once, with the first seed; its rows are
            # repeated for the other seeds at merge time so that every predictor has the same rows
            seeds = config.seeds[:1] if pred.deterministic else config.seeds
            for seed in seeds:
                digest = _unit_digest(
                    pred, pname, config.probes[pname] or {}, probe.identity(), env, cases, seed, lpips_id
                )
                units.append((pname, probe, cases, pred, seed, keep, digest))
    computed = reused = 0
    mine = units[rank::world]
    for pname in probes:
        todo = [u for u in mine if u[0] == pname]
        bar = tqdm(todo, desc=f"{pname:>15}", unit="unit", disable=not progress or rank != 0, leave=True)
        for _, probe, cases, pred, seed, keep, digest in bar:
            path = run / "units" / f"{digest}.json"
            bar.set_postfix_str(f"{pred.name} seed {seed}")
            if path.is_file():
                reused += 1
                continue
            result = _run_unit(run, config.name, pred, probe, cases, seed, ctx, keep)
            rundir.atomic_write_json(path, {"predictor": pred.name, "probe": pname, "seed": seed, **result})
            computed += 1
    if world > 1:
        import torch.distributed as dist

        dist.barrier()  # every rank's units are on disk; rank 0 merges them
    if rank != 0:
        return EvalResult(run, rundir.results_frame([]), computed, reused, time.perf_counter() - t0)
    rows, media = [], []
    for _, _, _, pred, _, _, digest in units:
        unit = json.loads((run / "units" / f"{digest}.json").read_text())
        seeds = config.seeds if pred.deterministic else [unit["seed"]]
        rows += [{**row, "seed": int(s), "suite": config.name} for s in seeds for row in unit["rows"]]
        media += unit["media"]
    df = rundir.results_frame(rows)
    rundir.write_results(run, df)
    rundir.atomic_write_json(run / "media.json", media)
    wall = time.perf_counter() - t0
    manifest = _manifest(config, env, predictors, probes, scorer, device, wall, extra_manifest)
    rundir.atomic_write_json(run / "manifest.json", manifest)
    if report:
        from evals.report import write_report

        write_report(run)
    if progress:
        print(summary_table(df))
        print(f"{computed} units computed, {reused} reused; wrote {run}")
    return EvalResult(run, df, computed, reused, wall)


def _join_group() -> bool:
    """Join the torchrun job's gloo group unless the caller already did; True when this call joined it."""
    import torch.distributed as dist

    if dist.is_initialized():
        return False
    dist.init_process_group(backend="gloo")
    return True


def _manifest(
    config: SuiteConfig,
    env: ProbeEnv,
    predictors: list[Predictor],
    probes: dict[str, Probe],
    scorer: FrameScorer,
    device: str,
    wall: float,
    extra: dict[str, Any] | None,
) -> dict[str, Any]:
    lpips: dict[str, Any]
    if scorer.lpips_available:
        sha, verified = scorer.lpips_weights
        lpips = {
            "label": scorer.lpips_label,
            "protocol": scorer.lpips_protocol,
            "trunk_sha256": sha,
            "verified": verified,
        }
    else:
        lpips = {"unavailable": scorer.lpips_unavailable}
    return {
        "format": rundir.FORMAT,
        "suite": config.name,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "wall_time_s": round(wall, 3),
        "git_revision": rundir.git_revision(),
        "packages": package_versions(),
        "hardware": hardware(device),
        "config": {"suite": dataclasses.asdict(config), **(extra or {})},
        "env": env.describe(),
        "checkpoints": [{"name": p.name, "kind": p.kind, "identity": p.identity()} for p in predictors],
        "metrics": {
            name: {m: dataclasses.asdict(spec) for m, spec in probe.metrics.items()}
            for name, probe in probes.items()
        },
        "weights": {"lpips": lpips},
    }


def summary_table(df: pd.DataFrame) -> str:
    """Mean of every summary metric (rows without a horizon) per probe and checkpoint, as text."""
    summ = df[df["horizon"].isna()]
    if summ.empty:
        return "(no summary rows)"
    pivot = summ.pivot_table(index=["probe", "metric"], columns="checkpoint", values="value", aggfunc="mean")
    with pd.option_context(
        "display.width",
        200,
        "display.max_columns",
        None,
        "display.max_rows",
        200,
        "display.float_format",
        "{:.3f}".format,
    ):
        return str(pivot)
