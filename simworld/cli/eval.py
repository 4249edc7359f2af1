"""``simworld eval``: checkpoints × a probe suite → a run directory and its benchmark report.

Runs alone or sharded under torchrun: ``torchrun --nproc_per_node=2 -m simworld.cli eval ...``
(each rank computes every world_size-th unit; rank 0 merges the table and writes the report).
"""

from __future__ import annotations

import dataclasses
import os
import sys
from dataclasses import dataclass, field

from evals.config import SuiteConfig
from simworld.cli.registry import command
from simworld.models.serialization import CheckpointError


@dataclass
class EvalConfig:
    """Evaluate world-model checkpoints on the consistency probes.

    Attributes:
        checkpoints: checkpoint folders; empty runs the references only (simulator, copy-last, noise).
        names: row labels of the checkpoints, one per checkpoint (default: folder names).
        suite: probes, worlds, seeds and references (config group ``suite``: default | quick).
        out: the run directory; rerunning with the same ``out`` resumes and reuses finished units.
        device: "cpu", "cuda" or "auto" (cuda when available).
        progress: progress bars per probe and a summary table at the end.
        report: write report.md and report.html.
    """

    checkpoints: list[str] = field(default_factory=list)
    names: list[str] = field(default_factory=list)
    suite: SuiteConfig = field(default_factory=SuiteConfig)
    out: str = "runs/eval"
    device: str = "cpu"
    progress: bool = True
    report: bool = True

    def __post_init__(self) -> None:
        if self.device not in ("cpu", "cuda", "auto"):
            raise ValueError(f"device must be one of cpu, cuda, auto; got {self.device!r}")
        if self.names and len(self.names) != len(self.checkpoints):
            raise ValueError(f"names: {len(self.names)} names for {len(self.checkpoints)} checkpoints")


def _device(name: str) -> str:
    import torch

    if name == "cuda" and not torch.cuda.is_available():
        raise ValueError("device=cuda but CUDA is not available; use device=cpu or auto")
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if name == "cuda" and "LOCAL_RANK" in os.environ:
        name = f"cuda:{os.environ['LOCAL_RANK']}"
    return name


@command(
    "eval",
    EvalConfig,
    help="Evaluate checkpoints on the consistency probes; write results.parquet/csv and report.md/html.",
)
def run(cfg: EvalConfig) -> int:
    """Run the suite; exit 1 on a checkpoint or input error (named), before any compute."""
    from evals.suite import run_eval

    try:
        result = run_eval(
            cfg.checkpoints,
            cfg.suite,
            cfg.out,
            device=_device(cfg.device),
            names=cfg.names or None,
            progress=cfg.progress,
            report=cfg.report,
            extra_manifest={"eval": {k: v for k, v in dataclasses.asdict(cfg).items() if k != "suite"}},
        )
    except (FileNotFoundError, CheckpointError, ValueError) as exc:
        print(f"simworld eval: error: {exc}", file=sys.stderr)
        return 1
    if int(os.environ.get("RANK", "0")) == 0:
        print(
            f"results: {result.run_dir}/results.parquet ({len(result.results)} rows; "
            f"{result.computed} units computed, {result.reused} reused, {result.wall_time_s:.0f} s)"
        )
        summary = result.run_dir / "summary.json"
        if cfg.report and summary.exists():
            from evals.report.summary import headline

            print(f"\nheadline results (mean [95% CI]; every metric: {result.run_dir}/summary.md):")
            print(headline(result.run_dir))
            print(f"\nreport: {result.run_dir}/report.html (report.md beside it)")
    return 0
