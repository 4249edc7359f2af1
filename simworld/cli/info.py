"""``simworld info``: versions, devices, optional extras and where weights were looked for."""

from __future__ import annotations

from simworld.cli.registry import command
from simworld.info import InfoConfig, collect_info, format_info


@command(
    "info",
    InfoConfig,
    help="Print versions, devices, optional extras and where pretrained weights were looked for.",
    flags={"--json": "format=json"},
)
def run(cfg: InfoConfig) -> int:
    """Print :func:`simworld.info.collect_info` in ``cfg.format``."""
    print(format_info(collect_info(cfg.weights_dir), cfg.format))
    return 0
