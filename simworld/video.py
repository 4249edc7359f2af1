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
    if scale < 1:
        raise ValueError(f"scale must be an integer >= 1, got {scale}")
    if scale > 1:
        video = video.repeat(scale, axis=1).repeat(scale, axis=2)  # nearest neighbour: keeps pixels sharp
    return video


def write_video(
    path: str | Path, frames: Sequence[np.ndarray] | np.ndarray, fps: float = 20.0, scale: int = 1
) -> Path:
    """Write frames to an .mp4 (H.264, yuv420p) or an animated .gif; the file appears only when complete.

    Args:
        path: destination; its suffix chooses the format.
        frames: uint8 (T, H, W, 3).
        fps: frames per second.
        scale: integer nearest-neighbour upscaling factor (small frames are easier to look at).

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
