"""Importers: small files in exactly the published VPT and MineRL v0.4 formats, checked frame by frame.

Each video frame is one flat colour that encodes its index, so which video frame became which
dataset frame survives H.264 and resizing.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from simworld import actions as A
from simworld.data.format import load_manifest
from simworld.data.importers import ImportConfig, import_dataset
from simworld.data.shards import read_shard
from simworld.data.validate import validate_dataset
from simworld.video import write_video


def colour(i: int) -> np.ndarray:
    return np.array([(40 * i) % 256, 255 - (25 * i) % 256, 100], np.uint8)


def write_frames(path: Path, count: int, height: int, width: int, first: int = 0) -> None:
    frames = np.stack([np.broadcast_to(colour(first + i), (height, width, 3)) for i in range(count)])
    write_video(path, frames, fps=20.0)


def frame_ids(frames: np.ndarray, candidates: int) -> list[int]:
    """Which colour index each (flat) frame shows."""
    table = np.stack([colour(i) for i in range(candidates)]).astype(int)
    means = frames.reshape(len(frames), -1, 3).mean(axis=1)
    return [int(np.argmin(np.abs(table - m).sum(axis=1))) for m in means]


# ----------------------------------------------------------------------------------------- VPT


def vpt_record(keys=(), dx=0.0, dy=0.0, buttons=(), new_buttons=(), hotbar=0, tick=0) -> dict:
    """One line of a VPT 7.x action file (README "Data format"), with every published field."""
    return {
        "mouse": {
            "x": 640.0,
            "y": 360.0,
            "dx": dx,
            "dy": dy,
            "scaledX": 0.0,
            "scaledY": 0.0,
            "dwheel": 0.0,
            "buttons": list(buttons),
            "newButtons": list(new_buttons),
        },
        "keyboard": {"keys": list(keys), "newKeys": [], "chars": ""},
        "isGuiOpen": False,
        "isGuiInventory": False,
        "hotbar": hotbar,
        "yaw": 10.0,
        "pitch": 0.0,
        "xpos": 841.36,
        "ypos": 63.0,
        "zpos": 24.95,
        "tick": tick,
        "milli": 1649575088006 + 50 * tick,
        "inventory": [],
        "serverTick": 6001 + tick,
        "serverTickDurationMs": 36.3,
        "stats": {},
    }


W, S, SPACE, SHIFT = "key.keyboard.w", "key.keyboard.s", "key.keyboard.space", "key.keyboard.left.shift"
VPT_RECORDS = [
    vpt_record(buttons=[0], new_buttons=[0]),  # attack stuck down from the start
    vpt_record(keys=[W], dx=24.0, dy=-16.0, buttons=[0]),  # still stuck: no attack
    vpt_record(keys=[W, SPACE, SHIFT], buttons=[0], new_buttons=[0]),  # pressed again: attack is real
    vpt_record(keys=["key.keyboard.e", S], hotbar=3),  # inventory key (dropped), slot 4 by field
    vpt_record(keys=["key.keyboard.a", "key.keyboard.2"], hotbar=3),  # digit key 2 held
    vpt_record(dx=-120.0, dy=7.5, buttons=[1], hotbar=3),  # use; camera pitch +1.125, yaw -18
    vpt_record(hotbar=3),  # a null action
    vpt_record(keys=["key.keyboard.d"], dx=3000.0, hotbar=3),  # 450 deg: VPT zeroes it
]
#: (keys held, camera [pitch, yaw] degrees, hotbar) of the first 7 records (the 8th has no next frame)
VPT_EXPECTED = [
    ({}, (0.0, 0.0), 0),
    ({"forward"}, (-2.4, 3.6), 0),
    ({"forward", "jump", "sneak", "attack"}, (0.0, 0.0), 0),
    ({"back"}, (0.0, 0.0), 4),
    ({"left"}, (0.0, 0.0), 2),
    ({"use"}, (1.125, -18.0), 0),
    (set(), (0.0, 0.0), 0),
]


def check_actions(flat: np.ndarray, expected) -> None:
    for t, (keys, camera, hotbar) in enumerate(expected):
        action = A.from_flat(flat[t])
        assert {k for k in A.ACTION_KEYS if action[k]} == set(keys), f"step {t}"
        np.testing.assert_allclose(action["camera"], camera, atol=1e-4, err_msg=f"step {t}")
        assert action["hotbar"] == hotbar, f"step {t}"


def test_import_vpt_contractor_data(tmp_path: Path) -> None:
    src = tmp_path / "vpt"
    src.mkdir()
    name = "cheeky-cornflower-setter-02e496ce4abb-20220421-092639"
    write_frames(src / f"{name}.mp4", len(VPT_RECORDS), 360, 640)
    (src / f"{name}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in VPT_RECORDS))
    write_frames(src / "short-segment.mp4", 5, 360, 640, first=2)  # video shorter than its jsonl
    (src / "short-segment.jsonl").write_text("\n".join(json.dumps(r) for r in VPT_RECORDS[:7]))
    (src / "lonely.mp4").write_bytes(b"")  # no jsonl beside it: not an episode

    out = tmp_path / "ds"
    script = Path(sys.executable).parent / "simworld"
    command = [str(script)] if script.is_file() else [sys.executable, "-m", "simworld.cli"]
    result = subprocess.run(
        [*command, "import", "format=vpt", f"src={src}", f"out={out}", "frame_size=[36,64]"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert validate_dataset(out) == []
    manifest = load_manifest(out)
    first, short = sorted(manifest.episodes, key=lambda r: r.info["source"] != f"{name}.mp4")
    assert (first.length, first.frame_size, first.info["lossy_steps"]) == (7, [36, 64], 1)
    assert (short.length, short.info["video_frames"], short.info["jsonl_records"]) == (4, 5, 7)

    arrays = read_shard(out, first)
    assert arrays["frames"].shape == (8, 36, 64, 3)
    assert frame_ids(arrays["frames"], 10) == list(range(8))  # frame t is video frame t
    check_actions(arrays["actions"], VPT_EXPECTED)
    assert arrays["extra_vpt_null"].tolist() == [
        True,
        False,
        False,
        False,
        False,
        False,
        True,
    ]  # after the fix
    assert json.loads(arrays["raw_actions"][3])["keyboard"]["keys"] == ["key.keyboard.e", S]
    assert arrays["truncated"].tolist() == [False] * 6 + [True] and not arrays["terminated"].any()
    assert frame_ids(read_shard(out, short)["frames"], 10) == [2, 3, 4, 5, 6]

    again = import_dataset(
        ImportConfig(format="vpt", src=str(src), out=str(out), frame_size=[36, 64], progress=False)
    )
    assert again == []  # resumed: both segments already imported


# -------------------------------------------------------------------------------------- MineRL

MINERL_N, MINERL_SKIP = 6, 2
MINERL_KEYS = ("attack", "back", "forward", "jump", "left", "right", "sneak", "sprint")


def write_minerl_episode(folder: Path) -> dict[str, np.ndarray]:
    """A MineRLNavigate-v0-style episode as minerl's publish.py writes it."""
    folder.mkdir(parents=True)
    N = MINERL_N
    rendered = {f"action${key}": np.zeros(N, np.int64) for key in MINERL_KEYS}
    rendered["action$forward"][[0, 1, 4]] = 1
    rendered["action$jump"][1] = 1
    rendered["action$attack"][3] = 1
    rendered["action$camera"] = np.array(
        [[0, 0], [1.5, -3], [-10, 20], [0, 0], [0.25, 0], [0, -90]], np.float32
    )
    rendered["action$place"] = np.array(["none", "none", "dirt", "none", "none", "none"])
    rendered["reward"] = np.array([0, 0, 1, 0, 0, 2], np.float32)
    rendered["observation$compass$angle"] = np.linspace(-20, 20, N + 1).astype(np.float32)  # N + 1 states
    np.savez_compressed(folder / "rendered.npz", **rendered)
    write_frames(folder / "recording.mp4", MINERL_SKIP + N + 1, 64, 64)
    metadata = {
        "success": True,
        "duration_ms": N * 50,
        "duration_steps": N,
        "total_reward": 3.0,
        "stream_name": folder.name,
        "true_video_frame_count": MINERL_SKIP + N + 1,
    }
    (folder / "metadata.json").write_text(json.dumps(metadata))
    return rendered


def test_import_minerl_v04_recording(tmp_path: Path) -> None:
    src = tmp_path / "minerl"
    rendered = write_minerl_episode(src / "MineRLNavigate-v0" / "v3_absolute_grape_changeling-6_37339-46767")
    out = tmp_path / "ds"
    assert import_dataset(ImportConfig(format="minerl04", src=str(src), out=str(out), progress=False)) == [0]
    assert validate_dataset(out) == []
    record = load_manifest(out).episodes[0]
    assert record.info["environment"] == "MineRLNavigate-v0" and record.info["skipped_frames"] == MINERL_SKIP
    assert record.info["lossy_steps"] == 1  # place: dirt
    arrays = read_shard(out, record)
    # N actions, N + 1 frames: the video's last N + 1, the final one repeated from the one before
    assert arrays["frames"].shape == (MINERL_N + 1, 64, 64, 3)
    assert frame_ids(arrays["frames"], 12) == [2, 3, 4, 5, 6, 7, 7]
    expected = [
        ({k for k in MINERL_KEYS if rendered[f"action${k}"][t]}, rendered["action$camera"][t], 0)
        for t in range(MINERL_N)
    ]
    check_actions(arrays["actions"], expected)
    assert arrays["rewards"].tolist() == [0, 0, 1, 0, 0, 2]
    assert arrays["terminated"].tolist() == [False] * 5 + [True]
    assert json.loads(arrays["raw_actions"][2])["place"] == "dirt"

    kept = tmp_path / "kept"
    import_dataset(
        ImportConfig(
            format="minerl04",
            src=str(src),
            out=str(kept),
            keep_last_frame=True,
            frame_size=[32, 32],
            progress=False,
        )
    )
    frames = read_shard(kept, load_manifest(kept).episodes[0])["frames"]
    assert frames.shape == (MINERL_N + 1, 32, 32, 3) and frame_ids(frames, 12)[-1] == 8

    with pytest.raises(ValueError, match="other settings"):
        import_dataset(
            ImportConfig(format="minerl04", src=str(src), out=str(out), keep_last_frame=True, progress=False)
        )
    with pytest.raises(ValueError, match="dropped|no equivalent"):
        import_dataset(
            ImportConfig(
                format="minerl04", src=str(src), out=str(tmp_path / "strict"), strict=True, progress=False
            )
        )


def test_importers_bad_input(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="set both src=<folder to import> and out=<dataset folder>"):
        import_dataset(ImportConfig(format="vpt", progress=False))
    with pytest.raises(FileNotFoundError, match="does not exist"):
        import_dataset(
            ImportConfig(format="vpt", src=str(tmp_path / "none"), out=str(tmp_path / "o"), progress=False)
        )
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="rendered.npz and recording.mp4"):
        import_dataset(
            ImportConfig(
                format="minerl04", src=str(tmp_path / "empty"), out=str(tmp_path / "o"), progress=False
            )
        )
    folder = tmp_path / "bad" / "ep"
    write_minerl_episode(folder)
    meta = json.loads((folder / "metadata.json").read_text())
    (folder / "metadata.json").write_text(json.dumps({**meta, "true_video_frame_count": 4}))
    with pytest.raises(
        ValueError, match="6 actions need 7 frames; the video has 9 and true_video_frame_count is 4"
    ):
        import_dataset(
            ImportConfig(
                format="minerl04", src=str(tmp_path / "bad"), out=str(tmp_path / "o2"), progress=False
            )
        )
    with pytest.raises(ValueError, match="format must be one of \\['vpt', 'minerl04'\\]"):
        ImportConfig(format="minerl10", src="x", out="y")
