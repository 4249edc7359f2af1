"""``simworld export``: a distributable copy of a checkpoint (smaller weights, bundled contexts)."""

from __future__ import annotations

import sys

from simworld.cli.registry import command
from simworld.export import ExportConfig, export_checkpoint
from simworld.models.serialization import CheckpointError


@command(
    "export",
    ExportConfig,
    help="Copy a checkpoint for distribution: weights as float16, held-out starting contexts, a card.",
)
def run(cfg: ExportConfig) -> int:
    """Export; exit 1 on a checkpoint or data error."""
    try:
        out = export_checkpoint(cfg)
    except (FileNotFoundError, FileExistsError, CheckpointError, ValueError) as exc:
        print(f"simworld export: error: {exc}", file=sys.stderr)
        return 1
    size = sum(p.stat().st_size for p in out.rglob("*") if p.is_file())
    print(f"exported {cfg.checkpoint} -> {out}/ ({size / 2**20:.1f} MiB, weights {cfg.weights_dtype})")
    return 0
