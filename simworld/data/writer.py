"""Create or resume a dataset folder and commit finished episodes to its manifest.

Used by ``collect``, the importers and the latent cache. Only one process (the writer's owner)
updates the manifest; worker processes write shards with ``write_episode`` and hand the returned
``EpisodeRecord`` to ``DatasetWriter.commit``. An episode is part of the dataset once the manifest,
rewritten atomically after every commit, lists it with its sha256.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

import simworld
from simworld.data.format import (
    EPISODES_DIR,
    MANIFEST_NAME,
    EpisodeRecord,
    Manifest,
    check_episode,
    jsonable,
    load_manifest,
    save_manifest,
)
from simworld.data.shards import sha256_file, write_shard


def write_episode(
    root: str | Path,
    index: int,
    arrays: Mapping[str, np.ndarray],
    *,
    frames_encoding: str,
    flat_dim: int,
    ground_truth: Iterable[str] = (),
    info: Mapping[str, Any] | None = None,
    frames_key: str = "frames",
) -> EpisodeRecord:
    """Check an episode against the format and write its shard atomically (no manifest update).

    Raises:
        ValueError: the arrays violate the format; the message lists every problem.
    """
    problems = check_episode(arrays, flat_dim, ground_truth=ground_truth, frames_key=frames_key)
    if problems:
        raise ValueError(f"episode {index} does not fit the dataset format: " + "; ".join(problems))
    return write_shard(root, index, arrays, frames_encoding, info, frames_key=frames_key)


def _differences(old: dict[str, Any], new: dict[str, Any], prefix: str = "") -> list[str]:
    diffs = []
    for key in sorted(set(old) | set(new)):
        a, b = old.get(key), new.get(key)
        if isinstance(a, dict) and isinstance(b, dict):
            diffs += _differences(a, b, f"{prefix}{key}.")
        elif a != b:
            diffs.append(f"{prefix}{key}: existing {a!r}, requested {b!r}")
    return diffs


class DatasetWriter:
    """Owner of a dataset folder's manifest.

    Args:
        root: dataset folder, created if needed.
        manifest: the header of the dataset to write (its ``episodes`` are ignored).

    Raises:
        ValueError: ``root`` already holds a dataset with a different header (env, action schema,
            encoding, ground truth or source settings); the message lists the differences.
    """

    def __init__(self, root: str | Path, manifest: Manifest) -> None:
        self.root = Path(root)
        if (self.root / MANIFEST_NAME).exists():
            existing = load_manifest(self.root, schemas=(manifest.schema,))
            diffs = _differences(existing.header(), jsonable(manifest.header()))
            if diffs:
                raise ValueError(
                    f"{self.root} holds a dataset made with other settings; use another folder "
                    f"or the same settings to resume. Differences: " + "; ".join(diffs)
                )
            self.manifest = existing
        else:
            self.manifest = Manifest(**{**manifest.__dict__, "episodes": []})
            self.manifest.created = {
                "simworld_version": simworld.__version__,
                "time": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            }
            (self.root / EPISODES_DIR).mkdir(parents=True, exist_ok=True)
            save_manifest(self.root, self.manifest)
        (self.root / EPISODES_DIR).mkdir(parents=True, exist_ok=True)

    @property
    def records(self) -> dict[int, EpisodeRecord]:
        """Committed episodes by index."""
        return {r.index: r for r in self.manifest.episodes}

    def verify_existing(self) -> list[int]:
        """Check every committed shard's size and sha256; forget (and warn about) those that fail.

        Returns:
            Indices of the episodes whose shards are intact.
        """
        good, bad = [], []
        for record in self.manifest.episodes:
            path = self.root / record.file
            if path.is_file() and path.stat().st_size == record.bytes and sha256_file(path) == record.sha256:
                good.append(record)
            else:
                bad.append(record)
        if bad:
            warnings.warn(
                f"{self.root}: {len(bad)} committed shards are missing or corrupt and will be "
                f"rewritten: {[r.file for r in bad]}",
                stacklevel=2,
            )
            self.manifest.episodes = good
            save_manifest(self.root, self.manifest)
        return [r.index for r in good]

    def remove_temporary_files(self) -> list[Path]:
        """Delete temporary files left by a killed writer (``.<name>.<random>.tmp``); return them."""
        leftovers = [p for p in (self.root / EPISODES_DIR).glob(".*.tmp")] + list(self.root.glob(".*.tmp"))
        for path in leftovers:
            path.unlink(missing_ok=True)
        return leftovers

    def commit(self, record: EpisodeRecord) -> None:
        """Add (or replace) an episode in the manifest and rewrite the manifest atomically."""
        self.manifest.episodes = [r for r in self.manifest.episodes if r.index != record.index] + [record]
        self.manifest.episodes.sort(key=lambda r: r.index)
        save_manifest(self.root, self.manifest)

    def write(
        self,
        index: int,
        arrays: Mapping[str, np.ndarray],
        info: Mapping[str, Any] | None = None,
        frames_key: str = "frames",
    ) -> EpisodeRecord:
        """Check, write and commit one episode; return its manifest entry."""
        m = self.manifest
        record = write_episode(
            self.root,
            index,
            arrays,
            frames_encoding=m.frames_encoding,
            flat_dim=m.flat_dim,
            ground_truth=m.ground_truth,
            info=info,
            frames_key=frames_key,
        )
        self.commit(record)
        return record
