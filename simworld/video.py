"""Video and GIF files of frame sequences (rollouts, probes, reports), written atomically."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Sequence
from pathlib import Path

import imageio.v3 as iio
import numpy as np

VIDEO_SUFFIXES = (".mp4", ".gif")


def _prepare(frames: Sequence[np.ndarray] | np.ndarray, scale: int) -> np.ndarray:
    video = np.asarray(frames)
    if video.ndim != 4 or video.shape[-1] != 3 or video.dtype != np.uint8:
        raise ValueError(f"frames must be uint8 (T, H, W, 3), got {video.dtype} {video.shape}")
    if len(video) == 0:
        raise ValueError("no frames to write")
    return upscale(video, scale)


def upscale(video: np.ndarray, scale: int) -> np.ndarray:
    """Nearest-neighbour upscaling of (T, H, W, C) frames by an integer ``scale`` (keeps pixels sharp).

    Raises:
        ValueError: ``scale`` < 1.
    """
    if scale < 1:
        raise ValueError(f"scale must be an integer >= 1, got {scale}")
    return video.repeat(scale, axis=1).repeat(scale, axis=2) if scale > 1 else video


def side_by_side(*videos: np.ndarray, gap: int = 2) -> np.ndarray:
    """Put uint8 (T, H, W_i, 3) videos next to each other, cut to the shortest, ``gap`` white columns apart.

    Raises:
        ValueError: no videos, or videos of different heights.
    """
    if not videos:
        raise ValueError("side_by_side needs at least one video")
    T = min(len(v) for v in videos)
    heights = {v.shape[1] for v in videos}
    if len(heights) != 1:
        raise ValueError(f"videos placed side by side need one height, got {sorted(heights)}")
    sep = np.full((T, heights.pop(), gap, 3), 255, np.uint8)
    parts = [part for v in videos for part in (sep, v[:T])][1:]
    return np.concatenate(parts, axis=2)


GIVEN_COLOR = (40, 200, 40)  # a frame the caller supplied
GENERATED_COLOR = (230, 120, 20)  # a frame the model produced


def mark_frames(video: np.ndarray, given: Sequence[bool] | np.ndarray, width: int = 1) -> np.ndarray:
    """Frame each image in a ``width``-pixel border: green where ``given[t]``, orange where generated.

    The border is drawn over the outer pixels (the size does not change), so upscale first
    (``write_video(..., scale)``) or pass a small ``width``.
    """
    given = np.asarray(given, bool)
    if video.ndim != 4 or len(given) != len(video):
        raise ValueError(f"need one flag per frame: video {video.shape}, {len(given)} flags")
    out = video.copy()
    colors = np.where(given[:, None], GIVEN_COLOR, GENERATED_COLOR).astype(np.uint8)[:, None, None]
    for edge in (np.s_[:, :width], np.s_[:, -width:], np.s_[:, :, :width], np.s_[:, :, -width:]):
        out[edge] = colors  # top, bottom, left, right
    return out


def write_video(
    path: str | Path, frames: Sequence[np.ndarray] | np.ndarray, fps: float = 20.0, scale: int = 1
) -> Path:
    """Write frames to an .mp4 (H.264, yuv420p) or an animated .gif; the file appears only when complete.

    Args:
        path: destination; its suffix chooses the format.
        frames: uint8 (T, H, W, 3).
        fps: frames per second.
        scale: integer nearest-neighbour upscaling factor (small frames are easier to look at).

    A GIF merges identical consecutive frames into one longer-lasting frame (Pillow's encoder does
    this), so it plays the same but may read back with fewer frames; use .mp4 to keep the count.

    Returns:
        The path written.

    Raises:
        ValueError: unknown suffix, or frames of the wrong dtype or shape.
    """
    path = Path(path)
    if path.suffix not in VIDEO_SUFFIXES:
        raise ValueError(f"unknown video suffix {path.suffix!r}; valid: {', '.join(VIDEO_SUFFIXES)}")
    video = _prepare(frames, scale)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}.", suffix=path.suffix)
    os.close(fd)
    try:
        if path.suffix == ".gif":
            iio.imwrite(tmp, video, extension=".gif", duration=1000.0 / fps, loop=0)
        else:
            # yuv420p needs even sides: pad by edge replication rather than resample
            h, w = video.shape[1:3]
            video = np.pad(video, ((0, 0), (0, h % 2), (0, w % 2), (0, 0)), mode="edge")
            iio.imwrite(
                tmp,
                video,
                extension=".mp4",
                plugin="pyav",
                codec="libx264",
                fps=fps,
                out_pixel_format="yuv420p",
            )
        os.chmod(tmp, 0o644)  # mkstemp creates 0600 files
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return path


def read_video(path: str | Path) -> np.ndarray:
    """Read a video or GIF back as uint8 (T, H, W, 3)."""
    frames = iio.imread(path, index=None)
    return np.asarray(frames)[..., :3]
