"""Learned-env throughput and flatness: env-steps/s vs num_envs, step 10 vs step N, cache vs recompute.

Measures, in one run and one process, on random-weight checkpoints built on the fly
(``simworld.testing.build_tiny_checkpoint``: pixel space f=4, patch 2, so 64×64 frames are 8×8 = 64
tokens; window ``--window`` frames; ``--steps`` denoising steps) and on trained checkpoints given with
``--checkpoints`` (their own window and sampler):

- env-steps/s of ``WorldModelVectorEnv.step_torch`` for num_envs in ``--num-envs`` (per preset);
- one env stepped ``--long`` times (first, so that the process's memory is one env's): per-step
  latency (best of 10 steps) around step 10, step 40 (window full) and the last step, the ratios, the KV-cache
  bytes and the process's RSS and peak RSS (VmRSS, VmHWM) at both points;
- the same model stepped with ``use_kv_cache=False`` (the whole window recomputed every denoising
  step, as open-oasis does) with a full window, and its latency ratio to the cached step.

The machine may be shared: the 1-min load average before and after is recorded.
Writes ``<out>/<name>.json`` and ``<name>.md`` (name: ``learned_env`` unless ``--name``).
Usage: ``python benchmarks/learned_env.py [--presets tiny small] [--checkpoints checkpoints/reference]
[--long 2000] [--out benchmarks/results]`` (``--long 0``: throughput only).
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import tempfile
import time
from pathlib import Path

import torch
from bench_io import write_result

from envs.learned.vector import WorldModelVectorEnv
from simworld.actions import FLAT_DIM
from simworld.checkpoint import read_manifest
from simworld.testing import build_tiny_checkpoint


def never_done(frames: torch.Tensor):
    """Reward 0, never terminal: no resets inside a measurement."""
    return torch.zeros(len(frames)), torch.zeros(len(frames), dtype=torch.bool)


def make_env(checkpoint: str, num_envs: int, use_kv_cache: bool = True) -> WorldModelVectorEnv:
    env = WorldModelVectorEnv(num_envs, checkpoint, reward_fn=never_done, use_kv_cache=use_kv_cache)
    env.reset(seed=0)
    return env


def step_seconds(env: WorldModelVectorEnv, count: int) -> list[float]:
    """Wall seconds of ``count`` steps with random flat actions."""
    out = []
    for _ in range(count):
        actions = torch.rand(env.num_envs, FLAT_DIM)
        t0 = time.perf_counter()
        env.step_torch(actions)
        out.append(time.perf_counter() - t0)
    return out


def throughput(checkpoint: str, num_envs: list[int], repeats: int) -> list[dict]:
    rows = []
    for n in num_envs:
        env = make_env(checkpoint, n)
        step_seconds(env, 3)  # warm-up, fills part of the window
        times = step_seconds(env, repeats)
        median, best = statistics.median(times), min(times)
        rows.append(
            {"num_envs": n, "step_s": median, "best_step_s": best, "env_steps_per_s": n / median,
             "best_env_steps_per_s": n / best}
        )  # fmt: skip
        print(f"  num_envs={n:3d}: {median * 1e3:8.1f} ms/step (best {best * 1e3:.1f}), "
              f"{n / median:8.1f} env-steps/s (best {n / best:.1f})", flush=True)  # fmt: skip
    return rows


def memory_kib() -> tuple[int, int]:
    """(current RSS, peak RSS) of this process in KiB, from /proc/self/status (0, 0 elsewhere)."""
    try:
        fields = dict(line.split(":", 1) for line in Path("/proc/self/status").read_text().splitlines())
    except OSError:
        return 0, 0
    return int(fields["VmRSS"].split()[0]), int(fields["VmHWM"].split()[0])


def flatness(checkpoint: str, long: int) -> dict:
    env = make_env(checkpoint, 1)
    times = step_seconds(env, 45)
    early = min(times[5:15])  # steps 6..15, around step 10 (window not yet full)
    full = min(times[35:45])  # steps 36..45: the window is full from here on
    early_cache, (early_rss, early_peak) = env.world.ar.cache.nbytes(), memory_kib()
    step_seconds(env, long - 55)
    late = min(step_seconds(env, 10))
    late_cache, (late_rss, late_peak) = env.world.ar.cache.nbytes(), memory_kib()
    return {
        "steps": long,
        "latency_step10_s": early,
        "latency_step40_s": full,
        f"latency_step{long}_s": late,
        "latency_ratio": late / early,
        "latency_ratio_full_window": late / full,
        "kv_cache_bytes_step10": early_cache,
        f"kv_cache_bytes_step{long}": late_cache,
        "rss_kib_step10": early_rss,
        f"rss_kib_step{long}": late_rss,
        "peak_rss_kib_step10": early_peak,
        f"peak_rss_kib_step{long}": late_peak,
    }


def recompute_baseline(checkpoint: str, window: int, repeats: int) -> dict:
    """Cached vs whole-window-recompute step latency with a full window (one env)."""
    out = {}
    for name, cached in (("kv_cache", True), ("recompute_window", False)):
        env = make_env(checkpoint, 1, use_kv_cache=cached)
        step_seconds(env, window)  # fill the window
        out[f"{name}_step_s"] = statistics.median(step_seconds(env, repeats))
    out["speedup"] = out["recompute_window_step_s"] / out["kv_cache_step_s"]
    return out


def markdown(result: dict) -> str:
    cfg, m = result["config"], result["machine"]
    lines = [
        "# Learned env benchmark",
        "",
        f"{m['cpu_count']} CPUs, torch {m['torch']} ({m['threads']} threads), 1-min load average "
        f"before/after {m['load_average_1min'][0]:.1f}/{m['load_average_1min'][1]:.1f} (shared machine).",
        *(
            [
                f"Presets {', '.join(cfg['presets'])}: frames {cfg['frame']}×{cfg['frame']}, "
                "64 tokens/frame, "
                f"window {cfg['window']}, {cfg['num_inference_steps']} DDIM steps, context noise level 15, "
                "random weights, CPU fp32."
            ]
            if cfg.get("presets", True)
            else []
        ),
        *(
            f"Trained checkpoint `{c['path']}` ({name}): window {c['window']}, sampler "
            + ", ".join(f"{k} {v}" for k, v in c["sampler"].items())
            + ", CPU fp32."
            for name, c in result.get("checkpoints", {}).items()
        ),
        "",
        "Throughput: median and best of the repeats (other processes burst on this machine; the best",
        "is the least disturbed step).",
        "",
        "| preset | num_envs | ms/step median | ms/step best | env-steps/s median | env-steps/s best |",
        "|---|---|---|---|---|---|",
    ]
    for preset, rows in result["throughput"].items():
        lines += [
            f"| {preset} | {r['num_envs']} | {r['step_s'] * 1e3:.1f} | {r['best_step_s'] * 1e3:.1f} "
            f"| {r['env_steps_per_s']:.1f} | {r['best_env_steps_per_s']:.1f} |"
            for r in rows
        ]
    for preset, f in result["flatness"].items():
        n = f["steps"]
        lines += [
            "",
            f"Flatness ({preset}, one env, {n} steps in one run): latency at step 10 "
            f"{f['latency_step10_s'] * 1e3:.1f} ms, at step 40 (window full) "
            f"{f['latency_step40_s'] * 1e3:.1f} ms, at step {n} {f[f'latency_step{n}_s'] * 1e3:.1f} ms "
            f"(ratio to step 10 {f['latency_ratio']:.2f}, to step 40 {f['latency_ratio_full_window']:.2f}; "
            f"best of 10 steps each); KV cache {f['kv_cache_bytes_step10']} B vs "
            f"{f[f'kv_cache_bytes_step{n}']} B; RSS {f['rss_kib_step10'] / 1024:.1f} MiB vs "
            f"{f[f'rss_kib_step{n}'] / 1024:.1f} MiB, peak RSS {f['peak_rss_kib_step10'] / 1024:.1f} MiB vs "
            f"{f[f'peak_rss_kib_step{n}'] / 1024:.1f} MiB (measured first, before the batched runs).",
        ]
    for preset, b in result["baseline"].items():
        lines += [
            "",
            f"Recompute-the-window baseline ({preset}, one env, full {cfg['window']}-frame window): "
            f"{b['recompute_window_step_s'] * 1e3:.1f} ms vs {b['kv_cache_step_s'] * 1e3:.1f} ms with the "
            f"KV cache, speedup {b['speedup']:.1f}×.",
        ]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--presets", nargs="*", default=None, help="random-weight presets (default: tiny)")
    parser.add_argument("--checkpoints", nargs="*", default=[], help="trained checkpoint folders")
    parser.add_argument("--num-envs", nargs="+", type=int, default=[1, 8, 32, 64])
    parser.add_argument("--frame", type=int, default=64)
    parser.add_argument("--window", type=int, default=32)
    parser.add_argument("--steps", type=int, default=4, help="denoising steps per frame")
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--long", type=int, default=2000)
    parser.add_argument("--out", default="benchmarks/results")
    parser.add_argument("--name", default="learned_env", help="result file stem")
    args = parser.parse_args()
    load = [os.getloadavg()[0]]
    result: dict = {"throughput": {}, "flatness": {}, "baseline": {}}
    presets = args.presets if args.presets is not None else ([] if args.checkpoints else ["tiny"])
    result["checkpoints"] = {}
    for path in args.checkpoints:
        manifest = read_manifest(path)
        result["checkpoints"][Path(path).name] = {
            "path": path,
            "window": manifest.max_context_frames,
            "sampler": dict(manifest.sampler),
        }
    with tempfile.TemporaryDirectory() as tmp:
        models = []  # (name, checkpoint folder, window)
        for preset in presets:
            folder = build_tiny_checkpoint(
                Path(tmp) / preset,
                (args.frame, args.frame),
                preset=preset,
                max_context_frames=args.window,
                num_inference_steps=args.steps,
                context_length=8,
            )
            models.append((preset, str(folder), args.window))
        models += [(name, c["path"], c["window"]) for name, c in result["checkpoints"].items()]
        for name, ckpt, window in models:
            if args.long > 0:
                print(f"{name}: flatness over {args.long} steps", flush=True)
                result["flatness"][name] = flatness(ckpt, args.long)  # first: peak RSS of one env
                print(f"  {result['flatness'][name]}", flush=True)
                result["baseline"][name] = recompute_baseline(ckpt, window, args.repeats)
                print(f"  {result['baseline'][name]}", flush=True)
            print(f"{name}: throughput", flush=True)
            result["throughput"][name] = throughput(ckpt, args.num_envs, args.repeats)
    load.append(os.getloadavg()[0])
    result["config"] = {
        "presets": presets,
        "frame": args.frame,
        "window": args.window,
        "num_inference_steps": args.steps,
    }
    result["machine"] = {
        "platform": platform.platform(),
        "cpu_count": os.cpu_count(),
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "load_average_1min": load,
    }
    out = Path(args.out)
    write_result(out, args.name, result, markdown(result))
    print(markdown(result))


if __name__ == "__main__":
    main()
