"""Voxel world throughput: env-steps/s for a single env and the native batched env.

Measures, in one run: a single env (through ``gymnasium.make``, wrappers included) at 64×64
with and without depth + segmentation, at 128×128 and 360×640; and ``gymnasium.make_vec``
with 16 envs (one process, one renderer call per step) at 64×64 with and without depth +
segmentation. Actions are a fixed, seeded walk-and-turn sequence (forward with a smooth
random yaw rate and occasional jumps) so that views sweep the terrain as a player's would.

Writes ``benchmarks/results/voxel_env.json`` and ``voxel_env.md`` and prints the table.
Usage: ``python benchmarks/voxel_env.py [--steps 3000] [--out benchmarks/results]``.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time
from pathlib import Path

import gymnasium as gym
import numba
import numpy as np
from bench_io import write_result

import envs  # noqa: F401  (registers the ids)
from simworld import actions as A

TARGETS = {"single_64_gt": 1000.0, "vector16_64": 4000.0}


def _actions(n: int, batch: int, seed: int = 0) -> list[dict]:
    """A seeded sequence of batched actions: walk forward, smooth yaw, small pitch, some jumps."""
    rng = np.random.default_rng(seed)
    yaw_rate = np.zeros(batch)
    out = []
    for _ in range(n):
        yaw_rate = 0.9 * yaw_rate + rng.normal(0, 1.5, batch)
        acts = []
        for i in range(batch):
            a = A.noop()
            a["forward"] = 1
            a["jump"] = int(rng.random() < 0.05)
            a["camera"] = np.array([rng.normal(0, 1.0), np.clip(yaw_rate[i], -15, 15)], np.float32)
            acts.append(a)
        out.append(A.stack(acts) if batch > 1 else acts[0])
    return out


def _rates(env, acts: list, envs_per_step: int, repeats: int) -> list[float]:
    """Env-steps/s of ``repeats`` consecutive equal chunks of ``acts`` (one env instance, warm)."""
    chunk = max(1, len(acts) // repeats)
    rates = []
    for r in range(repeats):
        t0 = time.perf_counter()
        for a in acts[r * chunk : (r + 1) * chunk]:
            env.step(a)
        rates.append(chunk * envs_per_step / (time.perf_counter() - t0))
    return rates


def bench_single(steps: int, ground_truth, width: int, height: int, repeats: int) -> list[float]:
    env = gym.make(
        "simworld/VoxelWorld-v0",
        width=width,
        height=height,
        ground_truth=ground_truth,
        max_episode_steps=10**9,
    )
    env.reset(seed=0)
    acts = _actions(steps, 1)
    for a in acts[:50]:  # warm-up (compiles on a cold numba cache)
        env.step(a)
    return _rates(env, acts, 1, repeats)


def bench_vector(steps: int, num_envs: int, ground_truth, repeats: int) -> list[float]:
    env = gym.make_vec(
        "simworld/VoxelWorld-v0", num_envs=num_envs, ground_truth=ground_truth, max_episode_steps=10**9
    )
    env.reset(seed=0)
    acts = _actions(steps, num_envs)
    for a in acts[:20]:
        env.step(a)
    return _rates(env, acts, num_envs, repeats)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=3000, help="steps per single-env case")
    parser.add_argument("--repeats", type=int, default=5, help="timed chunks per case (median and best)")
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results")
    args = parser.parse_args()
    gt = ("depth", "segmentation")
    s, R = args.steps, args.repeats
    rows = [
        ("single_64", "single env 64×64", bench_single(s, None, 64, 64, R)),
        ("single_64_gt", "single env 64×64 + depth + segmentation", bench_single(s, gt, 64, 64, R)),
        ("single_128", "single env 128×128", bench_single(s // 3, None, 128, 128, R)),
        ("single_360x640", "single env 360×640", bench_single(max(50, s // 30), None, 640, 360, R)),
        ("vector16_64", "make_vec 16 envs 64×64 (aggregate)", bench_vector(max(50, s // 10), 16, None, R)),
        (
            "vector16_64_gt",
            "make_vec 16 envs 64×64 + depth + seg (aggregate)",
            bench_vector(max(50, s // 10), 16, gt, R),
        ),
    ]
    median = {key: statistics.median(v) for key, _, v in rows}
    result = {
        "benchmark": "voxel_env",
        "unit": "env-steps/s",
        "machine": {
            "cpus": os.cpu_count(),
            "numba_threads": numba.get_num_threads(),
            "numba_threading_layer": numba.threading_layer(),
            "load_average_1min": round(os.getloadavg()[0], 2),
            "processor": platform.processor() or platform.machine(),
            "python": platform.python_version(),
        },
        "repeats": R,
        "results": {key: round(median[key], 1) for key in median},
        "best": {key: round(max(v), 1) for key, _, v in rows},
        "chunks": {key: [round(x, 1) for x in v] for key, _, v in rows},
        "targets": TARGETS,
        "ratio_to_target": {k: round(median[k] / t, 2) for k, t in TARGETS.items()},
    }
    lines = [
        "| case | env-steps/s (median) | best chunk | target | ratio (median) |",
        "|---|---:|---:|---:|---:|",
    ]
    for key, label, v in rows:
        t, m = TARGETS.get(key), median[key]
        ratio = f"{m / t:.2f}" if t else ""
        lines.append(f"| {label} | {m:,.0f} | {max(v):,.0f} | {f'{t:,.0f}' if t else ''} | {ratio} |")
    table = "\n".join(lines)
    machine = result["machine"]
    write_result(
        args.out,
        "voxel_env",
        result,
        f"# Voxel world throughput\n\n{machine['cpus']} CPUs, numba threads {machine['numba_threads']} "
        f"({machine['numba_threading_layer']}), load average {machine['load_average_1min']} at the end, "
        f"Python {machine['python']}; `python benchmarks/voxel_env.py --steps {s} --repeats {R}`; each case "
        f"is timed in {R} consecutive chunks of one warm env: the median chunk and the best (least "
        f"disturbed by other tenants of this shared VM)\n\n{table}\n",
    )
    print(table)


if __name__ == "__main__":
    main()
