"""``validate``: check every shard of a dataset and report problems by file and episode.

Checks, per manifest entry: the shard exists, has the recorded size and sha256, decodes (zip CRCs,
npy headers, the mp4 stream), holds the documented arrays with the documented dtypes and shapes,
T + 1 frames for T actions, the recorded length and the recorded frame size. Dataset-level: the
manifest itself (schema, version, required keys), duplicate indices or files, and (as warnings)
shard files that no manifest entry lists and leftover temporary files.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from simworld.data.format import DATASET_SCHEMA, EPISODES_DIR, LATENTS_SCHEMA, check_episode, load_manifest
from simworld.data.shards import CorruptShardError, decode_shard, sha256_bytes


@dataclass
class Problem:
    """One finding of ``validate_dataset``.

    Attributes:
        file: the file concerned, relative to the dataset root.
        episode: the episode index, or None for dataset-level findings.
        message: what is wrong, with what was found and what was expected.
        severity: "error" (the dataset is not valid) or "warning".
    """

    file: str
    episode: int | None
    message: str
    severity: str = "error"

    def __str__(self) -> str:
        where = f"episode {self.episode} ({self.file})" if self.episode is not None else self.file
        return f"{self.severity}: {where}: {self.message}"


@dataclass
class ValidateConfig:
    """Check a dataset's shards (existence, checksum, decoding, dtypes, shapes, lengths, frame size).

    Attributes:
        path: the dataset (or latent cache) folder (required).
        max_problems: print at most this many problems (all are counted).
    """

    path: str = ""
    max_problems: int = 50

    def __post_init__(self) -> None:
        if self.max_problems < 1:
            raise ValueError(f"max_problems must be >= 1, got {self.max_problems}")


def validate_dataset(path: str | Path) -> list[Problem]:
    """Check a dataset folder; return every problem found (empty: valid).

    Raises:
        FileNotFoundError: the folder or its manifest does not exist.
        ValueError: the manifest is unreadable (not JSON, unknown schema or format version).
    """
    if not str(path):
        raise ValueError("set path=<dataset folder>")
    root = Path(path)
    manifest = load_manifest(root, schemas=(DATASET_SCHEMA, LATENTS_SCHEMA))
    frames_key = "latents" if manifest.schema == LATENTS_SCHEMA else "frames"
    problems: list[Problem] = []
    seen_index: dict[int, str] = {}
    seen_file: set[str] = set()
    for record in manifest.episodes:
        if record.index in seen_index:
            problems.append(
                Problem(record.file, record.index, f"index also used by {seen_index[record.index]}")
            )
        if record.file in seen_file:
            problems.append(Problem(record.file, record.index, "file listed twice in the manifest"))
        seen_index[record.index] = record.file
        seen_file.add(record.file)
        problems += _check_record(root, manifest, record, frames_key)
    listed = {str(Path(r.file)) for r in manifest.episodes}
    for shard in sorted((root / EPISODES_DIR).glob("*.npz")):
        relative = str(shard.relative_to(root))
        if relative not in listed:
            problems.append(
                Problem(
                    relative,
                    None,
                    "shard not listed in the manifest (an unfinished or foreign episode); loaders ignore it",
                    "warning",
                )
            )
    for leftover in sorted((root / EPISODES_DIR).glob(".*.tmp")):
        problems.append(
            Problem(
                str(leftover.relative_to(root)),
                None,
                "temporary file of an interrupted write; rerun the collection to finish it, or delete it",
                "warning",
            )
        )
    return problems


def _check_record(root: Path, manifest, record, frames_key: str) -> list[Problem]:
    def problem(message: str) -> Problem:
        return Problem(record.file, record.index, message)

    path = root / record.file
    if not path.is_file():
        return [problem("shard file is missing")]
    data = path.read_bytes()
    problems = []
    if len(data) != record.bytes:
        problems.append(
            problem(f"has {len(data)} bytes, the manifest says {record.bytes} (truncated or replaced)")
        )
    digest = sha256_bytes(data)
    if digest != record.sha256:
        problems.append(
            problem(f"sha256 is {digest[:16]}…, the manifest says {record.sha256[:16]}… (corrupt)")
        )
    try:
        arrays = decode_shard(data)
    except CorruptShardError as exc:
        return [*problems, problem(f"does not decode: {exc}")]
    expected_size = record.frame_size if frames_key == "frames" else None
    found = check_episode(arrays, manifest.flat_dim, expected_size, manifest.ground_truth, frames_key)
    problems += [problem(message) for message in found]
    frames = arrays.get(frames_key)
    if frames is not None and len(frames) - 1 != record.length:
        problems.append(problem(f"holds {len(frames) - 1} steps, the manifest says {record.length}"))
    return problems


def format_report(path: str | Path, problems: list[Problem], max_problems: int = 50) -> str:
    """A human-readable report of ``validate_dataset``'s result."""
    errors = [p for p in problems if p.severity == "error"]
    warnings = [p for p in problems if p.severity != "error"]
    lines = [str(p) for p in (errors + warnings)[:max_problems]]
    if len(problems) > max_problems:
        lines.append(f"... and {len(problems) - max_problems} more")
    verdict = "INVALID" if errors else "valid"
    lines.append(f"{path}: {verdict}: {len(errors)} errors, {len(warnings)} warnings")
    return "\n".join(lines)
