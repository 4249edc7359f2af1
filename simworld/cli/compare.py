"""``simworld compare``: paired differences between checkpoints of eval runs, with verdicts."""

from __future__ import annotations

import sys

from evals.config import CompareConfig
from simworld.cli.registry import command


@command(
    "compare",
    CompareConfig,
    help="Compare checkpoints of eval runs: paired bootstrap differences, verdicts, Markdown/HTML report.",
    positional="runs",
)
def run(cfg: CompareConfig) -> int:
    """Write the comparison into ``cfg.out`` and print it; 1 when the runs cannot be compared."""
    if not cfg.runs:
        usage = "simworld compare RUN_A [RUN_B ...] out=DIR"
        print(f"simworld compare: error: name the eval run directories: {usage}", file=sys.stderr)
        return 2
    if not cfg.out:
        print("simworld compare: error: set out=<directory> for the comparison files", file=sys.stderr)
        return 2
    from evals.report.compare import compare, format_summary

    try:
        result = compare(
            cfg.runs,
            cfg.out,
            reference=cfg.reference,
            pairs=cfg.pairs,
            checkpoints=cfg.checkpoints,
            n_boot=cfg.n_boot,
            confidence=cfg.confidence,
            seed=cfg.seed,
            min_cases=cfg.min_cases,
        )
    except (FileNotFoundError, ValueError) as exc:
        print(f"simworld compare: error: {exc}", file=sys.stderr)
        return 1
    print(format_summary(result.table))
    print("\nwrote " + ", ".join(str(p) for p in result.paths.values()))
    return 0
