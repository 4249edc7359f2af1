"""The eval run directory: results table, manifest, media index, unit cache (format ``simworld.eval/1``).

::

    <run>/
      manifest.json      suite, checkpoints (with weight hashes), env, metric protocols, weights used,
                         package versions, git revision, hardware, config, wall time
      results.parquet    long format, one row per number (COLUMNS)
      results.csv        the same table as CSV
      media.json         [{checkpoint, probe, case, world_seed, seed, path, caption}]
      media/<checkpoint>/<probe>/<case>-w<world_seed>-s<seed>.gif   truth | prediction
      units/<digest>.json   finished (predictor, probe, seed) units: their rows and media entries

Every file is written atomically (temporary file + ``os.replace``), so a killed run leaves only
complete files; a rerun reuses every finished unit whose digest is unchanged.
"""

from __future__ import annotations

import io
import json
import subprocess
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from simworld.data.format import atomic_write_bytes, json_default

FORMAT = "simworld.eval/1"

COLUMNS: tuple[str, ...] = (
    "checkpoint",
    "checkpoint_kind",
    "suite",
    "probe",
    "case",
    "metric",
    "horizon",
    "seed",
    "world_seed",
    "params",
    "value",
    "note",
)
"""Columns of ``results.parquet`` / ``results.csv``."""


def atomic_write_json(path: Path, obj: Any) -> Path:
    """Indented JSON written atomically (``simworld.data.format.atomic_write_bytes``)."""
    atomic_write_bytes(path, (json.dumps(obj, indent=2, default=json_default) + "\n").encode())
    return path


def results_frame(rows: Sequence[dict[str, Any]]) -> pd.DataFrame:
    """The results table from row dicts, with the column order and dtypes of the format."""
    df = pd.DataFrame(list(rows), columns=list(COLUMNS))
    df["horizon"] = df["horizon"].astype("Int64")
    df["seed"] = df["seed"].astype("int64")
    df["world_seed"] = df["world_seed"].astype("int64")
    df["value"] = df["value"].astype("float64")
    for col in ("checkpoint", "checkpoint_kind", "suite", "probe", "case", "metric", "params", "note"):
        df[col] = df[col].astype(str)
    return df


def write_results(run: Path, df: pd.DataFrame) -> None:
    """``results.parquet`` and ``results.csv``, atomically."""
    buffer = io.BytesIO()
    df.to_parquet(buffer, index=False)
    atomic_write_bytes(run / "results.parquet", buffer.getvalue())
    atomic_write_bytes(run / "results.csv", df.to_csv(index=False).encode())


def read_results(run: str | Path) -> pd.DataFrame:
    """``results.parquet`` of a run directory.

    Raises:
        FileNotFoundError: not a finished run directory.
    """
    path = Path(run) / "results.parquet"
    if not path.is_file():
        raise FileNotFoundError(f"{run} has no results.parquet (not a finished `simworld eval` run)")
    return pd.read_parquet(path)


def git_revision() -> str | None:
    """The source checkout's commit (with ``-dirty`` for uncommitted changes), or None."""
    root = Path(__file__).resolve().parent.parent
    if not (root / ".git").exists():
        return None
    try:
        rev = subprocess.run(
            ["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=10
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            timeout=10,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return (rev + ("-dirty" if dirty else "")) or None
