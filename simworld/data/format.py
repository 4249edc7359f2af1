"""The on-disk dataset format: constants, the manifest, and the arrays of one episode.

A dataset is a folder::

    <root>/manifest.json            schema, format version, env, action schema, encoding, episodes
    <root>/episodes/ep_000000.npz   one shard per episode (see ``simworld.data.shards``)

``docs/dataset_format.md`` is the reference; this module is its code. Every write is atomic
(temporary file in the same folder, then ``os.replace``), so a reader sees either the old or the
new file, never half of one, and a shard becomes part of the dataset only once the manifest lists
it with its sha256.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from simworld import actions as A

DATASET_SCHEMA = "simworld-dataset"
"""``schema`` of a frame dataset's manifest."""

LATENTS_SCHEMA = "simworld-latents"
"""``schema`` of a latent cache's manifest (``simworld.data.latents``)."""

FORMAT_VERSION = 1
"""The one ``format_version`` this code reads and writes."""

MANIFEST_NAME = "manifest.json"
EPISODES_DIR = "episodes"

FRAME_ENCODINGS = ("npz", "mp4")
"""``frames_encoding`` values: lossless DEFLATE arrays (default) or H.264 in an mp4 (lossy)."""

CANONICAL_ACTION_SCHEMA = "simworld.actions"
"""``action_schema.name`` of the canonical flat action (``simworld.actions.to_flat``)."""

GYMNASIUM_FLATTEN_SCHEMA = "gymnasium.spaces.flatten"
"""``action_schema.name`` for envs with another action space: ``gymnasium.spaces.flatten`` of it."""

GROUND_TRUTH_KEYS = ("pose", "intrinsics", "depth")
"""Optional ground-truth arrays of a shard."""

EXTRA_PREFIX = "extra_"
"""Prefix of optional per-step arrays (leading dim T), e.g. ``extra_vpt_null``."""


def episode_file(index: int) -> str:
    """Relative path of episode ``index``'s shard: ``episodes/ep_000123.npz``."""
    return f"{EPISODES_DIR}/ep_{index:06d}.npz"


@dataclass
class EpisodeRecord:
    """One manifest entry: where an episode's shard is and what it must contain.

    Attributes:
        index: episode id, unique in the dataset (the collect order; stable across resumes).
        file: shard path relative to the dataset root.
        sha256: hex digest of the shard file.
        bytes: size of the shard file.
        length: T, the number of steps (the shard holds T + 1 frames).
        frame_size: [H, W] of this episode's frames.
        info: free-form facts (seed, policy, return, source file, ...).
    """

    index: int
    file: str
    sha256: str
    bytes: int
    length: int
    frame_size: list[int]
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def num_frames(self) -> int:
        """T + 1."""
        return self.length + 1


@dataclass
class Manifest:
    """The ``manifest.json`` of a dataset (or of a latent cache).

    Attributes:
        env: ``{"id": gymnasium id or source name, "params": kwargs it was made with}``.
        action_schema: ``{"name": ..., "flat_dim": D}``; the canonical one is
            ``{"name": "simworld.actions", "flat_dim": 21}``.
        frames_encoding: one of ``FRAME_ENCODINGS``.
        ground_truth: which of ``GROUND_TRUTH_KEYS`` every shard holds.
        source: how the data was made (the collect config, or the importer and its inputs).
        created: ``{"simworld_version", "time"}`` of the first write.
        episodes: the finished episodes, sorted by index.
        schema: ``DATASET_SCHEMA`` or ``LATENTS_SCHEMA``.
        format_version: ``FORMAT_VERSION``.
        latent: latent caches only: ``{"encoder", "shape": [C, h, w], "dtype"}``.
    """

    env: dict[str, Any]
    action_schema: dict[str, Any]
    frames_encoding: str = "npz"
    ground_truth: list[str] = field(default_factory=list)
    source: dict[str, Any] = field(default_factory=dict)
    created: dict[str, Any] = field(default_factory=dict)
    episodes: list[EpisodeRecord] = field(default_factory=list)
    schema: str = DATASET_SCHEMA
    format_version: int = FORMAT_VERSION
    latent: dict[str, Any] | None = None

    @property
    def frame_sizes(self) -> list[list[int]]:
        """The distinct [H, W] of the episodes, sorted."""
        return [list(size) for size in sorted({tuple(r.frame_size) for r in self.episodes})]

    @property
    def flat_dim(self) -> int:
        """D, the width of the ``actions`` arrays."""
        return int(self.action_schema["flat_dim"])

    def header(self) -> dict[str, Any]:
        """What must agree between a resumed run and the existing dataset (no episodes, no time)."""
        return {
            "schema": self.schema,
            "env": self.env,
            "action_schema": self.action_schema,
            "frames_encoding": self.frames_encoding,
            "ground_truth": sorted(self.ground_truth),
            "source": self.source,
            "latent": self.latent,
        }

    def to_json(self) -> dict[str, Any]:
        """The JSON object written to ``manifest.json``."""
        out = {
            "schema": self.schema,
            "format_version": self.format_version,
            "env": self.env,
            "action_schema": self.action_schema,
            "frames_encoding": self.frames_encoding,
            "frame_sizes": [list(s) for s in self.frame_sizes],
            "ground_truth": sorted(self.ground_truth),
            "source": self.source,
            "created": self.created,
            "num_episodes": len(self.episodes),
            "num_steps": sum(r.length for r in self.episodes),
        }
        if self.latent is not None:
            out["latent"] = self.latent
        out["episodes"] = [asdict(r) for r in sorted(self.episodes, key=lambda r: r.index)]
        return out


def canonical_action_schema() -> dict[str, Any]:
    """``action_schema`` of the canonical flat action."""
    return {"name": CANONICAL_ACTION_SCHEMA, "flat_dim": A.FLAT_DIM}


def atomic_write_bytes(path: str | Path, data: bytes) -> None:
    """Write ``data`` to ``path`` so that readers see the old file or the whole new one.

    The bytes go to a temporary file beside ``path`` (name starting with ``.``, ending ``.tmp``),
    are flushed to disk, and the file is renamed over ``path``.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o644)  # mkstemp creates 0600 files
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def save_manifest(root: str | Path, manifest: Manifest) -> None:
    """Write ``<root>/manifest.json`` atomically (one line per episode, to keep it readable)."""
    data = manifest.to_json()
    episodes = data.pop("episodes")
    head = json.dumps(data, indent=1, default=json_default)
    lines = [json.dumps(entry, default=json_default) for entry in episodes]
    body = "[\n  " + ",\n  ".join(lines) + "\n ]" if lines else "[]"
    text = f'{head[:-2]},\n "episodes": {body}\n}}\n'
    atomic_write_bytes(Path(root) / MANIFEST_NAME, text.encode())


def json_default(value: Any) -> Any:
    """``json.dumps`` ``default=`` hook: NumPy scalars and arrays to Python values, paths to str."""
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"not JSON-serialisable: {type(value).__name__}")


def jsonable(value: Any) -> Any:
    """``value`` as it reads back from JSON: tuples become lists, NumPy values Python ones."""
    return json.loads(json.dumps(value, default=json_default))


def load_manifest(root: str | Path, schemas: Iterable[str] = (DATASET_SCHEMA,)) -> Manifest:
    """Read and check ``<root>/manifest.json``.

    Args:
        root: the dataset folder.
        schemas: accepted ``schema`` values.

    Returns:
        The manifest, episodes sorted by index.

    Raises:
        FileNotFoundError: ``root`` or its manifest does not exist.
        ValueError: the manifest is not JSON, has another schema or format version, or lacks keys.
    """
    root = Path(root)
    schemas = tuple(schemas)
    if not root.is_dir():
        raise FileNotFoundError(f"dataset folder {root} does not exist (or is not a folder)")
    path = root / MANIFEST_NAME
    if not path.is_file():
        raise FileNotFoundError(f"{root} is not a simworld dataset: {path} does not exist")
    try:
        data = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ValueError(f"{path} is not valid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise ValueError(f"{path} must hold a JSON object, found {type(data).__name__}")
    if data.get("schema") not in schemas:
        raise ValueError(f"{path} has schema {data.get('schema')!r}; expected one of {list(schemas)}")
    if data.get("format_version") != FORMAT_VERSION:
        raise ValueError(
            f"{path} has format_version {data.get('format_version')!r}; this simworld reads "
            f"format_version {FORMAT_VERSION} only"
        )
    required = ("env", "action_schema", "frames_encoding", "episodes")
    missing = [key for key in required if key not in data]
    if missing:
        raise ValueError(f"{path} lacks keys {missing}; a manifest needs {list(required)}")
    if data["frames_encoding"] not in FRAME_ENCODINGS:
        raise ValueError(
            f"{path} has frames_encoding {data['frames_encoding']!r}; expected one of {list(FRAME_ENCODINGS)}"
        )
    try:
        episodes = [EpisodeRecord(**entry) for entry in data["episodes"]]
    except TypeError as exc:
        raise ValueError(f"{path}: malformed episode entry: {exc}") from None
    return Manifest(
        env=data["env"],
        action_schema=data["action_schema"],
        frames_encoding=data["frames_encoding"],
        ground_truth=list(data.get("ground_truth", [])),
        source=data.get("source", {}),
        created=data.get("created", {}),
        episodes=sorted(episodes, key=lambda r: r.index),
        schema=data["schema"],
        format_version=data["format_version"],
        latent=data.get("latent"),
    )


# ------------------------------------------------------------------------------- episode arrays

_STEP_DTYPES = {"rewards": "float32", "terminated": "bool", "truncated": "bool"}
"""Per-step arrays of shape (T,) and their dtypes."""


def check_episode(
    arrays: Mapping[str, np.ndarray],
    flat_dim: int,
    frame_size: Iterable[int] | None = None,
    ground_truth: Iterable[str] = (),
    frames_key: str = "frames",
) -> list[str]:
    """Check the arrays of one decoded episode against the format; return the problems found.

    Documented layout (T >= 1 steps, H × W frames, D = ``flat_dim``):
    ``frames`` uint8 (T+1, H, W, 3); ``actions`` float32 (T, D); ``raw_actions`` str (T,);
    ``rewards`` float32 (T,); ``terminated``, ``truncated`` bool (T,); optional ``pose`` float64
    (T+1, 5), ``intrinsics`` float64 (3, 3), ``depth`` float16 (T+1, H, W); ``extra_*`` with
    leading dim T. Latent caches hold ``latents`` (T+1, C, h, w) float instead of frames.

    Args:
        arrays: name -> array, as ``simworld.data.shards.decode_shard`` returns them.
        flat_dim: D.
        frame_size: expected [H, W], or None to accept any.
        ground_truth: ground-truth keys that must be present.
        frames_key: "frames" (datasets) or "latents" (latent caches).

    Returns:
        Human-readable problems; empty when the episode is valid.
    """
    problems = []
    required = (frames_key, "actions", "raw_actions", *_STEP_DTYPES, *ground_truth)
    missing = [name for name in required if name not in arrays]
    if missing:
        return [f"missing arrays {missing}; found {sorted(arrays)}"]
    frames, actions = arrays[frames_key], arrays["actions"]
    if frames_key == "frames":
        if frames.dtype != np.uint8 or frames.ndim != 4 or frames.shape[-1] != 3:
            problems.append(f"frames must be uint8 (T+1, H, W, 3), found {frames.dtype} {frames.shape}")
        elif frame_size is not None and tuple(frames.shape[1:3]) != tuple(frame_size):
            H, W = tuple(frame_size)
            problems.append(
                f"frames are {frames.shape[1]}x{frames.shape[2]} (HxW) but the manifest says {H}x{W}"
            )
    elif frames.ndim != 4 or frames.dtype.kind != "f":
        problems.append(f"latents must be float (T+1, C, h, w), found {frames.dtype} {frames.shape}")
    T = len(frames) - 1
    if T < 1:
        problems.append(f"an episode needs at least 2 frames, found {len(frames)}")
    if actions.dtype != np.float32 or actions.shape != (T, flat_dim):
        problems.append(
            f"actions must be float32 (T, {flat_dim}) = ({T}, {flat_dim}) for {T + 1} frames, "
            f"found {actions.dtype} {actions.shape}"
        )
    raw = arrays["raw_actions"]
    if raw.dtype.kind != "U" or raw.shape != (T,):
        problems.append(f"raw_actions must be str ({T},), found {raw.dtype} {raw.shape}")
    for name, dtype in _STEP_DTYPES.items():
        if arrays[name].dtype != np.dtype(dtype) or arrays[name].shape != (T,):
            problems.append(f"{name} must be {dtype} ({T},), found {arrays[name].dtype} {arrays[name].shape}")
    specs = {"pose": ("float64", (T + 1, 5)), "intrinsics": ("float64", (3, 3))}
    if frames_key == "frames" and frames.ndim == 4:
        specs["depth"] = ("float16", (T + 1, *frames.shape[1:3]))
    for name, (dtype, shape) in specs.items():
        if name in arrays and (arrays[name].dtype != np.dtype(dtype) or arrays[name].shape != shape):
            problems.append(
                f"{name} must be {dtype} {shape}, found {arrays[name].dtype} {arrays[name].shape}"
            )
    for name, array in arrays.items():
        if name.startswith(EXTRA_PREFIX) and (array.ndim < 1 or len(array) != T):
            problems.append(f"{name} must have leading dim T = {T}, found shape {array.shape}")
    return problems
