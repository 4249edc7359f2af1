"""The blocks a report is made of, rendered to HTML by :mod:`evals.report.html` and to Markdown by
:mod:`evals.report.markdown` (one content model, two renderings that cannot disagree).

A metric table or figure carries the protocol label of every metric it shows (``protocols``);
the renderers print it beside the table or figure, and refuse an unlabelled metric figure.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Heading:
    """A section title (level 1..4); ``anchor`` is its HTML id."""

    text: str
    level: int = 2
    anchor: str = ""


@dataclass(frozen=True)
class Text:
    """A paragraph of plain text."""

    text: str


@dataclass(frozen=True)
class Bullets:
    """A bulleted list of plain-text items."""

    items: list[str]


@dataclass(frozen=True)
class Table:
    """A table of plain-text cells.

    Attributes:
        columns: header cells.
        rows: body rows (same length as ``columns``).
        caption: what the numbers are (aggregation, interval method).
        protocols: (metric, protocol label) of every metric in the table; empty for tables that
            show no metric (run metadata).
        collapsed: rendered folded (HTML ``<details>``) — long per-case tables.
    """

    columns: list[str]
    rows: list[list[str]]
    caption: str = ""
    protocols: list[tuple[str, str]] = field(default_factory=list)
    collapsed: bool = False

    def __post_init__(self) -> None:
        bad = [r for r in self.rows if len(r) != len(self.columns)]
        if bad:
            raise ValueError(f"table row {bad[0]} has {len(bad[0])} cells, header has {len(self.columns)}")


@dataclass(frozen=True)
class Figure:
    """A PNG figure of metrics.

    Attributes:
        png: the image bytes.
        name: file stem for the Markdown rendering (``<stem>.png`` beside the report).
        caption: what it shows.
        protocols: (metric, protocol label) of every metric drawn (at least one).
    """

    png: bytes
    name: str
    caption: str
    protocols: list[tuple[str, str]]

    def __post_init__(self) -> None:
        if not self.protocols or not all(p.strip() for _, p in self.protocols):
            raise ValueError(f"figure {self.name!r} needs the protocol label of every metric it draws")


@dataclass(frozen=True)
class Animation:
    """A GIF (truth beside prediction).

    Attributes:
        data: GIF bytes (None when the file is missing; ``caption`` then says so).
        path: the file relative to the report (for Markdown).
        caption: what it shows and what to look for.
    """

    data: bytes | None
    path: str
    caption: str


@dataclass(frozen=True)
class Preformatted:
    """Monospaced text (config dumps), folded under ``summary`` when given."""

    text: str
    summary: str = ""


Block = Heading | Text | Bullets | Table | Figure | Animation | Preformatted


def slug(text: str) -> str:
    """An HTML id / file stem from free text."""
    out = "".join(c.lower() if c.isalnum() else "-" for c in text)
    while "--" in out:
        out = out.replace("--", "-")
    return out.strip("-") or "x"
