"""Import real Minecraft recordings into a dataset: OpenAI VPT contractor data and MineRL v0.4.

**VPT** (openai/Video-Pre-Training, README "Data format", ``data_loader.py``): per segment a
``<name>.mp4`` (20 Hz, 640×360) and a ``<name>.jsonl`` with one JSON action record per video
frame; VPT pairs frame i with record i, the action taken while frame i was shown. Here record i
becomes ``actions[i]``, the action that leads from frame i to frame i+1, so N frames give
T = N - 1 steps and the last record (it has no next frame) is dropped. Records go through
``simworld.action_formats.from_vpt_jsonl_records`` (camera = [dy, dx] · 360/2400 degrees, the
stuck-attack fix, the hotbar field); VPT's null actions are kept (a world model needs the frames
in between) and flagged in ``extra_vpt_null``. Segments end without a terminal state:
``truncated[-1]`` is True. If video and jsonl disagree in length, the shorter one wins (VPT's
loader also stops at the last readable frame).

**MineRL v0.4** (minerllabs/minerl ``minerl/data/pipeline/publish.py`` and
``minerl/data/data_pipeline.py``): per episode a folder with ``recording.mp4``, ``rendered.npz``
and ``metadata.json``. ``rendered.npz`` holds ``reward`` (N,), one ``action$<key>`` array per
action key (N, ...; ``action$camera`` is (N, 2) [pitch, yaw] degrees) and ``observation$*``
arrays (N + 1, ...): N actions for N + 1 states. As MineRL's loader does, the video is aligned by
its end: the first ``true_video_frame_count - (N + 1)`` frames are skipped, and the last state's
frame is replaced by the one before it (``keep_last_frame=True`` keeps the video's own).
Actions map through ``from_minerl(..., "0.4")``; the enum actions ``place, equip, craft,
nearbyCraft, nearbySmelt`` have no canonical equivalent and are dropped (counted in the episode's
``lossy_steps``; ``strict`` raises instead). ``terminated[-1]`` is MineRL's final ``done``.

Both keep each step's original record as JSON in ``raw_actions``.
"""

from __future__ import annotations

import json
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from tqdm.auto import tqdm

from simworld import actions as A
from simworld.action_formats import LossyActionWarning, from_minerl, from_vpt_jsonl_records
from simworld.data.format import FRAME_ENCODINGS, Manifest, canonical_action_schema, jsonable
from simworld.data.shards import decode_video
from simworld.data.writer import DatasetWriter

IMPORT_FORMATS = ("vpt", "minerl04")
MINERL_ACTION_PREFIX = "action$"


@dataclass
class ImportConfig:
    """Import VPT contractor data or MineRL v0.4 recordings into a dataset.

    Attributes:
        format: vpt (folder of <name>.mp4 + <name>.jsonl) or minerl04 (folders holding
            recording.mp4 + rendered.npz + metadata.json, found recursively).
        src: the folder to import from (required).
        out: the dataset folder to write (required); rerunning resumes (episodes matched by source path).
        frame_size: [H, W] to resize frames to (OpenCV, area filter when shrinking); null keeps them.
        encoding: frames encoding, npz (lossless) or mp4.
        fix_stuck_attack: vpt only: VPT's workaround for recordings starting with attack held.
        keep_last_frame: minerl04 only: keep the video's last frame instead of MineRL's repeat.
        allow_pickle: minerl04 only: let rendered.npz hold pickled object arrays (runs code from the file).
        strict: raise on actions the canonical schema cannot hold instead of counting them.
        progress: show a progress bar over episodes.
    """

    format: str = "vpt"
    src: str = ""
    out: str = ""
    frame_size: list[int] | None = None
    encoding: str = "npz"
    fix_stuck_attack: bool = True
    keep_last_frame: bool = False
    allow_pickle: bool = False
    strict: bool = False
    progress: bool = True

    def __post_init__(self) -> None:
        if self.format not in IMPORT_FORMATS:
            raise ValueError(f"format must be one of {list(IMPORT_FORMATS)}, got {self.format!r}")
        if self.encoding not in FRAME_ENCODINGS:
            raise ValueError(f"encoding must be one of {list(FRAME_ENCODINGS)}, got {self.encoding!r}")
        if self.frame_size is not None and (len(self.frame_size) != 2 or min(self.frame_size) < 1):
            raise ValueError(f"frame_size must be [H, W] with positive sides, got {self.frame_size}")


def resize_frames(frames: np.ndarray, frame_size: list[int] | None) -> np.ndarray:
    """Resize uint8 (N, H, W, 3) frames to ``frame_size`` [H, W] (None: unchanged)."""
    if frame_size is None or list(frames.shape[1:3]) == list(frame_size):
        return frames
    import cv2

    H, W = frame_size
    shrink = H * W < frames.shape[1] * frames.shape[2]
    interpolation = cv2.INTER_AREA if shrink else cv2.INTER_LINEAR
    return np.stack([cv2.resize(frame, (W, H), interpolation=interpolation) for frame in frames])


def _convert(convert, strict: bool) -> tuple[Any, int]:
    """Run ``convert()`` counting LossyActionWarnings (``strict``: they are ValueErrors already)."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", LossyActionWarning)
        result = convert()
    others = [w for w in caught if not issubclass(w.category, LossyActionWarning)]
    for w in others:
        warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    return result, len(caught) - len(others)


# ----------------------------------------------------------------------------------------- VPT


def find_vpt_episodes(src: str | Path) -> list[Path]:
    """The ``.mp4`` files under ``src`` that have a ``.jsonl`` beside them, sorted.

    Raises:
        FileNotFoundError: ``src`` does not exist or holds no such pair.
    """
    src = Path(src)
    if not src.is_dir():
        raise FileNotFoundError(f"VPT source folder {src} does not exist")
    videos = sorted(p for p in src.rglob("*.mp4") if p.with_suffix(".jsonl").is_file())
    if not videos:
        raise FileNotFoundError(
            f"no VPT episodes in {src}: expected <name>.mp4 files with <name>.jsonl beside them"
        )
    return videos


def read_vpt_jsonl(path: str | Path) -> list[dict[str, Any]]:
    """Parse a VPT action file (one JSON object per line; blank lines skipped)."""
    with open(path) as fh:
        return [json.loads(line) for line in fh if line.strip()]


def read_vpt_episode(
    video: str | Path,
    *,
    frame_size: list[int] | None = None,
    fix_stuck_attack: bool = True,
    strict: bool = False,
) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """Read one VPT segment (``video`` and the ``.jsonl`` beside it) as episode arrays + info."""
    video = Path(video)
    records = read_vpt_jsonl(video.with_suffix(".jsonl"))
    frames = decode_video(video)
    n = min(len(frames), len(records))
    if n < 2:
        raise ValueError(
            f"{video}: {len(frames)} frames and {len(records)} jsonl records; an episode needs >= 2"
        )
    (actions, is_null), lossy = _convert(
        lambda: from_vpt_jsonl_records(records[:n], fix_stuck_attack=fix_stuck_attack, strict=strict), strict
    )
    T = n - 1
    truncated = np.zeros(T, bool)
    truncated[-1] = True
    arrays = {
        "frames": resize_frames(frames[:n], frame_size),
        "actions": A.to_flat_batch(actions[:T]),
        "raw_actions": np.array([json.dumps(r, separators=(",", ":")) for r in records[:T]]),
        "rewards": np.zeros(T, np.float32),
        "terminated": np.zeros(T, bool),
        "truncated": truncated,
        "extra_vpt_null": np.asarray(is_null[:T], bool),
    }
    info = {
        "video_frames": len(frames),
        "jsonl_records": len(records),
        "lossy_steps": lossy,
        "source_frame_size": list(frames.shape[1:3]),
    }
    return arrays, info


# -------------------------------------------------------------------------------------- MineRL


def find_minerl_episodes(src: str | Path) -> list[Path]:
    """Folders under ``src`` (itself included) holding ``rendered.npz`` and ``recording.mp4``, sorted.

    Raises:
        FileNotFoundError: ``src`` does not exist or holds no episode.
    """
    src = Path(src)
    if not src.is_dir():
        raise FileNotFoundError(f"MineRL source folder {src} does not exist")
    folders = sorted(p.parent for p in src.rglob("rendered.npz") if (p.parent / "recording.mp4").is_file())
    if not folders:
        raise FileNotFoundError(
            f"no MineRL v0.4 episodes in {src}: expected folders with rendered.npz and recording.mp4"
        )
    return folders


def load_minerl_rendered(path: Path, allow_pickle: bool = False) -> tuple[dict[str, np.ndarray], list[str]]:
    """Load ``rendered.npz``; return its arrays and the sorted ``action$*`` keys.

    Raises:
        ValueError: no ``reward`` array, no action arrays, action arrays whose length is not
            ``len(reward)``, or object arrays without ``allow_pickle``.
    """
    try:
        with np.load(path, allow_pickle=allow_pickle) as npz:
            state = {key: npz[key] for key in npz.files}
    except ValueError as exc:
        raise ValueError(f"{path}: {exc} (set allow_pickle=true if you trust the file)") from None
    if "reward" not in state:
        raise ValueError(f"{path} has no 'reward' array; keys: {sorted(state)}")
    N = len(state["reward"])
    keys = sorted(k for k in state if k.startswith(MINERL_ACTION_PREFIX))
    wrong = {k: len(state[k]) for k in keys if len(state[k]) != N}
    if N < 1 or not keys or wrong:
        raise ValueError(
            f"{path}: expected action$* arrays of length N = len(reward) = {N}; found {wrong or 'none'}"
        )
    return state, keys


def read_minerl04_episode(
    folder: str | Path,
    *,
    frame_size: list[int] | None = None,
    keep_last_frame: bool = False,
    allow_pickle: bool = False,
    strict: bool = False,
) -> tuple[dict[str, np.ndarray], dict]:
    """Read one MineRL v0.4 episode folder as episode arrays + info (module docstring)."""
    folder = Path(folder)
    state, keys = load_minerl_rendered(folder / "rendered.npz", allow_pickle)
    N = len(state["reward"])
    meta_path = folder / "metadata.json"
    meta = json.loads(meta_path.read_text()) if meta_path.is_file() else {}
    video = decode_video(folder / "recording.mp4")
    total = int(meta.get("true_video_frame_count", len(video)))
    states = N + 1
    if total < states or len(video) < total:
        raise ValueError(
            f"{folder}: {N} actions need {states} frames; the video has {len(video)} and "
            f"true_video_frame_count is {total}"
        )
    frames = video[total - states : total].copy()
    if not keep_last_frame:
        frames[-1] = frames[-2]  # as MineRL's data_pipeline.py does for the final state
    steps = [{k[len(MINERL_ACTION_PREFIX) :]: state[k][t] for k in keys} for t in range(N)]
    actions, lossy = _convert(lambda: [from_minerl(step, "0.4", strict=strict) for step in steps], strict)
    terminated = np.zeros(N, bool)
    terminated[-1] = True
    arrays = {
        "frames": resize_frames(frames, frame_size),
        "actions": A.to_flat_batch(actions),
        "raw_actions": np.array([json.dumps(jsonable(step), separators=(",", ":")) for step in steps]),
        "rewards": np.asarray(state["reward"], np.float32),
        "terminated": terminated,
        "truncated": np.zeros(N, bool),
    }
    info = {
        "environment": folder.parent.name,
        "video_frames": len(video),
        "skipped_frames": total - states,
        "lossy_steps": lossy,
        "source_frame_size": list(video.shape[1:3]),
        "return": float(np.sum(state["reward"])),
    }
    return arrays, info


# --------------------------------------------------------------------------------------- import


def _import_header(cfg: ImportConfig, src: Path) -> Manifest:
    if cfg.format == "vpt":
        options = {"frame_size": cfg.frame_size, "fix_stuck_attack": cfg.fix_stuck_attack}
        env = {"id": "openai/vpt-contractor", "params": options}
    else:
        options = {"frame_size": cfg.frame_size, "keep_last_frame": cfg.keep_last_frame}
        env = {"id": "minerl-v0.4", "params": options}
    source = {"kind": "import", "format": cfg.format, "src": str(src)}
    return Manifest(
        env=env, action_schema=canonical_action_schema(), frames_encoding=cfg.encoding, source=source
    )


def _read_episode(cfg: ImportConfig, path: Path) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    if cfg.format == "vpt":
        return read_vpt_episode(
            path, frame_size=cfg.frame_size, fix_stuck_attack=cfg.fix_stuck_attack, strict=cfg.strict
        )
    return read_minerl04_episode(
        path,
        frame_size=cfg.frame_size,
        keep_last_frame=cfg.keep_last_frame,
        allow_pickle=cfg.allow_pickle,
        strict=cfg.strict,
    )


def import_dataset(cfg: ImportConfig) -> list[int]:
    """Import every episode found in ``cfg.src`` into ``cfg.out`` (resuming); return new indices.

    Raises:
        FileNotFoundError: ``cfg.src`` does not exist or holds no episode of the format.
        ValueError: an episode's files disagree with the published format, or ``cfg.out`` holds
            a dataset made with other settings.
    """
    if not cfg.src or not cfg.out:
        raise ValueError(
            f"set both src=<folder to import> and out=<dataset folder>; got src={cfg.src!r}, out={cfg.out!r}"
        )
    src = Path(cfg.src).resolve()
    found = find_vpt_episodes(src) if cfg.format == "vpt" else find_minerl_episodes(src)
    writer = DatasetWriter(cfg.out, _import_header(cfg, src))
    writer.remove_temporary_files()
    kept = set(writer.verify_existing())
    by_source = {r.info.get("source"): r.index for r in writer.manifest.episodes if r.index in kept}
    next_index = max(by_source.values(), default=-1) + 1
    new = []
    t0 = time.perf_counter()
    for path in tqdm(found, desc=f"import {cfg.format}", unit="ep", disable=not cfg.progress):
        relative = str(path.relative_to(src))
        if relative in by_source:
            continue
        arrays, info = _read_episode(cfg, path)
        writer.write(next_index, arrays, {"source": relative, **info})
        new.append(next_index)
        next_index += 1
    if cfg.progress:
        print(
            f"imported {len(new)} episodes ({len(found) - len(new)} already present) into {cfg.out} "
            f"in {time.perf_counter() - t0:.1f}s"
        )
    return new
