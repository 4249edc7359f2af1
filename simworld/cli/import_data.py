"""``simworld import``: OpenAI VPT contractor data or MineRL v0.4 recordings into a dataset."""

from __future__ import annotations

import sys

from simworld.cli.registry import command
from simworld.data.importers import ImportConfig, import_dataset


@command(
    "import",
    ImportConfig,
    help="Import VPT contractor (.mp4 + .jsonl) or MineRL v0.4 recordings into a dataset.",
)
def run(cfg: ImportConfig) -> int:
    """Import; exit 1 on a data error (message on stderr)."""
    try:
        import_dataset(cfg)
    except (FileNotFoundError, ValueError) as exc:
        print(f"simworld import: error: {exc}", file=sys.stderr)
        return 1
    return 0
