"""``simworld play``: keyboard + mouse over the learned world, beside the real one (pygame)."""

from __future__ import annotations

import sys

from simworld.cli.registry import command
from simworld.models.serialization import CheckpointError
from simworld.play import PlayConfig, run_play


@command(
    "play", PlayConfig, help="Play the learned world (and the real one beside it) with keyboard and mouse."
)
def run(cfg: PlayConfig) -> int:
    """Open the window; exit 1 when pygame is missing or the checkpoint cannot be loaded."""
    try:
        import pygame  # noqa: F401
    except ImportError:
        print("simworld play: error: needs pygame: pip install 'simworld[play]'", file=sys.stderr)
        return 1
    try:
        steps = run_play(cfg)
    except (FileNotFoundError, CheckpointError, ValueError) as exc:
        print(f"simworld play: error: {exc}", file=sys.stderr)
        return 1
    print(f"played {steps} steps" + (f"; recorded {cfg.record}" if cfg.record else ""))
    return 0
