"""``simworld collect``: record episodes of a Gymnasium env with a policy into a dataset."""

from __future__ import annotations

import sys

from simworld.cli.registry import command
from simworld.data.collect import CollectConfig, collect


@command(
    "collect",
    CollectConfig,
    help="Record N episodes x T steps of a Gymnasium env into a dataset (resumable).",
)
def run(cfg: CollectConfig) -> int:
    """Collect, print a one-line summary; exit 1 on a data error (message on stderr)."""
    try:
        result = collect(cfg)
    except (FileNotFoundError, ValueError) as exc:
        print(f"simworld collect: error: {exc}", file=sys.stderr)
        return 1
    rate = result.frames_written / result.seconds if result.seconds > 0 else 0.0
    per_frame = result.bytes_written / max(result.frames_written, 1)
    print(
        f"wrote {result.episodes_written} episodes ({result.episodes_skipped} already done), "
        f"{result.frames_written} frames in {result.seconds:.1f}s ({rate:.0f} frames/s, "
        f"{per_frame:.0f} bytes/frame) to {result.path}/"
    )
    return 0
