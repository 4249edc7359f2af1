"""DDP scaling of ``simworld train``: 1 process vs N processes (torchrun, gloo on CPU / nccl on GPU).

Runs the real training command on a small collected voxel dataset, once as one process and once
under ``torchrun --standalone --nproc_per_node=N``, each process with ``--threads`` torch threads
and the same per-process batch (so N processes train N× the samples per step: weak scaling, the
way DDP is used). Throughput is clips/s between the first and the last logged step (start-up,
compilation and the first step excluded), read from each run's ``metrics.csv``. Scaling
efficiency = (clips/s with N) / (N × clips/s with 1). On a machine with C cores, N × threads
should not exceed C, or the runs measure oversubscription.

Writes ``<out>/ddp_scaling.json`` and ``.md``.
Usage: ``python benchmarks/ddp_scaling.py [--nproc 2] [--steps 30] [--model mini] [--batch 4]``.
"""

from __future__ import annotations

import argparse
import csv
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench_io import write_result

from envs.voxel.config import VoxelWorldConfig
from simworld.data.collect import CollectConfig, CollectEnvConfig, collect


def clips_per_second(run_dir: Path, batch: int, world_size: int) -> tuple[float, int]:
    """(clips/s over all ranks between the first and last logged steps, steps measured)."""
    with open(run_dir / "metrics.csv") as fh:
        rows = [(int(r["step"]), float(r["seconds"])) for r in csv.DictReader(fh)]
    (s0, t0), (s1, t1) = rows[0], rows[-1]
    return (s1 - s0) * batch * world_size / (t1 - t0), s1 - s0


def train(data: Path, out: Path, nproc: int, args: argparse.Namespace) -> float:
    """Run ``simworld train`` with ``nproc`` processes; return its wall time in seconds."""
    overrides = [
        f"data.path={data}",
        f"trainer.out={out}",
        "trainer=debug",
        "vae=pixel",
        f"model={args.model}",
        f"data.window={args.window}",
        f"data.batch_size={args.batch}",
        f"trainer.max_steps={args.steps}",
        f"trainer.save_every={args.steps}",
        "trainer.log_every=1",
        "trainer.progress=false",
        f"trainer.device={args.device}",
    ]
    if nproc == 1:
        cmd = [sys.executable, "-m", "simworld.cli", "train", *overrides]
    else:
        torchrun = Path(sys.executable).with_name("torchrun")
        cmd = [str(torchrun), "--standalone", f"--nproc_per_node={nproc}", "-m", "simworld.cli", "train"]
        cmd += overrides
    env = {**os.environ, "OMP_NUM_THREADS": str(args.threads)}
    start = time.perf_counter()
    result = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed:\n{result.stdout[-2000:]}\n{result.stderr[-3000:]}")
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--nproc", type=int, default=2)
    parser.add_argument("--threads", type=int, default=1, help="torch threads per process")
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--model", default="mini")
    parser.add_argument("--batch", type=int, default=4, help="clips per process per step")
    parser.add_argument("--window", type=int, default=8)
    parser.add_argument("--frame", type=int, default=64)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results")
    args = parser.parse_args()

    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "data"
        world = VoxelWorldConfig(width=args.frame, height=args.frame)
        collect(
            CollectConfig(
                env=CollectEnvConfig(world=world), out=str(data), episodes=8, steps=40, progress=False
            )
        )
        runs = {}
        for n in (1, args.nproc):
            wall = train(data, Path(tmp) / f"np{n}", n, args)
            rate, steps = clips_per_second(Path(tmp) / f"np{n}", args.batch, n)
            runs[n] = {"clips_per_s": rate, "steps_measured": steps, "wall_s": wall}
            print(f"{n} process(es): {rate:.2f} clips/s over {steps} steps (wall {wall:.1f} s)")
    one, many = runs[1]["clips_per_s"], runs[args.nproc]["clips_per_s"]
    efficiency = many / (args.nproc * one)
    result = {
        "machine": {
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
            "python": sys.version.split()[0],
        },
        "settings": vars(args),
        "load_average_before_after": [load_before, os.getloadavg()[0]],
        "runs": {str(k): v for k, v in runs.items()},
        "speedup": many / one,
        "scaling_efficiency": efficiency,
    }
    md = [
        "# DDP scaling of `simworld train`",
        "",
        f"{os.cpu_count()} CPUs, device {args.device}, {args.threads} torch thread(s) per process, "
        f"model `{args.model}` in pixel space, {args.frame}×{args.frame} frames, window {args.window}, "
        f"{args.batch} clips per process per step, {args.steps} steps; 1-min load average before/after "
        f"{load_before:.1f}/{os.getloadavg()[0]:.1f}; "
        f"`python benchmarks/ddp_scaling.py --nproc {args.nproc}`. "
        "Clips/s over all ranks between the first and the last logged step.",
        "",
        "| processes | clips/s | steps measured | wall (s) |",
        "|---:|---:|---:|---:|",
        *(
            f"| {n} | {r['clips_per_s']:.2f} | {r['steps_measured']} | {r['wall_s']:.1f} |"
            for n, r in runs.items()
        ),
        "",
        f"Speedup {many / one:.2f}× with {args.nproc} processes; scaling efficiency {efficiency:.0%} "
        f"(clips/s with {args.nproc} ÷ ({args.nproc} × clips/s with 1)).",
    ]
    write_result(args.out, "ddp_scaling", result, "\n".join(md) + "\n")


if __name__ == "__main__":
    main()
