"""Sora's generation modes (``simworld.modes``) and ``simworld sample`` on tiny pixel-space checkpoints.

Pixel space is lossless, so the given frames must come back exactly.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from simworld import actions as A
from simworld import modes
from simworld.cli import main
from simworld.data.format import Manifest, canonical_action_schema
from simworld.data.writer import DatasetWriter
from simworld.testing import build_tiny_checkpoint
from simworld.video import GENERATED_COLOR, GIVEN_COLOR, read_video, write_video
from simworld.world_model import WorldModel

H = W = 16


@pytest.fixture(scope="module")
def causal(tmp_path_factory: pytest.TempPathFactory) -> WorldModel:
    return WorldModel.load(build_tiny_checkpoint(tmp_path_factory.mktemp("causal") / "ckpt", num_contexts=0))


@pytest.fixture(scope="module")
def bidir_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("bidir") / "ckpt"
    return build_tiny_checkpoint(path, num_contexts=0, temporal="bidirectional", extra_cond_dim=5)


@pytest.fixture(scope="module")
def bidir(bidir_path: Path) -> WorldModel:
    return WorldModel.load(bidir_path)


@pytest.fixture
def clip() -> np.ndarray:
    return np.random.default_rng(0).integers(0, 256, (3, H, W, 3), dtype=np.uint8)


def simworld_command() -> list[str]:
    """The installed console script next to this interpreter, else `python -m simworld.cli`."""
    script = Path(sys.executable).parent / "simworld"
    return [str(script)] if script.is_file() else [sys.executable, "-m", "simworld.cli"]


def random_actions(n: int, seed: int = 0) -> np.ndarray:
    space = A.action_space(seed=seed)
    return np.stack([A.to_flat(space.sample()) for _ in range(n)]).astype(np.float32)


def check_writes_mp4(frames: torch.Tensor, path: Path) -> None:
    write_video(path, frames.numpy(), fps=10)
    assert read_video(path).shape == tuple(frames.shape)


def test_image_to_video_keeps_the_image(causal: WorldModel, clip: np.ndarray, tmp_path: Path) -> None:
    out = modes.image_to_video(causal, clip[0], 5, actions=random_actions(4), seed=0)
    assert out.shape == (5, H, W, 3) and out.dtype == torch.uint8
    assert torch.equal(out[0], torch.from_numpy(clip[0]))
    assert not torch.equal(out[1], out[0])
    check_writes_mp4(out, tmp_path / "i2v.mp4")


def test_extend_forward_keeps_the_clip_and_is_deterministic(causal: WorldModel, clip: np.ndarray) -> None:
    out = modes.extend(causal, clip, 2, seed=3)
    assert out.shape == (5, H, W, 3)
    assert torch.equal(out[:3], torch.from_numpy(clip))
    assert torch.equal(out, modes.extend(causal, clip, 2, seed=3))
    assert not torch.equal(out, modes.extend(causal, clip, 2, seed=4))


def test_batched_clips_get_their_own_seeds(causal: WorldModel, clip: np.ndarray) -> None:
    batch = np.stack([clip, clip[::-1]])
    out = modes.extend(causal, batch, 1, seed=[7, 8])
    assert out.shape == (2, 4, H, W, 3)
    single = modes.extend(causal, clip, 1, seed=7)  # equal up to batched-matmul rounding
    assert (out[0].int() - single.int()).abs().max() <= 1


def test_extend_backward_keeps_the_clip(bidir: WorldModel, clip: np.ndarray, tmp_path: Path) -> None:
    out = modes.extend(bidir, clip, 2, direction="backward", seed=0)
    assert out.shape == (5, H, W, 3)
    assert torch.equal(out[2:], torch.from_numpy(clip))
    assert torch.equal(out, modes.extend(bidir, clip, 2, direction="backward", seed=0))
    check_writes_mp4(out, tmp_path / "backward.mp4")


def test_interpolate_keeps_both_clips(bidir: WorldModel, clip: np.ndarray, tmp_path: Path) -> None:
    b = clip[::-1].copy()
    out = modes.interpolate(bidir, clip, b[:2], 3, seed=0)
    assert out.shape == (3 + 3 + 2, H, W, 3)
    assert torch.equal(out[:3], torch.from_numpy(clip)) and torch.equal(out[6:], torch.from_numpy(b[:2]))
    assert torch.equal(out, modes.interpolate(bidir, clip, b[:2], 3, seed=0))
    check_writes_mp4(out, tmp_path / "interpolate.mp4")


@pytest.mark.parametrize("call", ["backward", "interpolate"])
def test_causal_model_refuses_bidirectional_modes(causal: WorldModel, clip: np.ndarray, call: str) -> None:
    with pytest.raises(ValueError, match="bidirectional temporal attention.*model.temporal=bidirectional"):
        if call == "backward":
            modes.extend(causal, clip, 1, direction="backward")
        else:
            modes.interpolate(causal, clip, clip, 1)


def test_edit(causal: WorldModel, clip: np.ndarray, tmp_path: Path) -> None:
    assert torch.equal(modes.edit(causal, clip, 0.0, seed=0), torch.from_numpy(clip))
    acts = random_actions(2)
    out = modes.edit(causal, clip, 0.5, actions=acts, seed=0)
    assert out.shape == (3, H, W, 3) and not torch.equal(out, torch.from_numpy(clip))
    assert torch.equal(out, modes.edit(causal, clip, 0.5, actions=acts, seed=0))
    light = modes.edit(causal, clip, 0.05, actions=acts, seed=0)
    error = (light.float() - torch.from_numpy(clip).float()).abs().mean()
    assert error < (out.float() - torch.from_numpy(clip).float()).abs().mean()
    check_writes_mp4(out, tmp_path / "edit.mp4")
    with pytest.raises(ValueError, match=r"strength must be a number in \[0, 1\]"):
        modes.edit(causal, clip, 1.5)


def test_image_and_video_at_other_sizes(causal: WorldModel, clip: np.ndarray) -> None:
    images = modes.generate_image(causal, height=16, width=32, num_images=2, seed=0)
    assert images.shape == (2, 16, 32, 3)
    assert torch.equal(images, modes.generate_image(causal, height=16, width=32, num_images=2, seed=0))
    wide = np.concatenate([clip, clip[:, :, ::-1]], axis=2)  # (3, 16, 32, 3)
    out = modes.image_to_video(causal, wide[0], 3, seed=0)
    assert out.shape == (3, 16, 32, 3) and torch.equal(out[0], torch.from_numpy(wide[0]))
    assert modes.generate_video(causal, 4, height=24, width=8, seed=0).shape == (1, 4, 24, 8, 3)
    with pytest.raises(ValueError, match="multiples of 8"):
        modes.generate_image(causal, height=12, width=16)


def test_condition_plugs_into_extra_embedding(
    bidir: WorldModel, causal: WorldModel, clip: np.ndarray
) -> None:
    plain = modes.extend(bidir, clip, 1, direction="backward", seed=0)
    cond = modes.extend(bidir, clip, 1, direction="backward", seed=0, condition=torch.ones(5))
    assert cond.shape == plain.shape and not torch.equal(cond, plain)
    with pytest.raises(ValueError, match=r"condition must be finite float \(5,\)"):
        modes.extend(bidir, clip, 1, direction="backward", condition=torch.ones(4))
    with pytest.raises(ValueError, match="no extra conditioning"):
        modes.extend(causal, clip, 1, condition=torch.ones(5))


def test_bad_inputs_are_rejected(causal: WorldModel, clip: np.ndarray) -> None:
    with pytest.raises(ValueError, match="direction must be one of"):
        modes.extend(causal, clip, 1, direction="sideways")
    with pytest.raises(ValueError, match="clip must be uint8"):
        modes.extend(causal, clip.astype(np.float32), 1)
    with pytest.raises(ValueError, match="actions must be finite float"):
        modes.extend(causal, clip, 1, actions=np.zeros((2, A.FLAT_DIM), np.float32))


def write_dataset(root: Path, frames: np.ndarray) -> Path:
    header = Manifest(
        env={"id": "test/synthetic", "params": {}},
        action_schema=canonical_action_schema(),
        frames_encoding="npz",
        ground_truth=[],
        source={"kind": "test"},
    )
    T = len(frames) - 1
    episode = {
        "frames": frames,
        "actions": random_actions(T),
        "raw_actions": np.array(["{}"] * T),
        "rewards": np.zeros(T, np.float32),
        "terminated": np.zeros(T, bool),
        "truncated": np.zeros(T, bool),
    }
    DatasetWriter(root, header).write(0, episode, {})
    return root


def test_sample_cli_modes(bidir_path: Path, clip: np.ndarray, tmp_path: Path) -> None:
    gif = write_video(tmp_path / "in.gif", clip)
    data = write_dataset(tmp_path / "data", np.concatenate([clip, clip[::-1]]))  # 6 frames
    common = ["sample", f"checkpoint={bidir_path}", "num_frames=2", "scale=1"]
    runs = {
        "image_to_video": ([f"input={gif}", "mode=image_to_video"], (2, H, W, 3)),
        "extend": (
            [f"input={data}", "mode=extend", "direction=backward", "start=2", "actions=input"],
            (6, H, W, 3),
        ),
        "interpolate": ([f"input={data}", "mode=interpolate", "length=2", "start_b=4"], (6, H, W, 3)),
        "edit": ([f"input={gif}", "mode=edit", "strength=0.3", "actions=random"], (3, H, W, 3)),
        "image": (["mode=image", "height=8", "width=24"], (1, 8, 24, 3)),
        "video": (["mode=video", "height=8", "width=24", "num_samples=2", "actions=random"], (2, 8, 50, 3)),
    }
    for name, (args, shape) in runs.items():
        out = tmp_path / f"{name}.mp4"
        assert main([*common, *args, f"out={out}"]) == 0, name
        assert read_video(out).shape == shape, name
    assert main([*common, "mode=sideways"]) == 2
    assert main([*common, f"input={data}", "mode=extend", "episode=4", f"out={tmp_path / 'x.mp4'}"]) == 1


def test_sample_cli_marks_given_frames_beside_the_truth(
    bidir_path: Path, clip: np.ndarray, tmp_path: Path
) -> None:
    episode = np.concatenate([clip, clip[::-1]])  # 6 frames
    data = write_dataset(tmp_path / "data", episode)
    out = tmp_path / "fwd.gif"
    args = [f"checkpoint={bidir_path}", f"input={data}", "mode=extend", "start=1", "length=2", "num_frames=2"]
    assert main(["sample", *args, "scale=2", "mark_given=true", "truth=true", f"out={out}"]) == 0
    video = read_video(out)
    assert video.shape == (4, 2 * H, 2 * (2 * W) + 4, 3)  # truth | gap | result, upscaled 2x
    left, right = video[:, :, : 2 * W], video[:, :, 2 * W + 4 :]
    # the truth is episode frames 1..4, the result keeps frames 1..2 of it (GIF palette: near-exact)
    truth = episode[1:5].repeat(2, 1).repeat(2, 2)
    assert np.abs(left[:, 1:-1, 1:-1].astype(int) - truth[:, 1:-1, 1:-1]).mean() < 8
    assert np.abs(right[:2, 1:-1, 1:-1].astype(int) - truth[:2, 1:-1, 1:-1]).mean() < 8
    green, orange = np.array(GIVEN_COLOR), np.array(GENERATED_COLOR)
    assert np.abs(right[:2, 0, :].astype(int) - green).max() < 16  # given frames: green border
    assert np.abs(right[2:, 0, :].astype(int) - orange).max() < 16  # generated: orange border
    assert np.abs(left[:, 0, :].astype(int) - green).max() < 16
    plain = tmp_path / "plain.mp4"
    assert main(["sample", *args, "scale=1", f"out={plain}"]) == 0
    assert read_video(plain).shape == (4, H, W, 3)
    # no truth for a span before the episode, nor for interpolation
    before = [f"checkpoint={bidir_path}", f"input={data}", "mode=extend", "direction=backward", "start=1"]
    assert main(["sample", *before, "num_frames=2", "truth=true", f"out={out}"]) == 1
    assert main(["sample", f"checkpoint={bidir_path}", "mode=video", "truth=true", f"out={out}"]) == 2
    # interpolation has a truth (and recorded actions) only when clip B follows clip A in the episode
    mix = [
        *args[:2],
        "mode=interpolate",
        "start=0",
        "length=2",
        "num_frames=2",
        "truth=true",
        "actions=input",
    ]
    assert main(["sample", *mix, "start_b=4", "scale=1", f"out={out}"]) == 0
    left, right = np.split(read_video(out)[:, :, np.r_[0:W, W + 2 : 2 * W + 2]], 2, axis=2)
    assert left.shape == (6, H, W, 3) and np.abs(left.astype(int) - episode).mean() < 8
    assert np.abs(right[4:].astype(int) - episode[4:]).mean() < 8  # clip B kept
    assert main(["sample", *mix, "start_b=3", f"out={out}"]) == 1


def test_sample_cli_subprocess(tmp_path: Path) -> None:
    ckpt = build_tiny_checkpoint(tmp_path / "causal", num_contexts=0)
    out = tmp_path / "clip.mp4"
    cmd = [*simworld_command(), "sample", f"checkpoint={ckpt}", "mode=image", f"out={out}", "scale=1"]
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert read_video(out).shape == (1, H, W, 3) and "wrote 1 frames" in result.stdout
    bad = subprocess.run([*cmd[:3], "mode=interpolate", "input=nowhere.mp4"], capture_output=True, text=True)
    assert bad.returncode == 1 and "bidirectional temporal attention" in bad.stderr


def test_gallery_script_makes_every_documented_gif(tmp_path: Path) -> None:
    """docs/media/modes/make_gifs.sh (the docs' GIF commands) runs end to end and writes every GIF
    docs/modes.md shows, here on a random-weight bidirectional checkpoint and a small voxel dataset."""
    repo = Path(__file__).resolve().parents[2]
    ckpt = build_tiny_checkpoint(tmp_path / "bidir", num_contexts=0, temporal="bidirectional")
    data, out = tmp_path / "data", tmp_path / "gifs"
    collect = [*simworld_command(), "collect", f"out={data}", "episodes=7", "steps=56", "policy=explore"]
    subprocess.run(
        [*collect, "num_workers=0", "progress=false"], check=True, capture_output=True, timeout=300
    )
    env = {**os.environ, "SIMWORLD": " ".join(simworld_command()), "WIDE": str(tmp_path / "wide")}
    script = repo / "docs" / "media" / "modes" / "make_gifs.sh"
    result = subprocess.run(
        ["bash", str(script), str(ckpt), str(data), str(out)],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    documented = set(re.findall(r"media/modes/(\w+\.gif)", (repo / "docs" / "modes.md").read_text()))
    written = {p.name for p in out.glob("*.gif")}
    assert documented and documented == written
    assert documented <= {p.name for p in script.parent.glob("*.gif")}  # and the repository has them
    assert read_video(out / "extend_forward_32x64.gif").shape == (16, 3 * 32, 3 * 2 * 64 + 6, 3)
