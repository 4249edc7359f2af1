"""``simworld validate``: check every shard of a dataset; exit 1 when any is invalid."""

from __future__ import annotations

import sys

from simworld.cli.registry import command
from simworld.data.validate import ValidateConfig, format_report, validate_dataset


@command(
    "validate", ValidateConfig, help="Check a dataset's shards: checksums, decoding, dtypes, shapes, lengths."
)
def run(cfg: ValidateConfig) -> int:
    """Print the report; 0 when valid (warnings allowed), 1 on any error."""
    try:
        problems = validate_dataset(cfg.path)
    except (FileNotFoundError, ValueError) as exc:
        print(f"simworld validate: error: {exc}", file=sys.stderr)
        return 1
    errors = any(p.severity == "error" for p in problems)
    print(format_report(cfg.path, problems, cfg.max_problems), file=sys.stderr if errors else sys.stdout)
    return 1 if errors else 0
