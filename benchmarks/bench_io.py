"""What every benchmark script does with its result: ``<out>/<name>.json`` and ``<name>.md``, atomically.

Imported by the scripts beside it (``python benchmarks/<script>.py`` puts this folder on the path).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from simworld.data.format import atomic_write_bytes, json_default


def write_result(out: Path, name: str, result: dict[str, Any], markdown: str | None = None) -> None:
    """Write the JSON result and, when given, its readable Markdown table; each appears only complete."""
    text = json.dumps(result, indent=2, ensure_ascii=False, default=json_default) + "\n"
    atomic_write_bytes(Path(out) / f"{name}.json", text.encode())
    if markdown is not None:
        atomic_write_bytes(Path(out) / f"{name}.md", markdown.encode())
