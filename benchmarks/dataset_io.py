"""Dataset IO: frame encodings, collection throughput, loader throughput vs a training step.

Measures, in one run (``python benchmarks/dataset_io.py``):

1. Frame encodings on real voxel frames (64×64, the default world, five scripted policies, in
   episodes of 201 frames as shards hold them): bytes per frame, encode and decode frames/s
   (decode = shard bytes to uint8 RGB arrays), and fidelity (PSNR, max abs error), for the npz
   (DEFLATE) shards, H.264 mp4 at CRF 18 (``frames_encoding=mp4``) and 23, lossless H.264, and
   raw uint8 for reference.
2. Collection: ``simworld.data.collect.collect`` of the default voxel world at 64×64 (mixture
   policy) with 2 worker processes, and in this process (one renderer thread) for comparison;
   frames/s written (whole call, and after worker start-up) and bytes per frame on disk, with and
   without pose + depth ground truth, npz and mp4.
3. Loader: ``WindowDataset`` windows/s for 16-frame windows at 64×64 through a DataLoader
   (batch 32, best of 5), with 0 and 2 workers, with and without the sha256 check, npz and mp4,
   and the per-shard cost of the sha256 check next to decoding (best of 20).
4. A training step of the size the loader feeds (a 14 M-parameter transformer, 8 blocks × 384,
   batch 8 × 1024 tokens = 16 frames × 8×8 latents): windows/s it consumes on this machine.

Writes ``benchmarks/results/dataset_io.json`` and ``dataset_io.md`` and prints the tables.
"""

from __future__ import annotations

import argparse
import io
import os
import platform
import tempfile
import time
from fractions import Fraction
from pathlib import Path

import numpy as np
from bench_io import write_result

import envs  # noqa: F401  (registers the ids)


def voxel_frames(per_policy: int, seed: int = 0) -> list[np.ndarray]:
    """Episodes of real 64×64 voxel frames, one per scripted policy, ``per_policy`` steps each."""
    import gymnasium as gym

    from envs.voxel.policies import make_policy

    env = gym.make("simworld/VoxelWorld-v0", width=64, height=64, max_episode_steps=10**9)
    episodes = []
    for k, name in enumerate(["explore", "circle", "build_break", "loop", "random"]):
        obs, _ = env.reset(seed=seed + k)
        policy = make_policy(name)
        policy.reset(env.unwrapped.world, np.random.default_rng(k))
        frames = [obs]
        for _ in range(per_policy):
            frames.append(env.step(policy.act(env.unwrapped.world))[0])
        episodes.append(np.stack(frames))
    env.close()
    return episodes


def _lossless_h264(frames: np.ndarray) -> bytes:
    import av

    buf = io.BytesIO()
    with av.open(buf, "w", format="mp4") as container:
        stream = container.add_stream("libx264rgb", rate=20)
        stream.width, stream.height, stream.pix_fmt = frames.shape[2], frames.shape[1], "rgb24"
        stream.time_base, stream.options = Fraction(1, 20), {"crf": "0", "preset": "veryfast"}
        for t, frame in enumerate(frames):
            video_frame = av.VideoFrame.from_ndarray(frame, format="rgb24")
            video_frame.pts, video_frame.time_base = t, Fraction(1, 20)
            container.mux(stream.encode(video_frame))
        container.mux(stream.encode())
    return buf.getvalue()


def bench_encodings(episodes: list[np.ndarray], repeats: int = 3) -> list[dict]:
    from simworld.data.shards import decode_shard, decode_video, encode_mp4, encode_shard

    cases = {
        "npz": (
            "npz shards, DEFLATE level 6, lossless (default)",
            lambda f: encode_shard({"frames": f}, "npz"),
            lambda b: decode_shard(b, ["frames"])["frames"],
        ),
        "mp4_crf18": (
            "mp4 shards, H.264 yuv420p CRF 18 (frames_encoding=mp4)",
            lambda f: encode_shard({"frames": f}, "mp4"),
            lambda b: decode_shard(b, ["frames"])["frames"],
        ),
        "mp4_crf23": ("H.264 yuv420p CRF 23 (x264 default)", lambda f: encode_mp4(f, crf=23), decode_video),
        "h264_lossless": ("H.264 lossless (libx264rgb CRF 0), reference", _lossless_h264, decode_video),
        "raw": ("raw uint8, reference", lambda f: f.tobytes(), lambda b: np.frombuffer(b, np.uint8)),
    }
    total = sum(len(e) for e in episodes)
    rows = []
    for key, (label, encode, decode) in cases.items():
        t0 = time.perf_counter()
        blobs = [encode(e) for e in episodes]
        encode_s = time.perf_counter() - t0
        decode_s = float("inf")
        for _ in range(repeats):
            t0 = time.perf_counter()
            decoded = [decode(b) for b in blobs]
            decode_s = min(decode_s, time.perf_counter() - t0)
        squared, worst = 0.0, 0
        for d, e in zip(decoded, episodes):
            diff = np.asarray(d).reshape(e.shape).astype(np.int16) - e
            squared += float(np.sum(diff.astype(np.float64) ** 2))
            worst = max(worst, int(np.abs(diff).max()))
        mse = squared / sum(e.size for e in episodes)
        rows.append(
            {
                "key": key,
                "label": label,
                "bytes_per_frame": sum(len(b) for b in blobs) / total,
                "encode_fps": total / encode_s,
                "decode_fps": total / decode_s,
                "psnr_db": float("inf") if mse == 0 else 10 * np.log10(255**2 / mse),
                "max_abs_error": worst,
            }
        )
    return rows


def bench_verify_cost(episodes: list[np.ndarray], repeats: int = 20) -> dict:
    """Per-shard cost of the loader's sha256 check next to decoding the shard (best of ``repeats``)."""
    import hashlib

    from simworld.data.shards import decode_shard, encode_shard

    def best(function, n: int = repeats) -> float:
        times = []
        for _ in range(n):
            t0 = time.perf_counter()
            function()
            times.append(time.perf_counter() - t0)
        return min(times)

    npz, mp4 = encode_shard({"frames": episodes[0]}, "npz"), encode_shard({"frames": episodes[0]}, "mp4")
    return {
        "frames": len(episodes[0]),
        "npz_bytes": len(npz),
        "sha256_npz_ms": 1e3 * best(lambda: hashlib.sha256(npz).digest()),
        "decode_npz_ms": 1e3 * best(lambda: decode_shard(npz, ["frames"])),
        "sha256_mp4_ms": 1e3 * best(lambda: hashlib.sha256(mp4).digest()),
        "decode_mp4_ms": 1e3 * best(lambda: decode_shard(mp4, ["frames"]), max(2, repeats // 5)),
    }


def bench_collect(
    root: Path, workers: int, episodes: int, steps: int, ground_truth: list[str], encoding: str = "npz"
) -> dict:
    from simworld.data.collect import CollectConfig, collect

    cfg = CollectConfig(
        out=str(root),
        episodes=episodes,
        steps=steps,
        num_workers=workers,
        seed=1,
        ground_truth=ground_truth,
        encoding=encoding,
        progress=False,
    )
    result = collect(cfg)
    # steady state: the frames of the episodes committed after the first round (one per worker)
    first = max(workers, 1)
    per_episode = result.frames_written / episodes
    steady = (episodes - first) * per_episode / (result.commit_times[-1] - result.commit_times[first - 1])
    return {
        "workers": workers,
        "ground_truth": ground_truth,
        "encoding": encoding,
        "frames": result.frames_written,
        "seconds": result.seconds,
        "frames_per_s": result.frames_written / result.seconds,
        "steady_frames_per_s": steady,
        "startup_seconds": result.commit_times[first - 1],
        "bytes_per_frame": result.bytes_written / result.frames_written,
    }


def bench_loader(root: Path, workers: int, verify: bool, batches: int, repeats: int = 5) -> dict:
    """Best of ``repeats`` runs of ``batches`` batches of 32 random 16-frame windows."""
    from torch.utils.data import DataLoader

    from simworld.data.windows import WindowDataset

    dataset = WindowDataset(root, window=16, stride=1, random=True, split="all", verify=verify)
    best = 0.0
    for repeat in range(repeats):
        dataset.set_epoch(repeat)
        loader = DataLoader(dataset, batch_size=32, num_workers=workers)
        count, t0 = 0, time.perf_counter()
        for sample in loader:
            count += len(sample["frames"])
            if count >= batches * 32:
                break
        best = max(best, count / (time.perf_counter() - t0))
    return {"workers": workers, "verify": verify, "windows": count, "windows_per_s": best}


def bench_train_step(steps: int = 2, batch: int = 8, tokens: int = 1024) -> dict:
    """A stand-in for the DiT training step (ENVIRONMENT.md's 8 × 384 transformer): windows/s it consumes."""
    import torch

    layer = torch.nn.TransformerEncoderLayer(384, 6, 1536, batch_first=True, norm_first=True, dropout=0.0)
    model = torch.nn.TransformerEncoder(layer, 8, enable_nested_tensor=False)
    optimiser = torch.optim.AdamW(model.parameters(), lr=1e-4)
    x = torch.randn(batch, tokens, 384)

    def step() -> None:
        loss = model(x).pow(2).mean()
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()

    step()  # warm-up
    t0 = time.perf_counter()
    for _ in range(steps):
        step()
    seconds = (time.perf_counter() - t0) / steps
    params = sum(p.numel() for p in model.parameters())
    return {
        "params": params,
        "batch": batch,
        "tokens": tokens,
        "seconds_per_step": seconds,
        "windows_per_s": batch / seconds,
        "torch_threads": torch.get_num_threads(),
    }


def markdown(result: dict) -> str:
    m = result["machine"]
    lines = [
        "# Dataset IO",
        "",
        f"**Noisy numbers**: measured on a shared machine ({m['cpus']} CPUs, {m['processor']}, "
        f"Python {m['python']}, load average {m['load_average_1min']:.1f} at the start) while other "
        "engineers' jobs were running; repeat on an idle machine before comparing small differences. "
        f"`python benchmarks/dataset_io.py {result['args']}`",
        "",
        "## Frame encodings (real 64×64 voxel frames, episodes of 201 frames)",
        "",
        "| encoding | bytes/frame | encode frames/s | decode frames/s | PSNR dB | max abs err |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for r in result["encodings"]:
        psnr = "lossless" if r["psnr_db"] == float("inf") else f"{r['psnr_db']:.1f}"
        lines.append(
            f"| {r['label']} | {r['bytes_per_frame']:,.0f} | {r['encode_fps']:,.0f} | "
            f"{r['decode_fps']:,.0f} | {psnr} | {r['max_abs_error']} |"
        )
    v = result["verify_cost"]
    lines += [
        "",
        f"Loader's sha256 check per shard of {v['frames']} frames: npz {v['sha256_npz_ms']:.2f} ms next to "
        f"{v['decode_npz_ms']:.1f} ms decoding ({100 * v['sha256_npz_ms'] / v['decode_npz_ms']:.0f}%); mp4 "
        f"{v['sha256_mp4_ms']:.2f} ms next to {v['decode_mp4_ms']:.1f} ms.",
    ]
    lines += [
        "",
        "## Collection (default voxel world, 64×64, mixture policy, 201 frames per episode)",
        "",
        "*all*: whole call, worker start-up included; *steady*: after the first round of episodes (one per",
        "worker), i.e. the rate of a long collection; *first round*: seconds until that round was committed.",
        "",
        "| workers | ground truth | encoding | frames | frames/s (all) | frames/s (steady) | first round s | "
        "bytes/frame on disk |",
        "|---:|---|---|---:|---:|---:|---:|---:|",
    ]
    for r in result["collect"]:
        lines.append(
            f"| {r['workers']} | {', '.join(r['ground_truth']) or '-'} | {r['encoding']} | {r['frames']} | "
            f"{r['frames_per_s']:,.0f} | {r['steady_frames_per_s']:,.0f} | {r['startup_seconds']:.1f} | "
            f"{r['bytes_per_frame']:,.0f} |"
        )
    lines += [
        "",
        "## Loader (16-frame windows at 64×64, random starts, batch 32) vs the training step it feeds",
        "",
        "| reader | DataLoader workers | sha256 check | windows/s |",
        "|---|---:|---|---:|",
    ]
    for r in result["loader"]:
        lines.append(
            f"| {r['encoding']} shards | {r['workers']} | {'yes' if r['verify'] else 'no'} | "
            f"{r['windows_per_s']:,.0f} |"
        )
    t = result.get("train_step")
    if t:
        lines.append(
            f"| training step: {t['params'] / 1e6:.1f} M-param transformer, batch {t['batch']} × "
            f"{t['tokens']} tokens, fwd+bwd+AdamW, {t['torch_threads']} threads | - | - | "
            f"{t['windows_per_s']:,.2f} |"
        )
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--frames-per-policy", type=int, default=200, help="steps per policy for the encodings"
    )
    parser.add_argument("--episodes", type=int, default=8, help="episodes per run (x2 with workers)")
    parser.add_argument("--steps", type=int, default=200, help="steps per collected episode")
    parser.add_argument("--batches", type=int, default=40, help="loader batches per measurement")
    parser.add_argument("--skip-train-step", action="store_true", help="do not time the training step")
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results")
    args = parser.parse_args()
    result: dict = {
        "benchmark": "dataset_io",
        "args": " ".join(
            f"--{k.replace('_', '-')} {v}"
            for k, v in vars(args).items()
            if k not in ("out", "skip_train_step")
        ),
        "machine": {
            "cpus": os.cpu_count(),
            "processor": platform.processor() or platform.machine(),
            "python": platform.python_version(),
            "load_average_1min": os.getloadavg()[0],
        },
    }
    import numba

    # one renderer thread per process: the in-process collection is then a one-core baseline for
    # the 2-worker one (a 2-thread renderer also slows down 10x when other jobs load the cores)
    numba.set_num_threads(1)
    episodes = voxel_frames(args.frames_per_policy)
    result["encodings"] = bench_encodings(episodes)
    result["verify_cost"] = bench_verify_cost(episodes)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        result["collect"] = [
            bench_collect(root / "w2", 2, 2 * args.episodes, args.steps, []),
            bench_collect(root / "w0", 0, args.episodes, args.steps, []),
            bench_collect(root / "gt", 0, args.episodes, args.steps, ["pose", "depth"]),
            bench_collect(root / "mp4", 0, args.episodes, args.steps, [], "mp4"),
        ]
        result["loader"] = [
            {**bench_loader(root / "w2", 0, True, args.batches), "encoding": "npz"},
            {**bench_loader(root / "w2", 0, False, args.batches), "encoding": "npz"},
            {**bench_loader(root / "w2", 2, True, args.batches), "encoding": "npz"},
            {**bench_loader(root / "mp4", 0, True, args.batches), "encoding": "mp4"},
            {**bench_loader(root / "mp4", 2, True, args.batches), "encoding": "mp4"},
        ]
    if not args.skip_train_step:
        result["train_step"] = bench_train_step()
    result["machine"]["load_average_1min_end"] = os.getloadavg()[0]
    text = markdown(result)
    write_result(args.out, "dataset_io", result, text)
    print(text)


if __name__ == "__main__":
    main()
