"""DiT throughput: KV-cached vs recomputed next-frame latency, train-step tokens/s and FLOP/s vs peak.

Measures, in one run and one process:

- the machine's matmul peak (best of a few 2048² matmuls, fp32 and bf16, measured at the start
  and again just before and after each train-step measurement; the best is kept, since other
  processes may share the machine);
- per-frame generation latency of the causal DiT with and without the KV cache, at context
  lengths 8, 32 and 128 frames (window = context length; DDIM, no guidance), and their ratio;
- train-step (forward + backward + AdamW) tokens/s and achieved FLOP/s (analytic count,
  ``simworld.models.flops``; backward = 2 × forward) against the measured peak, fp32 and bf16
  autocast.

Writes ``benchmarks/results/dit.json`` and ``dit.md`` and prints the tables.
Usage: ``python benchmarks/dit.py [--preset small] [--latent 8] [--channels 8] [--out benchmarks/results]``.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import platform
import statistics
import time
from pathlib import Path

import torch
from bench_io import write_result

from simworld.actions import FLAT_DIM
from simworld.diffusion.generate import AutoregressiveSampler
from simworld.diffusion.samplers import SamplerConfig
from simworld.diffusion.schedule import NoiseSchedule
from simworld.diffusion.training import DiffusionForcingConfig, diffusion_forcing_loss
from simworld.models.dit import DiT, DiTConfig
from simworld.models.flops import dit_forward_flops, flops_per_generated_frame

DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16}


def matmul_peak(dtype: torch.dtype, n: int = 2048, repeats: int = 5) -> float:
    """Best FLOP/s of an n×n×n matmul in ``dtype``."""
    a, b = torch.randn(n, n, dtype=dtype), torch.randn(n, n, dtype=dtype)
    a @ b  # warm-up
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        a @ b
        best = min(best, time.perf_counter() - t0)
    return 2 * n**3 / best


def generation_latency(
    model: DiT, context: int, use_kv_cache: bool, frames: int, latent: int, steps: int
) -> list[float]:
    """Seconds per generated frame after a reset on ``context`` frames (window = context)."""
    C = model.config.in_channels
    sampler = AutoregressiveSampler(
        model, NoiseSchedule(), SamplerConfig(num_inference_steps=steps), context, use_kv_cache
    )
    g = torch.Generator().manual_seed(0)
    latents = torch.randn(1, context, C, latent, latent, generator=g)
    sampler.reset(latents, torch.zeros(1, context, FLAT_DIM), torch.ones(1, context, dtype=torch.bool), [g])
    times = []
    for _ in range(frames):
        t0 = time.perf_counter()
        sampler.next_frame(torch.zeros(1, FLAT_DIM), [g])
        times.append(time.perf_counter() - t0)
    return times


def train_step_seconds(
    model: DiT, dtype: torch.dtype, batch: int, frames: int, latent: int, repeats: int
) -> float:
    """Median seconds of a forward + backward + AdamW step under ``dtype`` autocast."""
    C = model.config.in_channels
    optim = torch.optim.AdamW(model.parameters(), lr=1e-4)
    latents, actions = torch.randn(batch, frames, C, latent, latent), torch.randn(batch, frames - 1, FLAT_DIM)
    schedule, config = NoiseSchedule(), DiffusionForcingConfig()
    autocast = (
        torch.autocast("cpu", dtype=torch.bfloat16) if dtype == torch.bfloat16 else contextlib.nullcontext()
    )
    times = []
    for i in range(repeats + 1):
        t0 = time.perf_counter()
        with autocast:
            loss = diffusion_forcing_loss(model, schedule, config, latents, actions).loss
        optim.zero_grad(set_to_none=True)
        loss.backward()
        optim.step()
        if i:  # the first step warms up
            times.append(time.perf_counter() - t0)
    return statistics.median(times)


def bench_generation(config: DiTConfig, args: argparse.Namespace) -> list[dict]:
    model = DiT(config).eval()
    N = (args.latent // config.patch_size) ** 2
    rows = []
    for context in (8, 32, 128):
        cached = statistics.median(generation_latency(model, context, True, 3, args.latent, args.steps))
        frames = 2 if context < 128 else 1
        uncached = generation_latency(model, context, False, frames, args.latent, args.steps)
        uncached = statistics.median(uncached)
        rows.append(
            {
                "context_frames": context,
                "cached_s": cached,
                "uncached_s": uncached,
                "speedup": uncached / cached,
                "cached_GFLOP": flops_per_generated_frame(config, N, context, args.steps) / 1e9,
            }
        )
        print(f"context {context}: cached {cached:.3f}s uncached {uncached:.3f}s", flush=True)
    return rows


def bench_training(config: DiTConfig, args: argparse.Namespace, peaks: dict[str, float]) -> list[dict]:
    N = (args.latent // config.patch_size) ** 2
    tokens = args.batch * args.frames * N
    flops = 3 * dit_forward_flops(config, N, args.frames, 0, batch=args.batch).total
    rows = []
    for name, dtype in DTYPES.items():
        torch.manual_seed(0)
        # Other processes share this machine: re-measure the peak next to the step and keep the best.
        peaks[name] = max(peaks[name], matmul_peak(dtype))
        seconds = train_step_seconds(DiT(config), dtype, args.batch, args.frames, args.latent, args.repeats)
        peaks[name] = max(peaks[name], matmul_peak(dtype))
        rows.append(
            {
                "dtype": name,
                "step_s": seconds,
                "tokens_per_s": tokens / seconds,
                "TFLOP_per_step": flops / 1e12,
                "achieved_GFLOPs": flops / seconds / 1e9,
                "peak_GFLOPs": peaks[name] / 1e9,
                "fraction_of_peak": flops / seconds / peaks[name],
            }
        )
        print(f"train {name}: {seconds:.2f}s/step, {flops / seconds / 1e9:.1f} GFLOP/s", flush=True)
    return rows


def markdown(result: dict) -> str:
    a = result["settings"]
    lines = [
        "# DiT throughput",
        "",
        f"{result['machine']['cpus']} CPUs, torch threads {result['machine']['torch_threads']}, "
        f"torch {result['machine']['torch']}, 1-min load average before/after "
        f"{result['machine']['load_average_1min'][0]:.1f}/{result['machine']['load_average_1min'][1]:.1f}; "
        f"`python benchmarks/dit.py --preset {a['preset']} --latent {a['latent']} --channels {a['channels']} "
        f"--threads {a['threads']}`. DiT `{a['preset']}` ({a['params_M']:.1f} M "
        f"params, {a['attention']}, patch {a['patch_size']}), {a['tokens_per_frame']} tokens per frame.",
        "",
        f"Matmul peak: {result['peak_GFLOPs']['fp32']:.0f} GFLOP/s fp32, "
        f"{result['peak_GFLOPs']['bf16']:.0f} GFLOP/s bf16.",
        "",
        f"## Next-frame latency (fp32, DDIM {a['steps']} steps, no guidance, batch 1)",
        "",
        "| context frames | KV cache (s/frame) | recomputed (s/frame) | ratio | GFLOP/frame (cached) |",
        "|---:|---:|---:|---:|---:|",
    ]
    for r in result["generation"]:
        lines.append(
            f"| {r['context_frames']} | {r['cached_s']:.3f} | {r['uncached_s']:.3f} | {r['speedup']:.1f}× "
            f"| {r['cached_GFLOP']:.1f} |"
        )
    lines += [
        "",
        f"## Train step (batch {a['batch']} × {a['frames']} frames, forward + backward + AdamW)",
        "",
        "| dtype | s/step | tokens/s | achieved GFLOP/s | peak GFLOP/s | fraction of peak |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for r in result["training"]:
        lines.append(
            f"| {r['dtype']} | {r['step_s']:.2f} | {r['tokens_per_s']:,.0f} | {r['achieved_GFLOPs']:.1f} "
            f"| {r['peak_GFLOPs']:.0f} | {r['fraction_of_peak']:.0%} |"
        )
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="small")
    parser.add_argument("--attention", default="factorized")
    parser.add_argument("--latent", type=int, default=8, help="latent side (64×64 frames, VAE ×8)")
    parser.add_argument("--channels", type=int, default=8)
    parser.add_argument("--patch-size", type=int, default=1)
    parser.add_argument("--steps", type=int, default=4, help="denoising steps per generated frame")
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--frames", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    load_before = os.getloadavg()[0]
    torch.manual_seed(0)
    config = DiTConfig.preset(
        args.preset, in_channels=args.channels, patch_size=args.patch_size, attention=args.attention
    )
    peaks = {name: matmul_peak(dtype) for name, dtype in DTYPES.items()}
    print({k: f"{v / 1e9:.0f} GFLOP/s" for k, v in peaks.items()}, flush=True)
    with torch.no_grad():
        generation = bench_generation(config, args)
    training = bench_training(config, args, peaks)
    result = {
        "benchmark": "dit",
        "machine": {
            "cpus": os.cpu_count(),
            "torch_threads": torch.get_num_threads(),
            "torch": torch.__version__,
            "processor": platform.processor() or platform.machine(),
            "load_average_1min": [load_before, os.getloadavg()[0]],
        },
        "settings": {
            **{k: v for k, v in vars(args).items() if k != "out"},
            "params_M": DiT(config).num_parameters() / 1e6,
            "tokens_per_frame": (args.latent // args.patch_size) ** 2,
        },
        "peak_GFLOPs": {k: v / 1e9 for k, v in peaks.items()},
        "generation": generation,
        "training": training,
    }
    table = markdown(result)
    write_result(args.out, "dit", result, table)
    print(table)


if __name__ == "__main__":
    main()
