"""Self-contained HTML rendering of report blocks: one file, images inline as base64 data URIs, an
inline stylesheet, no scripts and no external resource of any kind.

Markup the tests (and readers of the file) can rely on:

- a metric table is ``<table class="metric-table">`` whose ``<caption>`` holds a
  ``<div class="protocol">`` with the protocol label of each of its metrics;
- a metric figure is ``<figure class="metric-figure">`` holding an ``<img src="data:image/png;base64,...">``
  and a ``<figcaption>`` with the same ``<div class="protocol">``;
- an animation is ``<figure class="animation">`` with an ``<img src="data:image/gif;base64,...">``.
"""

from __future__ import annotations

import base64
import html
from collections.abc import Sequence
from html.parser import HTMLParser

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

STYLE = """
body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; margin: 1.5em auto;
       max-width: 1200px; padding: 0 1em; color: #222; line-height: 1.4; }
h1 { font-size: 1.6em; } h2 { border-bottom: 1px solid #ccc; padding-bottom: .2em; margin-top: 2em; }
table { border-collapse: collapse; margin: .8em 0 1.4em; font-size: .85em; }
th, td { border: 1px solid #ccc; padding: .25em .5em; text-align: left; vertical-align: top; }
th { background: #f2f2f2; }
caption { caption-side: top; text-align: left; font-size: .9em; padding-bottom: .3em; }
.protocol { font-size: .85em; color: #444; margin-top: .2em; }
.protocol b { color: #222; }
figure { margin: 1em 0 1.6em; }
figure.animation { display: inline-block; margin-right: 1.5em; vertical-align: top; max-width: 360px; }
figure.animation img { image-rendering: pixelated; width: 320px; border: 1px solid #ccc; }
figcaption { font-size: .85em; max-width: 900px; }
pre { background: #f7f7f7; padding: .6em; overflow-x: auto; font-size: .8em; }
details { margin: .5em 0 1em; }
"""


def _e(text: str) -> str:
    return html.escape(str(text), quote=True)


def _protocols(protocols: Sequence[tuple[str, str]]) -> str:
    if not protocols:
        return ""
    if len(protocols) == 1:
        metric, protocol = protocols[0]
        return f'<div class="protocol"><b>Protocol ({_e(metric)}):</b> {_e(protocol)}</div>'
    items = "".join(f"<li><b>{_e(m)}:</b> {_e(p)}</li>" for m, p in protocols)
    return f'<div class="protocol"><b>Protocols:</b><ul>{items}</ul></div>'


def data_uri(data: bytes, mime: str) -> str:
    """``data:<mime>;base64,...``."""
    return f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}"


def _table(t: Table) -> str:
    cls = "metric-table" if t.protocols else "info-table"
    head = "".join(f"<th>{_e(c)}</th>" for c in t.columns)
    body = "".join("<tr>" + "".join(f"<td>{_e(c)}</td>" for c in row) + "</tr>" for row in t.rows)
    caption = (
        f"<caption>{_e(t.caption)}{_protocols(t.protocols)}</caption>" if (t.caption or t.protocols) else ""
    )
    out = f'<table class="{cls}">{caption}<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'
    if t.collapsed:
        out = f"<details><summary>{_e(t.caption or 'table')}</summary>{out}</details>"
    return out


def _figure(f: Figure) -> str:
    return (
        f'<figure class="metric-figure" id="fig-{_e(f.name)}">'
        f'<img src="{data_uri(f.png, "image/png")}" alt="{_e(f.caption)}">'
        f"<figcaption>{_e(f.caption)}{_protocols(f.protocols)}</figcaption></figure>"
    )


def _animation(a: Animation) -> str:
    if a.data is None:
        return f'<figure class="animation missing"><figcaption>{_e(a.caption)}</figcaption></figure>'
    return (
        f'<figure class="animation"><img src="{data_uri(a.data, "image/gif")}" alt="{_e(a.caption)}">'
        f"<figcaption>{_e(a.caption)}</figcaption></figure>"
    )


def render_block(block: Block) -> str:
    """One block as HTML."""
    if isinstance(block, Heading):
        level = min(max(block.level, 1), 4)
        anchor = f' id="{_e(block.anchor)}"' if block.anchor else ""
        return f"<h{level}{anchor}>{_e(block.text)}</h{level}>"
    if isinstance(block, Text):
        return f"<p>{_e(block.text)}</p>"
    if isinstance(block, Bullets):
        return "<ul>" + "".join(f"<li>{_e(i)}</li>" for i in block.items) + "</ul>"
    if isinstance(block, Table):
        return _table(block)
    if isinstance(block, Figure):
        return _figure(block)
    if isinstance(block, Animation):
        return _animation(block)
    if isinstance(block, Preformatted):
        pre = f"<pre>{_e(block.text)}</pre>"
        return f"<details><summary>{_e(block.summary)}</summary>{pre}</details>" if block.summary else pre
    raise TypeError(f"unknown report block {type(block).__name__}")


def render(title: str, blocks: Sequence[Block]) -> str:
    """A complete, self-contained HTML document."""
    body = "\n".join(render_block(b) for b in blocks)
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{_e(title)}</title><style>{STYLE}</style></head>\n"
        f"<body>\n{body}\n</body></html>\n"
    )


class _References(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.found: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        for name, value in attrs:
            if name in ("src", "href", "srcset", "poster", "data", "action") and value is not None:
                v = value.strip()
                if not (v.startswith("data:") or v.startswith("#")):
                    self.found.append(f"<{tag} {name}={v[:80]!r}>")
        if tag == "link" or (tag == "script" and any(n == "src" for n, _ in attrs)):
            self.found.append(f"<{tag}> element")

    def handle_data(self, data: str) -> None:
        if "url(" in data and "url(data:" not in data:
            self.found.append(f"css url(...) in {data.strip()[:60]!r}")


def external_references(document: str) -> list[str]:
    """Every reference of an HTML document to something outside it (empty for a self-contained file)."""
    parser = _References()
    parser.feed(document)
    return parser.found
