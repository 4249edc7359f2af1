"""Starting contexts of the learned world: real frames (+ the actions between them) to reset from.

A context is ``frames`` uint8 (T, H, W, 3), T >= 1, and ``actions`` float32 (T-1, 21), the flat
canonical actions taken between consecutive frames. Sources (``reset(options=...)``):

- given: ``{"context_frames": ..., "context_actions": ...}`` (actions optional: null actions);
- a dataset episode: ``{"dataset": path, "episode": index, "start": 0}`` (``simworld.data``
  format; the ``max_context_frames`` frames from ``start``);
- a live reset of the real env: ``{"live": True}`` resets the env id recorded in the checkpoint
  (``training["env"] = {"id", "params"}``) with a seed drawn from the env's RNG and uses its frame;
- bundled: ``<checkpoint>/contexts/contexts.npz``, a non-pickle npz with ``frames`` uint8
  (K, T, H, W, 3) and ``actions`` float32 (K, T-1, 21); one of the K is drawn per reset.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np

from simworld import actions as A
from simworld.checkpoint import CONTEXTS_FILE, CheckpointError, write_contexts  # noqa: F401 (re-exported)

"""Where a checkpoint keeps its bundled starting contexts, relative to its folder."""


@dataclass
class Context:
    """One starting context.

    Attributes:
        frames: uint8 (T, H, W, 3).
        actions: float32 (T-1, 21) flat canonical actions between the frames.
        source: where it came from (for ``info``).
    """

    frames: np.ndarray
    actions: np.ndarray
    source: str


def check_context(frames: Any, actions: Any, frame_size: tuple[int, int], source: str = "given") -> Context:
    """Validate user context frames and actions.

    Args:
        frames: uint8 (T, H, W, 3) in [0, 255], T >= 1, of the checkpoint's frame size.
        actions: float (T-1, 21) finite flat actions, or None (null actions).
        frame_size: the checkpoint's (H, W).
        source: a label for ``info``.

    Raises:
        ValueError: wrong shape, dtype or values; the message says what was expected.
    """
    H, W = frame_size
    expected = f"uint8 in [0, 255] with shape (T >= 1, {H}, {W}, 3)"
    arr = frames.detach().cpu().numpy() if hasattr(frames, "detach") else np.asarray(frames)
    if arr.dtype != np.uint8:
        raise ValueError(f"context_frames must be {expected}, got dtype {arr.dtype}")
    if arr.ndim != 4 or arr.shape[1:] != (H, W, 3) or arr.shape[0] < 1:
        raise ValueError(f"context_frames must be {expected}, got shape {arr.shape}")
    T = arr.shape[0]
    if actions is None:
        acts = np.zeros((T - 1, A.FLAT_DIM), np.float32)
    else:
        acts = actions.detach().cpu().numpy() if hasattr(actions, "detach") else np.asarray(actions)
        if acts.shape != (T - 1, A.FLAT_DIM) or acts.dtype.kind != "f" or not np.isfinite(acts).all():
            raise ValueError(
                f"context_actions must be finite float ({T - 1}, {A.FLAT_DIM}) (the flat actions "
                f"between the {T} frames), got {acts.dtype} {acts.shape}"
            )
    return Context(np.ascontiguousarray(arr), acts.astype(np.float32), source)


def load_bundled(checkpoint: str | Path, frame_size: tuple[int, int]) -> list[Context] | None:
    """The bundled contexts of a checkpoint, or None when it has none.

    Raises:
        CheckpointError: the file exists but is not a valid contexts file (names it).
    """
    file = Path(checkpoint) / CONTEXTS_FILE
    if not file.is_file():
        return None
    try:
        with np.load(file, allow_pickle=False) as data:
            frames, actions = data["frames"], data["actions"]
        if frames.ndim != 5 or actions.ndim != 3 or len(frames) != len(actions) or len(frames) < 1:
            raise ValueError(f"frames {frames.shape} and actions {actions.shape} do not fit")
        return [
            check_context(f, a, frame_size, f"bundled:{k}") for k, (f, a) in enumerate(zip(frames, actions))
        ]
    except (OSError, KeyError, ValueError) as err:
        raise CheckpointError(
            f"{file}: not a valid contexts file (need frames uint8 (K, T, {frame_size[0]}, "
            f"{frame_size[1]}, 3) and actions float32 (K, T-1, {A.FLAT_DIM})): {err}"
        ) from err


def from_dataset(
    root: str | Path, episode: int, start: int, length: int, frame_size: tuple[int, int]
) -> Context:
    """``length`` frames of episode ``episode`` of a ``simworld.data`` dataset, from frame ``start``.

    Raises:
        ValueError: no such episode, or a frame size other than the checkpoint's.
    """
    from simworld.data import load_manifest, read_shard

    manifest = load_manifest(root)
    records = {r.index: r for r in manifest.episodes}
    if episode not in records:
        raise ValueError(f"dataset {root} has no episode {episode}; it has {sorted(records)[:20]}...")
    record = records[episode]
    if not 0 <= start < record.num_frames:
        raise ValueError(f"start must be in 0..{record.num_frames - 1} for episode {episode}, got {start}")
    data = read_shard(root, record, keys=("frames", "actions"))
    frames = data["frames"][start : start + length]
    actions = data["actions"][start : start + len(frames) - 1]
    return check_context(frames, actions.astype(np.float32), frame_size, f"dataset:{root}#{episode}@{start}")


def live_env_spec(training: dict[str, Any], override: str | None) -> tuple[str, dict[str, Any]] | None:
    """(env id, kwargs) for live resets: ``override``, else ``training["env"]`` of the checkpoint."""
    if override is not None:
        return override, {}
    env = training.get("env")
    if isinstance(env, dict) and isinstance(env.get("id"), str):
        return env["id"], dict(env.get("params") or {})
    return None


class LiveSource:
    """Resets the real env to get a starting frame; the env is made lazily on first use.

    Args:
        env_id: registered Gymnasium id (e.g. "simworld/VoxelWorld-v0").
        kwargs: its constructor keyword arguments.
        frame_size: the checkpoint's (H, W), checked against the env's frames.
    """

    def __init__(self, env_id: str, kwargs: dict[str, Any], frame_size: tuple[int, int]) -> None:
        self.env_id, self.kwargs, self.frame_size = env_id, kwargs, frame_size
        self._env: gym.Env | None = None

    def context(self, seed: int) -> Context:
        """Reset the real env with ``seed``; its first frame is a one-frame context."""
        if self._env is None:
            import envs  # noqa: F401  (registers the simworld ids)

            self._env = gym.make(self.env_id, **self.kwargs)
        obs, _ = self._env.reset(seed=int(seed))
        frame = np.asarray(obs["rgb"] if isinstance(obs, dict) else obs)
        try:
            return check_context(frame[None], None, self.frame_size, f"live:{self.env_id}@{seed}")
        except ValueError as err:
            raise ValueError(
                f"live env {self.env_id} {self.kwargs} gives frames that do not fit: {err}"
            ) from err

    def close(self) -> None:
        """Close the real env."""
        if self._env is not None:
            self._env.close()
            self._env = None


RESET_OPTIONS = ("context_frames", "context_actions", "context_index", "dataset", "episode", "start", "live")
"""Keys ``reset(options=...)`` accepts (the vector env adds ``reset_mask``)."""


class ContextSource:
    """Picks the starting context of a reset from its options (see the module docstring).

    Args:
        checkpoint: the checkpoint folder (for bundled contexts).
        frame_size: the checkpoint's (H, W).
        window: ``max_context_frames`` (dataset contexts take this many frames).
        training: the checkpoint's training summary (``training["env"]`` for live resets).
        live_env: env id for live resets instead of the checkpoint's.

    Raises:
        CheckpointError: a bundled contexts file that does not load.
    """

    def __init__(
        self,
        checkpoint: str | Path,
        frame_size: tuple[int, int],
        window: int,
        training: dict[str, Any],
        live_env: str | None = None,
    ) -> None:
        self.frame_size, self.window = frame_size, window
        self.bundled = load_bundled(checkpoint, frame_size)
        spec = live_env_spec(training, live_env)
        self.live = None if spec is None else LiveSource(*spec, frame_size)
        self.checkpoint = Path(checkpoint)

    def get(self, options: dict[str, Any], rng: np.random.Generator) -> Context:
        """The context the options ask for; draws from ``rng`` where they leave a choice.

        Raises:
            ValueError: unknown options, bad context data, or no context available.
        """
        unknown = sorted(set(options) - set(RESET_OPTIONS))
        if unknown:
            raise ValueError(f"unknown reset options {unknown}; valid: {list(RESET_OPTIONS)}")
        if options.get("context_frames") is not None:
            return check_context(options["context_frames"], options.get("context_actions"), self.frame_size)
        if options.get("dataset") is not None:
            episode, start = int(options.get("episode", 0)), int(options.get("start", 0))
            return from_dataset(options["dataset"], episode, start, self.window, self.frame_size)
        if options.get("live") or self.bundled is None:
            if self.live is None:
                raise ValueError(
                    f"no starting context: pass options={{'context_frames': ...}} or {{'dataset': ...}}; "
                    f"checkpoint {self.checkpoint} has no {CONTEXTS_FILE} and records no real env "
                    f"(training['env']) for a live reset (or pass live_env=...)"
                )
            return self.live.context(int(rng.integers(0, 2**31 - 1)))
        if options.get("context_index") is not None:
            k = int(options["context_index"])
            if not 0 <= k < len(self.bundled):
                raise ValueError(f"context_index must be in 0..{len(self.bundled) - 1}, got {k}")
        else:
            k = int(rng.integers(len(self.bundled)))
        return self.bundled[k]

    def close(self) -> None:
        """Close the live env, if one was made."""
        if self.live is not None:
            self.live.close()
