"""Metric throughput on the CPU: LPIPS frames/s and FVD clips/s at 64×64 and 256×256.

- LPIPS v0.1 alex (``evals.metrics.LPIPS.update``; input conversion included) on uint8 videos
  of 4 × 8 frames. Needs the AlexNet trunk (found through ``simworld.weights``); without it the
  rows say "unavailable".
- FVD feature extraction (``evals.metrics.FVD.update``: preprocessing + I3D) for 16-frame clips,
  both protocols, with a **random-weight** I3D of the published architecture (no pretrained I3D is
  reachable here; the speed does not depend on the weights): ``videogpt`` with
  ``InceptionI3d``, ``stylegan_v`` with that network behind ``StyleGANVDetectorStandIn`` (the
  TorchScript detector's call convention). Frames are resized to 224×224 inside either way, so
  the input resolution matters little.
- The Fréchet distance of two 400-d Gaussian fits from 2048 clips each (float64, scipy sqrtm).

Writes ``benchmarks/results/metrics.json`` and ``metrics.md`` and prints the table.
Usage: ``python benchmarks/metrics.py [--clips 4] [--repeats 3] [--out benchmarks/results]``.
"""

from __future__ import annotations

import argparse
import os
import platform
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from bench_io import write_result

from evals.metrics import FVD, LPIPS, MetricUnavailable
from evals.metrics.frechet import frechet_distance, gaussian_from_sums
from evals.metrics.i3d import StyleGANVDetectorStandIn, init_random_i3d


def _best_time(fn: Callable[[], None], repeats: int) -> float:
    """Best wall time of ``repeats`` calls after one warm-up call (oneDNN primitive creation etc.)."""
    fn()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def _videos(batch: int, frames: int, size: int, seed: int) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    return torch.randint(0, 256, (batch, frames, size, size, 3), generator=generator, dtype=torch.uint8)


def bench_lpips(size: int, repeats: int) -> float | None:
    """LPIPS frames/s at ``size``×``size`` (None if the trunk weights are unavailable)."""
    try:
        metric = LPIPS("alex")
    except MetricUnavailable:
        return None
    generated, real = _videos(4, 8, size, 0), _videos(4, 8, size, 1)
    seconds = _best_time(lambda: metric.update(generated, real), repeats)
    return generated.shape[0] * generated.shape[1] / seconds


def bench_fvd(protocol: str, size: int, clips: int, repeats: int, network: torch.nn.Module) -> float:
    """FVD feature extraction clips/s (16-frame clips) at ``size``×``size``."""
    if protocol == "stylegan_v":
        network = StyleGANVDetectorStandIn(network)
    metric = FVD(protocol, feature_network=network, clip_length=16, batch_size=clips)
    videos = _videos(clips, 16, size, 2)
    return clips / _best_time(lambda: metric.update(videos, real=True), repeats)


def bench_frechet(repeats: int) -> float:
    """Seconds for the Fréchet distance of two 400-d fits from 2048 clips each."""
    rng = np.random.default_rng(0)
    stats = []
    for shift in (0.0, 0.1):
        x = torch.from_numpy(rng.normal(size=(2048, 400)) + shift)
        mean, cov = gaussian_from_sums(x.sum(0), x.T @ x, 2048, ddof=0)
        stats.append((mean, cov))
    (m1, s1), (m2, s2) = stats
    return _best_time(lambda: frechet_distance(m1, s1, m2, s2), repeats)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clips", type=int, default=4, help="16-frame clips per FVD update")
    parser.add_argument("--repeats", type=int, default=3, help="timed repeats per case (best is kept)")
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results")
    args = parser.parse_args()
    i3d = init_random_i3d(seed=0)
    rows: list[tuple[str, str, str, float | None]] = []
    for size in (64, 256):
        rows.append(
            (
                f"lpips_alex_{size}",
                f"LPIPS v0.1 alex, {size}×{size}",
                "frames/s",
                bench_lpips(size, args.repeats),
            )
        )
    for protocol in ("stylegan_v", "videogpt"):
        for size in (64, 256):
            rows.append(
                (
                    f"fvd_{protocol}_{size}",
                    f"FVD features ({protocol}, random-weight I3D), 16 frames {size}×{size}",
                    "clips/s",
                    bench_fvd(protocol, size, args.clips, args.repeats, i3d),
                )
            )
    rows.append(
        ("frechet_400d_2048", "Fréchet distance, 400-d, 2048 + 2048 clips", "s", bench_frechet(args.repeats))
    )
    result = {
        "benchmark": "metrics",
        "machine": {
            "cpus": os.cpu_count(),
            "torch_threads": torch.get_num_threads(),
            "load_average_1min_at_end": round(os.getloadavg()[0], 2),
            "processor": platform.processor() or platform.machine(),
            "python": platform.python_version(),
            "torch": torch.__version__,
        },
        "settings": {"fvd_clips_per_update": args.clips, "repeats": args.repeats},
        "results": {key: (round(v, 3) if v is not None else "unavailable") for key, _, _, v in rows},
        "units": {key: unit for key, _, unit, _ in rows},
    }
    lines = ["| case | value | unit |", "|---|---:|---|"]
    for _, label, unit, value in rows:
        shown = "unavailable (no AlexNet trunk weights)" if value is None else f"{value:,.2f}"
        lines.append(f"| {label} | {shown} | {unit} |")
    table = "\n".join(lines)
    machine = result["machine"]
    write_result(
        args.out,
        "metrics",
        result,
        f"# Metric throughput (CPU)\n\n{machine['cpus']} CPUs, torch {machine['torch']} with "
        f"{machine['torch_threads']} threads, Python {machine['python']}, 1-min load average at the end "
        f"{machine['load_average_1min_at_end']} (shared machine); "
        f"`python benchmarks/metrics.py --clips {args.clips} --repeats {args.repeats}`. FVD rows time "
        "feature extraction with a random-weight I3D of the published architecture (frames are "
        "resized to 224×224 inside).\n\n"
        f"{table}\n",
    )
    print(table)


if __name__ == "__main__":
    main()
