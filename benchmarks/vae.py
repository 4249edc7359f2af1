"""Video VAE throughput: encode + decode frames/s at 64×64 for the size presets, fp32 and bf16 autocast.

For every preset (``tiny``, ``small``, ``base``) and every (spatial, temporal) factor pair asked for
(default ×4 and ×8 per frame, and ×4 space / ×4 time), it times ``decode(encode(frames))`` on
uint8 frames under ``torch.inference_mode`` (the latent-caching and sampling path): one warm-up
call, then ``--repeats`` timed calls, the median kept. Clips are 16 single frames for
``temporal_factor == 1`` and two clips of 9 frames (``1 + 2·4``) for ``temporal_factor == 4``.
Also reported: parameters, forward GFLOP per frame (torch's FlopCounterMode, encode + decode) and
the achieved GFLOP/s.

The machine is shared: the load average before and after is recorded, and numbers move by 2× or
more from run to run when other jobs run. Writes ``benchmarks/results/vae.json`` and ``vae.md``.
Usage: ``python benchmarks/vae.py [--presets tiny small base] [--threads 2] [--repeats 3]``.

``python benchmarks/vae.py --recon tiny --steps 1000`` instead trains one preset on real voxel
frames (scripted policies in freshly generated 64×64 worlds) and reports PSNR/LPIPS on held-out
frames from other worlds: ``benchmarks/results/vae_recon_<preset>_<sf>x<tf>.json`` (the numbers
of docs/vae.md).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time
from pathlib import Path

import numpy as np
import torch
from bench_io import write_result
from torch.utils.flop_counter import FlopCounterMode

import simworld  # noqa: F401  (torchvision fix before anything imports it)
from simworld.models.vae import VideoVAE

SIZE = 64
POLICIES = ["explore", "loop", "circle", "build_break", "random"]


def clip_shape(temporal_factor: int) -> tuple[int, int]:
    """(clips, frames per clip) of one timed call."""
    return (16, 1) if temporal_factor == 1 else (2, 1 + 2 * temporal_factor)


def bench(model: VideoVAE, temporal_factor: int, bf16: bool, repeats: int) -> float:
    """Median frames/s of ``decode(encode(frames))``."""
    B, T = clip_shape(temporal_factor)
    frames = torch.randint(
        0, 256, (B, T, SIZE, SIZE, 3), dtype=torch.uint8, generator=torch.Generator().manual_seed(0)
    )
    times = []
    with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
        for i in range(repeats + 1):
            t0 = time.perf_counter()
            model.decode(model.encode(frames))
            if i > 0:  # the first call warms up allocators and oneDNN kernels
                times.append(time.perf_counter() - t0)
    return B * T / statistics.median(times)


def gflop_per_frame(model: VideoVAE, temporal_factor: int) -> float:
    """Forward GFLOP per frame of encode + decode (counted on a short clip)."""
    T = 1 if temporal_factor == 1 else 1 + temporal_factor
    x = torch.zeros(1, T, 3, SIZE, SIZE)
    with FlopCounterMode(display=False) as counter, torch.inference_mode():
        model.decode_float(model.encode_float(x))
    return counter.get_total_flops() / T / 1e9


def record_frames(seeds: list[int], steps: int) -> list[np.ndarray]:
    """uint8 (steps + 1, 64, 64, 3) per seed: a scripted policy (cycling the mix) in world ``seed``."""
    import gymnasium as gym

    import envs  # noqa: F401  (registers the env ids)
    from envs.voxel.policies import make_policy
    from simworld.rollout import record_scripted

    threads = torch.get_num_threads()
    env = gym.make("simworld/VoxelWorld-v0", width=SIZE, height=SIZE, max_episode_steps=10**6)
    episodes = [
        record_scripted(env, make_policy(POLICIES[s % len(POLICIES)]), steps, s).frames for s in seeds
    ]
    env.close()
    torch.set_num_threads(threads)  # numba's OpenMP layer shares libgomp with torch and resets it
    return episodes


def sample_clips(
    episodes: list[np.ndarray], clip_len: int, clips: int, rng: np.random.Generator
) -> torch.Tensor:
    """uint8 (clips, clip_len, 64, 64, 3): random contiguous clips of random episodes."""
    out = []
    for _ in range(clips):
        episode = episodes[rng.integers(len(episodes))]
        start = rng.integers(len(episode) - clip_len + 1)
        out.append(episode[start : start + clip_len])
    return torch.from_numpy(np.stack(out))


def reconstruction_run(args: argparse.Namespace) -> None:
    """Train ``args.recon`` on voxel frames, then measure held-out PSNR/LPIPS (see the module docstring)."""
    from simworld.models.vae_loss import VAELossConfig
    from simworld.train.vae import evaluate_reconstruction, train_vae

    sf, tf = (int(v) for v in args.factors[0].split("x"))
    t0 = time.perf_counter()
    train_episodes = record_frames(list(range(args.train_episodes)), args.episode_steps)
    heldout_episodes = record_frames([1000 + i for i in range(4)], 64)
    record_seconds = time.perf_counter() - t0
    clip_len = 1 if tf == 1 else 1 + 2 * tf
    # At least 2 clips for the 3D VAE: for a batch of one small clip PyTorch's CPU conv3d takes its
    # slow im2col path instead of oneDNN (about 10× slower per clip in training).
    clips_per_batch = max(1 if tf == 1 else 2, args.batch_frames // clip_len)
    # Held-out clips from other worlds: every 4th frame (tf 1), or clips sharing their end frames.
    stride = max(4, clip_len - 1)
    heldout = torch.from_numpy(
        np.stack([e[i : i + clip_len] for e in heldout_episodes for i in range(0, len(e) - clip_len, stride)])
    )
    rng = np.random.default_rng(0)
    batches = (sample_clips(train_episodes, clip_len, clips_per_batch, rng) for _ in range(args.steps))
    torch.manual_seed(0)
    model = VideoVAE.from_preset(args.recon, sf, tf)
    load_before = os.getloadavg()
    history = train_vae(model, batches, args.steps, lr=args.lr, loss=VAELossConfig(), progress=True)
    train_seconds = history[-1]["seconds"]
    stats_batches = [sample_clips(train_episodes, clip_len, clips_per_batch, rng) for _ in range(16)]
    shift, scale = model.compute_latent_stats(stats_batches)
    with torch.no_grad():  # posterior spread vs spread of the latents: why encode() defaults to the mean
        posterior = model.posterior(model_input(stats_batches[0]))
        spread = float((posterior.std / model.latent_scale.view(-1, 1, 1)).mean())
    model.save_pretrained(Path("runs") / f"vae_recon_{args.recon}_{sf}x{tf}")
    metrics = evaluate_reconstruction(model, heldout)
    every = max(1, args.steps // 10)
    result = {
        "preset": args.recon,
        "spatial_factor": sf,
        "temporal_factor": tf,
        "params": model.num_parameters(),
        "steps": args.steps,
        "lr": args.lr,
        "batch": [clips_per_batch, clip_len, SIZE, SIZE, 3],
        "loss": "L1 + 1.0·LPIPS(v0.1 alex) + 1e-6·KL, AdamW, grad clip 1.0, fp32",
        "torch_threads": torch.get_num_threads(),
        "train_data": f"{args.train_episodes} episodes × {args.episode_steps + 1} frames, worlds/seeds "
        f"0..{args.train_episodes - 1}, policies cycling {POLICIES}",
        "heldout_data": f"{len(heldout)} clips of {clip_len} frame(s) from 4 episodes of 65 frames, "
        f"seeds 1000..1003",
        "record_seconds": round(record_seconds, 1),
        "train_seconds": round(train_seconds, 1),
        "load_average_during_training": [round(v, 2) for v in load_before],
        "history": [
            {k: (round(v, 5) if isinstance(v, float) else v) for k, v in h.items()} for h in history[::every]
        ]
        + [{k: (round(v, 5) if isinstance(v, float) else v) for k, v in history[-1].items()}],
        "latent_shift": [round(v, 4) for v in shift.tolist()],
        "latent_scale": [round(v, 4) for v in scale.tolist()],
        "posterior_std_over_latent_scale": round(spread, 5),
        "heldout": metrics,
    }
    write_result(args.out, f"vae_recon_{args.recon}_{sf}x{tf}", result)
    print(json.dumps({k: v for k, v in result.items() if k != "history"}, indent=2))


def model_input(clips: torch.Tensor) -> torch.Tensor:
    """uint8 (B, T, H, W, 3) -> float (B, T, 3, H, W) in [-1, 1]."""
    return clips.permute(0, 1, 4, 2, 3).float() / 127.5 - 1.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--presets", nargs="+", default=["tiny", "small", "base"])
    parser.add_argument("--factors", nargs="+", default=["4x1", "8x1", "4x4"], help="spatial x temporal")
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results")
    parser.add_argument("--name", default="vae", help="output file stem")
    parser.add_argument(
        "--recon", metavar="PRESET", help="train PRESET and report held-out PSNR/LPIPS instead"
    )
    parser.add_argument("--steps", type=int, default=1000, help="--recon: training steps")
    parser.add_argument("--lr", type=float, default=5e-4, help="--recon: AdamW learning rate")
    parser.add_argument("--batch-frames", type=int, default=8, help="--recon: frames per batch (about)")
    parser.add_argument("--train-episodes", type=int, default=8, help="--recon: training episodes")
    parser.add_argument("--episode-steps", type=int, default=150, help="--recon: steps per training episode")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    if args.recon:
        reconstruction_run(args)
        return
    load_before = os.getloadavg()
    rows = []
    for preset in args.presets:
        for factors in args.factors:
            sf, tf = (int(v) for v in factors.split("x"))
            torch.manual_seed(0)
            model = VideoVAE.from_preset(preset, sf, tf).eval()
            flops = gflop_per_frame(model, tf)
            fp32, bf16 = bench(model, tf, False, args.repeats), bench(model, tf, True, args.repeats)
            rows.append(
                {
                    "preset": preset,
                    "spatial_factor": sf,
                    "temporal_factor": tf,
                    "latent": list(model.latent_shape(clip_shape(tf)[1], SIZE, SIZE)),
                    "params": model.num_parameters(),
                    "gflop_per_frame": round(flops, 3),
                    "fps_fp32": round(fp32, 2),
                    "fps_bf16": round(bf16, 2),
                    "gflops_fp32": round(fp32 * flops, 1),
                    "gflops_bf16": round(bf16 * flops, 1),
                }
            )
            print(json.dumps(rows[-1]), flush=True)
    result = {
        "benchmark": "vae",
        "unit": "frames/s (encode + decode, 64×64, inference_mode)",
        "machine": {
            "cpus": os.cpu_count(),
            "torch_threads": args.threads,
            "processor": platform.processor() or platform.machine(),
            "python": platform.python_version(),
            "torch": torch.__version__,
            "load_average_before": [round(v, 2) for v in load_before],
            "load_average_after": [round(v, 2) for v in os.getloadavg()],
        },
        "results": rows,
    }
    lines = [
        "| preset | ×space, ×time | latent (T', C, h, w) | params | GFLOP/frame | frames/s fp32 "
        "| frames/s bf16 | GFLOP/s fp32 | GFLOP/s bf16 |",
        "|---|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        lines.append(
            f"| {r['preset']} | ×{r['spatial_factor']}, ×{r['temporal_factor']} | {tuple(r['latent'])} "
            f"| {r['params'] / 1e6:.2f} M | {r['gflop_per_frame']:.2f} | {r['fps_fp32']:,.1f} "
            f"| {r['fps_bf16']:,.1f} "
            f"| {r['gflops_fp32']:.1f} | {r['gflops_bf16']:.1f} |"
        )
    table = "\n".join(lines)
    machine = result["machine"]
    write_result(
        args.out,
        args.name,
        result,
        f"# Video VAE throughput\n\n{machine['cpus']} CPUs, torch {machine['torch']} on "
        f"{machine['torch_threads']} thread(s), Python {machine['python']}; "
        f"load average {machine['load_average_before'][0]} before, "
        f"{machine['load_average_after'][0]} after (a shared machine: expect 2× swings between runs). "
        f"Untrained weights (speed does not depend on them). "
        f"`python benchmarks/vae.py --threads {args.threads} --repeats {args.repeats}`\n\n{table}\n",
    )
    print(table)


if __name__ == "__main__":
    main()
