"""``simworld sample``: Sora-style generation modes of a checkpoint (``simworld.modes``) to an MP4/GIF."""

from __future__ import annotations

import dataclasses
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from simworld import actions as A
from simworld import modes
from simworld.cli.registry import command
from simworld.data.format import load_manifest
from simworld.data.shards import read_shard
from simworld.models.serialization import CheckpointError
from simworld.video import VIDEO_SUFFIXES, mark_frames, read_video, side_by_side, upscale, write_video
from simworld.world_model import WorldModel

ACTION_SOURCES = ("none", "input", "random")
SAMPLES_GAP = 2
"""White columns between the samples of mode=video|image, written side by side."""


@dataclass
class SampleConfig:
    """Generate a clip with one of the modes of ``simworld.modes`` and write it as a video.

    Attributes:
        mode: image_to_video | extend | interpolate | edit | video | image (``simworld.modes.MODES``).
        checkpoint: world-model checkpoint folder.
        input: the input clip: an .mp4/.gif file, or a dataset folder (then ``episode``); unused by
            mode=video and mode=image.
        episode: dataset episode index of ``input``.
        start: first input frame used (image_to_video animates this frame).
        length: input frames used from ``start`` (null: to the end).
        input_b: interpolate: the second clip (.mp4/.gif or dataset folder; empty: ``input``).
        episode_b: dataset episode index of ``input_b`` (null: ``episode``).
        start_b: first frame of the second clip.
        num_frames: image_to_video and video: length of the result; extend: frames added;
            interpolate: length of the transition; unused by edit and image.
        direction: extend: forward | backward (backward needs a bidirectional model).
        strength: edit: SDEdit noise level in [0, 1] (0: the input back, 1: from scratch).
        actions: none (null actions) | input (the dataset episode's recorded actions over the
            result's time span; interpolate: only when clip B follows clip A in the same episode
            with exactly ``num_frames`` frames between them) | random (uniformly sampled with ``seed``).
        height: mode=video/image: frame height (null: the checkpoint's); other modes use the input's.
        width: mode=video/image: frame width (null: the checkpoint's).
        num_samples: mode=video/image: how many to generate (seeds ``seed``, ``seed + 1``, ...),
            written side by side.
        seed: noise seed (same seed, same result).
        num_inference_steps: denoising steps (null: the checkpoint's sampler setting).
        device: torch device.
        out: the video written (.mp4 or .gif).
        fps: frame rate of the video.
        scale: nearest-neighbour upscaling of the video.
        mark_given: frame every image in a border, green where it was given (kept from the input),
            orange where the model generated it.
        truth: with a dataset input, put the episode's real frames over the result's time span
            on the left (truth | result); interpolate only when clip B follows clip A in the same
            episode, as for actions=input; video and image have no such span.
    """

    mode: str = "image_to_video"
    checkpoint: str = ""
    input: str = ""
    episode: int = 0
    start: int = 0
    length: int | None = None
    input_b: str = ""
    episode_b: int | None = None
    start_b: int = 0
    num_frames: int = 16
    direction: str = "forward"
    strength: float = 0.6
    actions: str = "none"
    height: int | None = None
    width: int | None = None
    seed: int = 0
    num_inference_steps: int | None = None
    device: str = "cpu"
    out: str = "runs/sample/clip.mp4"
    fps: float = 20.0
    scale: int = 4
    num_samples: int = 1
    mark_given: bool = False
    truth: bool = False

    def __post_init__(self) -> None:
        if self.mode not in modes.MODES:
            raise ValueError(f"mode must be one of {', '.join(modes.MODES)}, got {self.mode!r}")
        if self.direction not in modes.DIRECTIONS:
            raise ValueError(
                f"direction must be one of {', '.join(modes.DIRECTIONS)}, got {self.direction!r}"
            )
        if self.actions not in ACTION_SOURCES:
            raise ValueError(f"actions must be one of {', '.join(ACTION_SOURCES)}, got {self.actions!r}")
        if not self.checkpoint:
            raise ValueError("checkpoint must be set: checkpoint=path/to/checkpoint")
        generative = self.mode in ("video", "image")
        if not generative and not self.input:
            raise ValueError(f"mode={self.mode} needs input=clip.mp4|clip.gif|dataset_folder")
        if not generative and (self.height is not None or self.width is not None or self.num_samples != 1):
            raise ValueError(
                "height, width and num_samples apply to mode=video|image; other modes take the input's size"
            )
        if self.mode == "video" and self.actions == "input":
            raise ValueError("mode=video has no input to take actions from; use actions=none|random")
        if Path(self.out).suffix not in VIDEO_SUFFIXES:
            raise ValueError(f"out must end in one of {', '.join(VIDEO_SUFFIXES)}, got {self.out!r}")
        if not 0.0 <= self.strength <= 1.0:
            raise ValueError(f"strength must be in [0, 1], got {self.strength}")
        if (
            self.num_frames < 1
            or self.num_samples < 1
            or self.scale < 1
            or self.fps <= 0
            or (self.length is not None and self.length < 1)
        ):
            raise ValueError(
                f"num_frames, num_samples, scale and length must be >= 1 and fps > 0, got "
                f"{self.num_frames}, {self.num_samples}, {self.scale}, {self.length}, {self.fps}"
            )
        if self.start < 0 or self.start_b < 0:
            raise ValueError(f"start and start_b must be >= 0, got {self.start}, {self.start_b}")
        if self.truth and generative:
            raise ValueError(f"truth=true needs an input episode; mode={self.mode} has none")


@dataclass
class Source:
    """Frames read from a file or a dataset episode.

    Attributes:
        frames: uint8 (T, H, W, 3) the whole video or episode.
        actions: float32 (T - 1, FLAT_DIM) recorded actions between frames, or None (video files).
    """

    frames: np.ndarray
    actions: np.ndarray | None


def read_source(path: str, episode: int) -> Source:
    """Read a .mp4/.gif file, or episode ``episode`` of a dataset folder.

    Raises:
        ValueError: not a video file or dataset, an unknown episode, or non-canonical actions.
    """
    p = Path(path)
    if p.is_dir():
        manifest = load_manifest(p)
        records = {r.index: r for r in manifest.episodes}
        if episode not in records:
            raise ValueError(f"episode {episode} is not in {p}; valid episodes: {sorted(records)}")
        data = read_shard(p, records[episode], keys=("frames", "actions"))
        actions = data["actions"].astype(np.float32)
        if actions.shape[-1] != A.FLAT_DIM:
            raise ValueError(f"{p} has {actions.shape[-1]}-wide actions; the model needs {A.FLAT_DIM}")
        return Source(data["frames"], actions)
    if p.suffix in VIDEO_SUFFIXES and p.is_file():
        return Source(read_video(p), None)
    raise ValueError(
        f"input must be an existing {'/'.join(VIDEO_SUFFIXES)} file or dataset folder, got {path!r}"
    )


def _span(source: Source, start: int, stop: int, what: str) -> np.ndarray:
    if start < 0 or stop > len(source.frames) or stop <= start:
        raise ValueError(
            f"{what}: frames {start}..{stop - 1} are outside the input's {len(source.frames)} frames"
        )
    return source.frames[start:stop]


def _random_actions(cfg: SampleConfig, count: int) -> np.ndarray:
    """``count - 1`` uniformly sampled actions (between ``count`` frames), seeded with ``cfg.seed``."""
    space = A.action_space(seed=cfg.seed)
    return np.stack([A.to_flat(space.sample()) for _ in range(count - 1)]).astype(np.float32)


def _actions(cfg: SampleConfig, source: Source, first: int, count: int) -> np.ndarray | None:
    """Actions between the ``count`` frames of the result, which spans input frames first.. ."""
    if cfg.actions == "none":
        return None
    if cfg.actions == "random":
        return _random_actions(cfg, count)
    if source.actions is None:
        raise ValueError("actions=input needs a dataset episode as input (video files carry no actions)")
    if first < 0 or first + count - 1 > len(source.actions):
        raise ValueError(
            f"actions=input: the result spans episode frames {first}..{first + count - 1}, beyond the "
            f"episode's {len(source.frames)} frames"
        )
    return source.actions[first : first + count - 1]


@dataclass
class Sampled:
    """What ``sample`` made.

    Attributes:
        frames: uint8 (T, H, W, 3) the result, given frames included.
        given: bool (T,) which frames were given (kept from the input) rather than generated.
        first: the input frame index the result's frame 0 corresponds to (None: no such frame).
        source: the input the frames came from (None: generated from scratch).
    """

    frames: np.ndarray
    given: np.ndarray
    first: int | None = None
    source: Source | None = None


def _given(T: int, kept: slice) -> np.ndarray:
    flags = np.zeros(T, bool)
    flags[kept] = True
    return flags


def sample(cfg: SampleConfig, model: WorldModel) -> Sampled:
    """Run ``cfg.mode`` on ``model``."""
    if cfg.mode in ("video", "image"):
        T = 1 if cfg.mode == "image" else cfg.num_frames
        acts = _random_actions(cfg, T) if cfg.actions == "random" and T > 1 else None
        seeds = [cfg.seed + i for i in range(cfg.num_samples)]
        videos = modes.generate_video(model, T, cfg.height, cfg.width, acts, cfg.num_samples, seeds).numpy()
        return Sampled(side_by_side(*videos, gap=SAMPLES_GAP), np.zeros(T, bool))
    if cfg.mode == "interpolate":
        modes.require_bidirectional(model, "mode=interpolate")
    if cfg.mode == "extend" and cfg.direction == "backward":
        modes.require_bidirectional(model, "mode=extend direction=backward")
    src = read_source(cfg.input, cfg.episode)
    stop = len(src.frames) if cfg.length is None else cfg.start + cfg.length
    if cfg.mode == "image_to_video":
        image = _span(src, cfg.start, cfg.start + 1, "input")[0]
        acts = _actions(cfg, src, cfg.start, cfg.num_frames)
        video = modes.image_to_video(model, image, cfg.num_frames, acts, cfg.seed).numpy()
        return Sampled(video, _given(len(video), slice(0, 1)), cfg.start, src)
    clip = _span(src, cfg.start, stop, "input")
    T = len(clip)
    if cfg.mode == "edit":
        video = modes.edit(model, clip, cfg.strength, _actions(cfg, src, cfg.start, T), cfg.seed).numpy()
        return Sampled(video, np.zeros(T, bool), cfg.start, src)
    if cfg.mode == "extend":
        first = cfg.start if cfg.direction == "forward" else cfg.start - cfg.num_frames
        acts = _actions(cfg, src, first, T + cfg.num_frames)
        video = modes.extend(model, clip, cfg.num_frames, acts, cfg.direction, cfg.seed).numpy()
        kept = slice(0, T) if cfg.direction == "forward" else slice(cfg.num_frames, None)
        return Sampled(video, _given(len(video), kept), first, src)
    episode_b = cfg.episode if cfg.episode_b is None else cfg.episode_b
    src_b = read_source(cfg.input_b or cfg.input, episode_b)
    stop_b = len(src_b.frames) if cfg.length is None else cfg.start_b + cfg.length
    clip_b = _span(src_b, cfg.start_b, stop_b, "input_b")
    # clip B follows clip A in the same episode: the episode holds the true transition and its actions
    contiguous = (cfg.input_b in ("", cfg.input)) and episode_b == cfg.episode
    contiguous = contiguous and cfg.start_b == stop + cfg.num_frames
    if (cfg.actions == "input" or cfg.truth) and not contiguous:
        raise ValueError(
            "mode=interpolate has recorded actions and a true transition only when clip B follows clip A "
            f"in the same episode {cfg.num_frames} frames later (start_b = start + length + num_frames = "
            f"{stop + cfg.num_frames}); otherwise use actions=none|random and truth=false"
        )
    acts = _actions(cfg, src, cfg.start, T + cfg.num_frames + len(clip_b))
    video = modes.interpolate(model, clip, clip_b, cfg.num_frames, acts, cfg.seed).numpy()
    given = _given(len(video), slice(0, T)) | _given(len(video), slice(T + cfg.num_frames, None))
    return Sampled(video, given, cfg.start if contiguous else None, src)


def _truth(result: Sampled) -> np.ndarray:
    """The input episode's frames over the result's span, for ``truth=true``."""
    source = result.source
    if source is None or source.actions is None:
        raise ValueError("truth=true needs a dataset episode as input (a video file has no frames beyond it)")
    if result.first is None or result.first < 0:
        raise ValueError("truth=true: the result starts before the episode's first frame")
    return _span(source, result.first, result.first + len(result.frames), "truth")


def compose(cfg: SampleConfig, result: Sampled) -> np.ndarray:
    """The video written: the result, upscaled, optionally framed and beside the truth."""
    video = upscale(result.frames, cfg.scale)
    if cfg.mark_given:
        video = mark_frames(video, result.given, width=max(1, cfg.scale // 2))
    if cfg.truth:
        truth = upscale(_truth(result), cfg.scale)
        if cfg.mark_given:
            truth = mark_frames(truth, np.ones(len(truth), bool), width=max(1, cfg.scale // 2))
        video = side_by_side(truth, video, gap=2 * cfg.scale)
    return video


@command(
    "sample",
    SampleConfig,
    help="Generate with a checkpoint: image-to-video, extend, interpolate, edit, video, image.",
)
def run(cfg: SampleConfig) -> int:
    """Load the checkpoint, run the mode, write the video; exit 1 on a bad checkpoint or input."""
    try:
        model = WorldModel.load(cfg.checkpoint, device=torch.device(cfg.device))
        if cfg.num_inference_steps is not None:
            model.sampler = dataclasses.replace(model.sampler, num_inference_steps=cfg.num_inference_steps)
        result = sample(cfg, model)
        video = compose(cfg, result)
    except (FileNotFoundError, CheckpointError, ValueError) as exc:
        print(f"simworld sample: error: {exc}", file=sys.stderr)
        return 1
    path = write_video(cfg.out, video, cfg.fps)
    T, H = result.frames.shape[:2]
    W = (result.frames.shape[2] - SAMPLES_GAP * (cfg.num_samples - 1)) // cfg.num_samples
    samples = f"{cfg.num_samples} samples of " if cfg.num_samples > 1 else ""
    print(f"mode={cfg.mode}: wrote {samples}{T} frames of {H}x{W} to {path}")
    return 0
