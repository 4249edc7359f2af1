"""``collect``: play N episodes × T steps of a Gymnasium env with a policy into a dataset.

Episodes run in ``num_workers`` spawned processes (0: in this process). Episode ``i`` is reset
with ``episode_seed(seed, i)`` and its policy seeded from it, so the dataset does not depend on
the number of workers or the order in which episodes finish; shards are byte-for-byte
reproducible. Each worker writes its shard atomically; this process commits it to the manifest
(also atomically) as soon as it arrives. Rerunning the same command on the same folder checks the
committed shards' sha256, keeps the intact ones and plays only the missing episodes.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import time
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
from tqdm.auto import tqdm

from envs.registration import VOXEL_IDS
from envs.voxel.config import VoxelWorldConfig
from simworld import actions as A
from simworld.data.format import (
    FRAME_ENCODINGS,
    GROUND_TRUTH_KEYS,
    GYMNASIUM_FLATTEN_SCHEMA,
    EpisodeRecord,
    Manifest,
    canonical_action_schema,
    jsonable,
)
from simworld.data.policy import check_policy_spec, episode_seed, start_episode_policy
from simworld.data.writer import DatasetWriter, write_episode


@dataclass
class CollectEnvConfig:
    """The env to collect from.

    Attributes:
        id: any registered Gymnasium id (``simworld/VoxelWorld-v0``, ``module:Id-v0``, ...). Its
            observations must be uint8 (H, W, 3) frames, or dicts with such a frame under
            ``pov``, ``rgb``, ``image`` or ``pixels``.
        world: voxel world parameters; used for the ``simworld/Voxel*`` ids only.
        kwargs: more keyword arguments of ``gymnasium.make`` (``+env.kwargs.name=value``).
    """

    id: str = "simworld/VoxelWorld-v0"
    world: VoxelWorldConfig = field(default_factory=VoxelWorldConfig)
    kwargs: dict[str, Any] = field(default_factory=dict)

    @property
    def is_voxel(self) -> bool:
        """Whether ``id`` is a voxel world id (then ``world`` applies)."""
        return self.id in VOXEL_IDS

    def make_kwargs(self, steps: int, ground_truth: list[str]) -> dict[str, Any]:
        """The keyword arguments of ``gymnasium.make`` (recorded in the manifest as env params)."""
        kwargs: dict[str, Any] = {**(asdict(self.world) if self.is_voxel else {}), **self.kwargs}
        if self.is_voxel and ground_truth:
            kwargs["ground_truth"] = list(ground_truth)
        kwargs["max_episode_steps"] = steps
        return kwargs


@dataclass
class CollectConfig:
    """Record episodes from a Gymnasium env into a dataset (docs/dataset_format.md).

    Attributes:
        env: the env (config group ``env``; ``env.id`` may be any registered id).
        out: dataset folder; rerunning on it resumes (same settings required).
        episodes: number of episodes N (raise it on a finished dataset to add episodes).
        steps: steps T per episode (fewer if the env terminates first); T + 1 frames.
        policy: scripted voxel policy name, ``mixture``, ``random`` (action_space.sample),
            ``scripted:<name>``, or ``package.module:function`` taking (obs, info) -> action.
        seed: run seed; episode i uses a seed derived from (seed, i).
        num_workers: worker processes (0: play in this process).
        ground_truth: any of pose, intrinsics, depth (voxel world, or an env that puts them in info).
        encoding: frames encoding, npz (lossless, default) or mp4 (H.264, lossy, ~2.5x smaller).
        progress: show a progress bar over episodes.
    """

    env: CollectEnvConfig = field(default_factory=CollectEnvConfig)
    out: str = "runs/data"
    episodes: int = 20
    steps: int = 200
    policy: str = "mixture"
    seed: int = 0
    num_workers: int = 2
    ground_truth: list[str] = field(default_factory=list)
    encoding: str = "npz"
    progress: bool = True

    def __post_init__(self) -> None:
        if self.episodes < 1 or self.steps < 1:
            raise ValueError(f"episodes and steps must be >= 1, got {self.episodes}, {self.steps}")
        if self.num_workers < 0:
            raise ValueError(f"num_workers must be >= 0, got {self.num_workers}")
        if self.encoding not in FRAME_ENCODINGS:
            raise ValueError(f"encoding must be one of {list(FRAME_ENCODINGS)}, got {self.encoding!r}")
        unknown = sorted(set(self.ground_truth) - set(GROUND_TRUTH_KEYS))
        if unknown:
            raise ValueError(f"unknown ground_truth keys {unknown}; valid: {list(GROUND_TRUTH_KEYS)}")
        check_policy_spec(self.policy)


@dataclass
class CollectResult:
    """What a ``collect`` call did.

    Attributes:
        path: the dataset folder.
        episodes_written: episodes played by this call.
        episodes_skipped: episodes already present and intact.
        frames_written: frames in the new shards.
        bytes_written: bytes of the new shards.
        seconds: wall time of playing and writing (worker start-up included).
        commit_times: seconds since the call started at which each new episode was committed
            (start-up shows as the wait for the first ones).
    """

    path: Path
    episodes_written: int
    episodes_skipped: int
    frames_written: int
    bytes_written: int
    seconds: float
    commit_times: list[float] = field(default_factory=list)


@dataclass(frozen=True)
class _Job:
    """Everything a worker needs, picklable."""

    root: str
    env_id: str
    env_kwargs: dict
    policy: str
    seed: int
    steps: int
    ground_truth: tuple[str, ...]
    encoding: str
    flat_dim: int
    canonical: bool


_WORKER: dict[str, Any] = {}


def _frame(obs: Any) -> np.ndarray:
    if isinstance(obs, dict):
        for key in ("pov", "rgb", "image", "pixels"):
            if key in obs:
                return _frame(obs[key])
        raise ValueError(
            f"dict observations need a frame under pov, rgb, image or pixels; keys: {sorted(obs)}"
        )
    frame = np.asarray(obs)
    if frame.dtype != np.uint8 or frame.ndim != 3 or frame.shape[-1] != 3:
        raise ValueError(f"observations must be uint8 (H, W, 3) frames, got {frame.dtype} {frame.shape}")
    return frame


def _raw_json(action: Any) -> str:
    return json.dumps(jsonable(action), sort_keys=False, separators=(",", ":"))


def _play_episode(env: gym.Env, job: _Job, index: int) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """Play episode ``index`` of ``job`` in ``env``; return its arrays and manifest info."""
    seed = episode_seed(job.seed, index)
    obs, info = env.reset(seed=seed)
    name, policy = start_episode_policy(job.policy, env, seed)
    frames, actions, raw, rewards, terms, truncs = [_frame(obs)], [], [], [], [], []
    missing = [key for key in job.ground_truth if key not in info]
    if missing:
        raise ValueError(
            f"{job.env_id} does not report ground truth {missing} in info; it reports {sorted(info)}"
        )
    truth = {key: [info[key]] for key in job.ground_truth if key != "intrinsics"}
    intrinsics = np.asarray(info["intrinsics"], np.float64) if "intrinsics" in job.ground_truth else None
    for _ in range(job.steps):
        action = policy(obs, info)
        obs, reward, terminated, truncated, info = env.step(action)
        frames.append(_frame(obs))
        actions.append(A.to_flat(action) if job.canonical else gym.spaces.flatten(env.action_space, action))
        raw.append(_raw_json(action))
        rewards.append(reward)
        terms.append(terminated)
        truncs.append(truncated)
        for key in truth:
            truth[key].append(info[key])
        if terminated or truncated:
            break
    arrays = {
        "frames": np.stack(frames),
        "actions": np.asarray(actions, np.float32),
        "raw_actions": np.array(raw),
        "rewards": np.asarray(rewards, np.float32),
        "terminated": np.asarray(terms, bool),
        "truncated": np.asarray(truncs, bool),
    }
    dtypes = {"pose": np.float64, "depth": np.float16}
    arrays.update({key: np.asarray(values, dtypes[key]) for key, values in truth.items()})
    if intrinsics is not None:
        arrays["intrinsics"] = intrinsics
    return arrays, {"seed": seed, "policy": name, "return": float(np.sum(rewards))}


def _make_env(env_id: str, env_kwargs: dict[str, Any]) -> gym.Env:
    import envs  # noqa: F401  (registers the simworld/* ids in spawned workers)

    return gym.make(env_id, **env_kwargs)


def _write(job: _Job, index: int, arrays: dict[str, np.ndarray], info: dict[str, Any]) -> EpisodeRecord:
    return write_episode(
        job.root,
        index,
        arrays,
        frames_encoding=job.encoding,
        flat_dim=job.flat_dim,
        ground_truth=job.ground_truth,
        info=info,
    )


def _init_worker(job: _Job, threads: int) -> None:
    # one numba thread per core and worker: parallel episodes beat a parallel renderer, and a
    # multi-threaded renderer per process oversubscribes the cores
    try:
        import numba

        numba.set_num_threads(max(1, min(threads, numba.config.NUMBA_NUM_THREADS)))
    except ImportError:
        pass
    _WORKER["job"], _WORKER["env"] = job, _make_env(job.env_id, job.env_kwargs)


def _worker_episode(index: int) -> EpisodeRecord:
    job: _Job = _WORKER["job"]
    return _write(job, index, *_play_episode(_WORKER["env"], job, index))


def _action_schema(env: gym.Env) -> tuple[dict[str, Any], bool]:
    """The manifest's action schema for ``env``, and whether it is the canonical one."""
    space = env.action_space
    if isinstance(space, gym.spaces.Dict) and tuple(space.spaces) == A.ALL_KEYS:
        return canonical_action_schema(), True
    flat_dim = int(gym.spaces.flatdim(space))
    return {"name": GYMNASIUM_FLATTEN_SCHEMA, "flat_dim": flat_dim, "space": str(space)}, False


def _plan(cfg: CollectConfig) -> tuple[Manifest, _Job, gym.Env]:
    """The dataset header, the workers' job, and an env made from ``cfg`` (tells the action space)."""
    env_kwargs = cfg.env.make_kwargs(cfg.steps, cfg.ground_truth)
    env = _make_env(cfg.env.id, env_kwargs)
    action_schema, canonical = _action_schema(env)
    header = Manifest(
        env={"id": cfg.env.id, "params": env_kwargs},
        action_schema=action_schema,
        frames_encoding=cfg.encoding,
        ground_truth=list(cfg.ground_truth),
        source={"kind": "collect", "policy": cfg.policy, "seed": cfg.seed, "steps": cfg.steps},
    )
    job = _Job(
        root=str(Path(cfg.out)),
        env_id=cfg.env.id,
        env_kwargs=env_kwargs,
        policy=cfg.policy,
        seed=cfg.seed,
        steps=cfg.steps,
        ground_truth=tuple(cfg.ground_truth),
        encoding=cfg.encoding,
        flat_dim=header.flat_dim,
        canonical=canonical,
    )
    return header, job, env


def collect(cfg: CollectConfig) -> CollectResult:
    """Collect (or resume collecting) ``cfg.episodes`` episodes into ``cfg.out``.

    Call it under ``if __name__ == "__main__":`` in scripts: worker processes are spawned.

    Raises:
        ValueError: the folder holds a dataset made with other settings, the env's observations are
            not frames, or the policy does not fit the env.
    """
    t0 = time.perf_counter()
    header, job, env = _plan(cfg)
    writer = DatasetWriter(cfg.out, header)
    writer.remove_temporary_files()
    done = set(writer.verify_existing())
    todo = [i for i in range(cfg.episodes) if i not in done]
    bar = tqdm(
        total=cfg.episodes,
        initial=cfg.episodes - len(todo),
        desc=f"collect {Path(cfg.out).name}",
        unit="ep",
        disable=not cfg.progress,
    )
    new: list[EpisodeRecord] = []
    commit_times: list[float] = []

    def commit(record: EpisodeRecord) -> None:
        writer.commit(record)
        new.append(record)
        commit_times.append(time.perf_counter() - t0)
        bar.update(1)

    try:
        if cfg.num_workers == 0:
            for index in todo:
                commit(_write(job, index, *_play_episode(env, job, index)))
        elif todo:
            env.close()
            _collect_parallel(job, todo, min(cfg.num_workers, len(todo)), commit)
    finally:
        bar.close()
        env.close()
    return CollectResult(
        path=writer.root,
        episodes_written=len(new),
        episodes_skipped=len(done),
        frames_written=sum(r.num_frames for r in new),
        bytes_written=sum(r.bytes for r in new),
        seconds=time.perf_counter() - t0,
        commit_times=commit_times,
    )


def _collect_parallel(job: _Job, todo: list[int], workers: int, commit: Callable[[EpisodeRecord], None]):
    """Play ``todo`` in ``workers`` spawned processes, committing each record as it arrives."""
    threads = max(1, (os.cpu_count() or 1) // workers)
    context = multiprocessing.get_context("spawn")
    pool = ProcessPoolExecutor(workers, mp_context=context, initializer=_init_worker, initargs=(job, threads))
    with pool:
        pending = {pool.submit(_worker_episode, index) for index in todo}
        try:
            while pending:
                finished, pending = wait(pending, return_when=FIRST_COMPLETED)
                for future in finished:
                    commit(future.result())  # re-raises a worker's exception
        except BaseException:
            for future in pending:
                future.cancel()
            raise
