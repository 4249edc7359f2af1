"""Wall time of ``simworld eval`` suites on CPU: per probe and in total, references alone and with a
random-weight checkpoint beside them.

Runs ``evals.suite.run_eval`` (no report) into fresh temporary run directories, so nothing is
reused; times every (predictor, probe, seed) unit through the runner's own progress hook.
Writes ``<out>/eval_suite.json`` and ``eval_suite.md``.
Usage: ``python benchmarks/eval_suite.py [--suite default|quick] [--frame 64] [--out benchmarks/results]``.
"""

from __future__ import annotations

import argparse
import os
import platform
import tempfile
import time
from pathlib import Path

import torch
from bench_io import write_result

from evals import suite as suite_module
from evals.config import SuiteConfig
from simworld.config import load_config, to_dataclass
from simworld.testing import build_tiny_checkpoint


def timed_run(checkpoints: list[str], config: SuiteConfig, out: Path) -> dict[str, float]:
    """Seconds per probe (summed over its units) and in total, for one fresh run."""
    per_probe: dict[str, float] = {}
    real = suite_module._run_unit

    def timed(run, suite, pred, probe, *args, **kwargs):
        t = time.perf_counter()
        try:
            return real(run, suite, pred, probe, *args, **kwargs)
        finally:
            per_probe[probe.name] = per_probe.get(probe.name, 0.0) + time.perf_counter() - t

    suite_module._run_unit = timed
    try:
        t0 = time.perf_counter()
        suite_module.run_eval(checkpoints, config, out, report=False, progress=False)
        total = time.perf_counter() - t0
    finally:
        suite_module._run_unit = real
    return {**{k: round(v, 1) for k, v in per_probe.items()}, "total": round(total, 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--suite", default="default", choices=["default", "quick"])
    parser.add_argument("--frame", type=int, default=64, help="frame side of the random checkpoint")
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results")
    args = parser.parse_args()
    config = to_dataclass(load_config("eval", [f"suite={args.suite}"]).suite, SuiteConfig)
    load = os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as tmp:
        ckpt = build_tiny_checkpoint(Path(tmp) / "tiny", frame_size=(args.frame, args.frame), num_contexts=0)
        refs = timed_run([], config, Path(tmp) / "refs")
        model = timed_run([str(ckpt)], config, Path(tmp) / "model")
    result = {
        "benchmark": "eval_suite",
        "unit": "seconds",
        "suite": args.suite,
        "command": f"python benchmarks/eval_suite.py --suite {args.suite} --frame {args.frame}",
        "machine": {
            "cpus": os.cpu_count(),
            "torch_threads": torch.get_num_threads(),
            "python": platform.python_version(),
            "load_average_1min_before": round(load, 2),
            "load_average_1min_after": round(os.getloadavg()[0], 2),
        },
        "references_only": refs,
        "with_tiny_checkpoint": model,
    }
    probes = [k for k in model if k != "total"]
    lines = ["| probe | references (s) | + tiny checkpoint (s) |", "|---|---:|---:|"]
    lines += [f"| {p} | {refs.get(p, 0):.1f} | {model[p]:.1f} |" for p in probes]
    lines.append(f"| **total wall** | **{refs['total']:.1f}** | **{model['total']:.1f}** |")
    m = result["machine"]
    text = (
        f"# Eval suite wall time (CPU)\n\n`{result['command']}`: suite `{args.suite}`, "
        "references = simulator, copy-last-frame, noise; the checkpoint is a random-weight "
        f"{args.frame}×{args.frame} tiny model. "
        f"{m['cpus']} CPUs, torch {m['torch_threads']} threads, load average {m['load_average_1min_before']} "
        f"before / {m['load_average_1min_after']} after (shared machine). Per-probe times sum the probe's "
        "units; the total includes loading, case building and truth runs.\n\n" + "\n".join(lines) + "\n"
    )
    write_result(args.out, "eval_suite", result, text)
    print(text)


if __name__ == "__main__":
    main()
