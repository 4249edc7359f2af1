"""Markdown rendering of report blocks; figures are written as PNG files beside the report.

Tables become pipe tables preceded by their caption and followed by their protocol labels; figures
become ``![caption](<assets>/<name>.png)`` followed by the same labels; animations link the run's
GIF files by their relative path.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from evals.report.document import (
    Animation,
    Block,
    Bullets,
    Figure,
    Heading,
    Preformatted,
    Table,
    Text,
)


def _cell(text: str) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def _protocols(protocols: Sequence[tuple[str, str]]) -> list[str]:
    if len(protocols) == 1:
        return [f"*Protocol ({protocols[0][0]}):* {protocols[0][1]}", ""]
    if protocols:
        return ["*Protocols:*", *(f"- **{m}:** {p}" for m, p in protocols), ""]
    return []


def render_block(block: Block, report_dir: Path, assets: str) -> list[str]:
    """Markdown lines of one block; a figure's PNG is written to ``report_dir / assets``."""
    if isinstance(block, Heading):
        return ["#" * min(max(block.level, 1), 4) + " " + block.text, ""]
    if isinstance(block, Text):
        return [block.text, ""]
    if isinstance(block, Bullets):
        return [*(f"- {i}" for i in block.items), ""]
    if isinstance(block, Table):
        lines = [f"**{block.caption}**", ""] if block.caption else []
        lines += ["| " + " | ".join(_cell(c) for c in block.columns) + " |"]
        lines += ["|" + "|".join("---" for _ in block.columns) + "|"]
        lines += ["| " + " | ".join(_cell(c) for c in row) + " |" for row in block.rows]
        return [*lines, "", *_protocols(block.protocols)]
    if isinstance(block, Figure):
        folder = report_dir / assets
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"{block.name}.png").write_bytes(block.png)
        return [f"![{_cell(block.caption)}]({assets}/{block.name}.png)", "", block.caption, ""] + _protocols(
            block.protocols
        )
    if isinstance(block, Animation):
        if block.data is None:
            return [block.caption, ""]
        return [f"![{_cell(block.caption)}]({block.path})", "", block.caption, ""]
    if isinstance(block, Preformatted):
        head = [f"**{block.summary}**", ""] if block.summary else []
        return [*head, "```", block.text, "```", ""]
    raise TypeError(f"unknown report block {type(block).__name__}")


def render(blocks: Sequence[Block], report_dir: str | Path, assets: str) -> str:
    """The Markdown document; figures are written to ``report_dir / assets``."""
    lines: list[str] = []
    for block in blocks:
        lines += render_block(block, Path(report_dir), assets)
    return "\n".join(lines).rstrip() + "\n"
