"""Frame-sequence helpers of ``simworld.video``: side-by-side layout, given/generated borders, files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from simworld.video import GENERATED_COLOR, GIVEN_COLOR, mark_frames, read_video, side_by_side, write_video


def video(T: int, H: int, W: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (T, H, W, 3), dtype=np.uint8)


def test_side_by_side_cuts_to_the_shortest_and_separates_with_white() -> None:
    a, b = video(5, 8, 6), video(3, 8, 4, seed=1)
    out = side_by_side(a, b, gap=3)
    assert out.shape == (3, 8, 6 + 3 + 4, 3)
    assert np.array_equal(out[:, :, :6], a[:3]) and np.array_equal(out[:, :, 9:], b)
    assert (out[:, :, 6:9] == 255).all()
    with pytest.raises(ValueError, match="one height"):
        side_by_side(a, video(3, 4, 4))
    with pytest.raises(ValueError, match="at least one"):
        side_by_side()


def test_mark_frames_colours_the_border_by_frame_kind() -> None:
    v = video(3, 10, 12)
    out = mark_frames(v, [True, False, True], width=2)
    assert out.shape == v.shape and np.array_equal(out[:, 2:-2, 2:-2], v[:, 2:-2, 2:-2])  # inside untouched
    for t, color in enumerate((GIVEN_COLOR, GENERATED_COLOR, GIVEN_COLOR)):
        for edge in (out[t, :2], out[t, -2:], out[t, :, :2], out[t, :, -2:]):
            assert (edge == color).all()
    assert not np.shares_memory(out, v)
    with pytest.raises(ValueError, match="one flag per frame"):
        mark_frames(v, [True])


@pytest.mark.parametrize("suffix", [".gif", ".mp4"])
def test_write_video_round_trip(tmp_path: Path, suffix: str) -> None:
    v = np.zeros((4, 6, 10, 3), np.uint8)
    v[:, :, :5] = (50 * np.arange(1, 5))[:, None, None, None]  # flat halves survive H.264 nearly unchanged
    path = write_video(tmp_path / f"clip{suffix}", v, fps=10, scale=2)
    back = read_video(path)
    assert back.shape == (4, 12, 20, 3)
    assert np.abs(back.astype(int) - v.repeat(2, 1).repeat(2, 2)).mean() < 3
    assert not list(tmp_path.glob(".clip*"))  # the temporary file is gone
    with pytest.raises(ValueError, match="unknown video suffix"):
        write_video(tmp_path / "clip.avi", v)
