"""One rank of the 2-process FVD / per-frame PSNR test (run by test_fvd.py, not collected by pytest).

Usage: ``python ddp_worker.py RANK WORLD_SIZE INIT_FILE OUT_JSON NET`` with NET ``tiny`` or ``i3d``.
Each rank adds every WORLD_SIZE-th clip; ``compute()`` synchronises the sums over gloo.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import torch.distributed as dist

sys.path.insert(0, str(Path(__file__).resolve().parent))

from conftest import TinyVideoNet, make_clips, perturb  # noqa: E402

from evals.metrics import FVD, PerFramePSNR  # noqa: E402
from evals.metrics.i3d import init_random_i3d  # noqa: E402


def main(rank: int, world: int, init_file: str, out: str, net_kind: str) -> None:
    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=world)
    n = 6 if net_kind == "tiny" else 4
    real = make_clips(n, seed=0)
    generated = perturb(make_clips(n, seed=1), noise=0.1)
    net = TinyVideoNet(0) if net_kind == "tiny" else init_random_i3d(0)
    fvd = FVD("videogpt", feature_network=net, clip_length=9, reference_num_clips=2)
    fvd.update(real[rank::world], real=True)
    fvd.update(generated[rank::world], real=False)
    curve = PerFramePSNR(9)
    curve.update(generated[rank::world], real[rank::world])
    result = {
        "fvd": float(fvd.compute()),
        "num_real_clips": fvd.label().num_real_clips,
        "num_clips": fvd.label().num_clips,
        "psnr_curve": curve.compute().tolist(),
    }
    Path(out).write_text(json.dumps(result))
    dist.destroy_process_group()


if __name__ == "__main__":
    main(int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5])
