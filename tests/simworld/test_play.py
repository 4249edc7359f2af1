"""``simworld play``: input mapping, the side-by-side session, and the pygame loop on a dummy screen."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from simworld import actions as A
from simworld.play import PlayConfig, PlaySession, action_from_input, run_play
from simworld.testing import build_tiny_checkpoint
from simworld.video import read_video

pygame = pytest.importorskip("pygame")


def test_keys_and_mouse_map_to_minecraft_controls() -> None:
    act = action_from_input({"w", "space", "left ctrl"}, {1}, mouse_rel=(20, -10), hotbar=3)
    assert act["forward"] == act["jump"] == act["sprint"] == act["attack"] == 1
    assert act["back"] == act["use"] == act["sneak"] == 0 and act["hotbar"] == 3
    pitch, yaw = act["camera"]
    assert yaw == pytest.approx(20 * 0.15) and pitch == pytest.approx(-10 * 0.15)  # right: yaw +, up: pitch -
    arrows = action_from_input({"right", "down"}, arrow_step_deg=5.0)
    assert tuple(arrows["camera"]) == (5.0, 5.0)
    assert A.to_flat(action_from_input(set())).tolist() == A.to_flat(A.noop()).tolist()


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_checkpoint(
        tmp_path_factory.mktemp("play") / "tiny", frame_size=(32, 32), num_contexts=0
    )


def test_session_starts_both_worlds_from_the_same_real_frames(ckpt: Path) -> None:
    session = PlaySession(PlayConfig(checkpoint=str(ckpt), scale=2, context_frames=3))
    try:
        session.reset()
        # the learned world's first frame is the real world's frame: same start
        assert np.array_equal(session.frames["learned"], session.frames["real"])
        player = session.real.unwrapped.world.player
        start = player[:3].copy()
        for _ in range(10):
            session.step(action_from_input({"w"}))
        assert np.linalg.norm(player[:3] - start) > 1.0  # the real world walked forward
        assert session.titles() == ["learned", "real"]
        assert session.picture().shape == (64, 2 * (32 + 32 + 1), 3)
        assert not np.array_equal(session.frames["learned"], session.frames["real"])  # random weights
    finally:
        session.close()


def test_pygame_loop_records_what_it_showed(
    ckpt: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SDL_VIDEODRIVER", "dummy")
    monkeypatch.setenv("SDL_AUDIODRIVER", "dummy")
    out = tmp_path / "session.gif"
    steps = run_play(PlayConfig(checkpoint=str(ckpt), scale=2, max_steps=4, fps=1000, record=str(out)))
    assert steps == 4
    video = read_video(out)
    assert video.shape == (5, 64, 130, 3)  # the start + 4 steps, learned | real


def test_bad_settings_name_the_valid_values() -> None:
    with pytest.raises(ValueError, match=r"\.mp4 or \.gif"):
        PlayConfig(record="session.avi")
