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

import json
import os
import platform
import subprocess
import tempfile
from collections.abc import Sequence
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

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

PACKAGES = (
    "simworld",
    "torch",
    "numpy",
    "diffusers",
    "gymnasium",
    "torchmetrics",
    "lpips",
    "opencv-python-headless",
    "pandas",
    "numba",
)


def atomic_write_bytes(path: Path, data: bytes) -> Path:
    """Write ``data`` to ``path`` so that the file appears only when complete."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return path


def atomic_write_json(path: Path, obj: Any) -> Path:
    """JSON (indented, NaN as null-safe strings are not needed: values are finite or NaN floats)."""
    return atomic_write_bytes(path, (json.dumps(obj, indent=2, default=_json_default) + "\n").encode())


def _json_default(obj: Any) -> Any:
    if isinstance(obj, np.integer | np.floating | np.bool_):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"not JSON-serialisable: {type(obj).__name__}")


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
    fd, tmp = tempfile.mkstemp(dir=run, prefix=".results.", suffix=".parquet")
    os.close(fd)
    try:
        df.to_parquet(tmp, index=False)
        os.chmod(tmp, 0o644)  # mkstemp creates 0600 files
        os.replace(tmp, run / "results.parquet")
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
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


def package_versions() -> dict[str, str]:
    """Installed versions of the packages that shape the numbers."""
    out = {}
    for name in PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = "not installed"
    return out


def hardware(device: str) -> dict[str, Any]:
    """Machine, CPU count and accelerator of the run."""
    import torch

    info: dict[str, Any] = {
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "device": device,
    }
    if device.startswith("cuda") and torch.cuda.is_available():
        info["gpu"] = torch.cuda.get_device_name(torch.device(device))
    return info
