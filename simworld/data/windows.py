"""``WindowDataset``: fixed-length windows of a dataset's episodes for training, as a torch dataset.

A window of ``window`` = T frames starting at frame s of an episode is::

    frames      uint8   (T, H, W, 3)   frames[s : s+T]            (latent caches: latents (T, C, h, w))
    actions     float32 (T-1, D)       actions[s : s+T-1]; actions[i] is taken at frames[i] and
                                       leads to frames[i+1]
    rewards     float32 (T-1,)         reward of actions[i]
    terminated  bool    (T-1,)         frames[i+1] is terminal
    truncated   bool    (T-1,)         the episode was cut after actions[i]
    episode     int64   ()             the episode index; start: int64 () = s

plus, on request (``keys``), ``pose`` float64 (T, 5), ``depth`` float16 (T, H, W), ``intrinsics``
float64 (3, 3), ``raw_actions`` (one str: a JSON array of the T-1 raw actions, so that it batches
as a list of B strings) and ``extra_*`` (T-1, ...). Windows never cross
episodes.

Which windows, in which order (one epoch, ``set_epoch`` to change it):

1. Episodes are split into train and val by a seeded hash of their index (``split_episodes``):
   stable when episodes are added to the dataset.
2. Strided windows start at 0, stride, 2·stride, ... ≤ L - T for an episode of L frames. Random
   windows (``random=True``) draw the same number of starts uniformly from [0, L - T], seeded by
   (seed, epoch).
3. Episodes are put in a seeded random order (``shuffle``), their windows listed in that order, the
   list cut to a multiple of the DDP world size and split into equal contiguous parts, one per
   rank; each rank's part is split into contiguous parts, one per DataLoader worker. Every window
   goes to exactly one (rank, worker); every rank gets the same number (DDP steps stay in lockstep;
   at most world_size - 1 windows per epoch are dropped).
4. Each worker reads ``mix_episodes`` consecutive episodes of its part at a time (each shard is
   read and decoded once per epoch) and yields their windows in a seeded random order.

Shards are checked against the manifest's sha256 when read (``verify``); a corrupt shard raises
``CorruptShardError`` instead of being trained on.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import IterableDataset, get_worker_info

from simworld.data.format import DATASET_SCHEMA, EXTRA_PREFIX, LATENTS_SCHEMA, EpisodeRecord, load_manifest
from simworld.data.shards import read_shard

SPLITS = ("train", "val", "all")
STEP_KEYS = ("actions", "rewards", "terminated", "truncated")


def _unit_hash(seed: int, index: int) -> float:
    """A uniform number in [0, 1) determined by (seed, index)."""
    return float(np.random.SeedSequence([int(seed), int(index), 0x5917]).generate_state(1)[0]) / 2**32


def split_episodes(indices: Sequence[int], split: str, val_fraction: float, seed: int) -> list[int]:
    """The episode indices of ``split``; val holds those whose (seed, index) hash is < val_fraction.

    The rule is per episode, so adding episodes never moves an existing one between splits. When
    ``val_fraction`` > 0 but no episode falls under it (tiny datasets), the lowest-hash episode is
    val; when all do, the highest-hash one is train.

    Raises:
        ValueError: unknown split or val_fraction outside [0, 1).
    """
    if split not in SPLITS:
        raise ValueError(f"split must be one of {list(SPLITS)}, got {split!r}")
    if not 0.0 <= val_fraction < 1.0:
        raise ValueError(f"val_fraction must be in [0, 1), got {val_fraction}")
    if split == "all":
        return list(indices)
    scores = {i: _unit_hash(seed, i) for i in indices}
    val = {i for i, u in scores.items() if u < val_fraction}
    if val_fraction > 0 and len(indices) >= 2:
        if not val:
            val = {min(scores, key=scores.get)}
        if len(val) == len(indices):
            val.discard(max(scores, key=scores.get))
    return [i for i in indices if (i in val) == (split == "val")]


class WindowDataset(IterableDataset):
    """Windows of T frames (or latents) with their T-1 actions; see the module docstring.

    Args:
        path: a dataset folder, or a latent cache (``simworld.data.latents``; yields ``latents``).
        window: T, frames per window (>= 2).
        stride: distance between strided window starts; default ``window`` (no overlap).
        random: draw window starts at random instead (as many per episode as strided ones).
        split: "train", "val" or "all".
        val_fraction: share of episodes in val.
        seed: seeds the split, the episode order, random starts and the in-worker shuffle.
        shuffle: shuffle episodes and windows (False: episode index order, windows in order).
        mix_episodes: episodes whose windows a worker pools and shuffles together.
        frame_size: (H, W) to use from a dataset holding several sizes; required then.
        keys: extra arrays to yield: pose, depth, intrinsics, raw_actions, extra_*.
        verify: check each shard's sha256 when reading it.
        rank: DDP rank; default ``torch.distributed``'s when initialised, else 0.
        world_size: DDP world size; default ``torch.distributed``'s when initialised, else 1.

    Raises:
        FileNotFoundError: no dataset at ``path``.
        ValueError: bad arguments, several frame sizes without ``frame_size``, no episode in the
            split, or a window longer than every episode of the split.
    """

    def __init__(
        self,
        path: str | Path,
        window: int,
        *,
        stride: int | None = None,
        random: bool = False,
        split: str = "train",
        val_fraction: float = 0.1,
        seed: int = 0,
        shuffle: bool = True,
        mix_episodes: int = 8,
        frame_size: Sequence[int] | None = None,
        keys: Sequence[str] = (),
        verify: bool = True,
        rank: int | None = None,
        world_size: int | None = None,
    ) -> None:
        super().__init__()
        self.root = Path(path)
        self.manifest = load_manifest(self.root, schemas=(DATASET_SCHEMA, LATENTS_SCHEMA))
        self.frames_key = "latents" if self.manifest.schema == LATENTS_SCHEMA else "frames"
        stride = window if stride is None else stride
        if window < 2 or stride < 1 or mix_episodes < 1:
            raise ValueError(
                f"window must be >= 2, stride and mix_episodes >= 1; got {window}, {stride}, {mix_episodes}"
            )
        valid_keys = {"raw_actions", *self.manifest.ground_truth}
        unknown = [k for k in keys if k not in valid_keys and not k.startswith(EXTRA_PREFIX)]
        if unknown:
            raise ValueError(
                f"unknown keys {unknown}; this dataset offers {sorted(valid_keys)} and extra_* arrays"
            )
        self.window, self.stride, self.random, self.split = window, stride, random, split
        self.seed, self.shuffle, self.mix_episodes = seed, shuffle, mix_episodes
        self.keys, self.verify, self.rank, self.world_size = tuple(keys), verify, rank, world_size
        self.epoch = 0
        self.episodes = self._select(split, val_fraction, frame_size)

    def _select(
        self, split: str, val_fraction: float, frame_size: Sequence[int] | None
    ) -> list[EpisodeRecord]:
        records = self.manifest.episodes
        if self.frames_key == "frames":
            sizes = self.manifest.frame_sizes
            if frame_size is None and len(sizes) > 1:
                raise ValueError(
                    f"{self.root} holds episodes of several frame sizes {sizes} (H, W); pass "
                    f"frame_size=(H, W) to pick one"
                )
            if frame_size is not None:
                records = [r for r in records if list(r.frame_size) == list(frame_size)]
                if not records:
                    raise ValueError(
                        f"{self.root} has no episode of frame size {list(frame_size)}; sizes: {sizes}"
                    )
        chosen = set(split_episodes([r.index for r in records], split, val_fraction, self.seed))
        records = [r for r in records if r.index in chosen]
        if not records:
            raise ValueError(
                f"the {split} split of {self.root} has no episodes "
                f"({len(self.manifest.episodes)} in the dataset, val_fraction={val_fraction})"
            )
        longest = max(r.num_frames for r in records)
        if longest < self.window:
            raise ValueError(
                f"window={self.window} frames is longer than every episode of the {split} split of "
                f"{self.root}: the longest has {longest} frames; use window <= {longest}"
            )
        return records

    def set_epoch(self, epoch: int) -> None:
        """Choose the epoch (episode order and random starts). Call before creating the iterator;
        with ``persistent_workers=True`` the workers keep the epoch they started with."""
        self.epoch = int(epoch)

    def _rank_world(self) -> tuple[int, int]:
        if self.rank is not None or self.world_size is not None:
            rank, world = self.rank or 0, self.world_size or 1
        elif torch.distributed.is_available() and torch.distributed.is_initialized():
            rank, world = torch.distributed.get_rank(), torch.distributed.get_world_size()
        else:
            rank, world = 0, 1
        if not 0 <= rank < world:
            raise ValueError(f"rank must be in [0, world_size={world}), got {rank}")
        return rank, world

    def epoch_plan(self, epoch: int | None = None) -> list[tuple[int, int]]:
        """Every (episode index, start) of an epoch, in order, before the split over ranks."""
        epoch = self.epoch if epoch is None else epoch
        rng = np.random.default_rng([self.seed, epoch, 0x77])
        order = rng.permutation(len(self.episodes)) if self.shuffle else np.arange(len(self.episodes))
        plan = []
        for position in order:
            record = self.episodes[position]
            last = record.num_frames - self.window
            if last < 0:
                continue
            count = last // self.stride + 1
            starts = (
                np.sort(rng.integers(0, last + 1, count))
                if self.random
                else np.arange(0, last + 1, self.stride)
            )
            plan += [(record.index, int(s)) for s in starts]
        return plan

    def windows(
        self,
        epoch: int | None = None,
        rank: int = 0,
        world_size: int = 1,
        worker: int = 0,
        num_workers: int = 1,
    ) -> list[tuple[int, int]]:
        """The (episode index, start) pairs that ``(rank, worker)`` yields in ``epoch``, unshuffled."""
        plan = self.epoch_plan(epoch)
        per_rank = len(plan) // world_size
        part = plan[rank * per_rank : (rank + 1) * per_rank]
        bounds = np.linspace(0, len(part), num_workers + 1).round().astype(int)
        return part[bounds[worker] : bounds[worker + 1]]

    def __len__(self) -> int:
        """Windows this rank yields per epoch (over all its DataLoader workers)."""
        return len(self.epoch_plan()) // self._rank_world()[1]

    def __iter__(self) -> Iterator[dict[str, Any]]:
        rank, world = self._rank_world()
        info = get_worker_info()
        worker, num_workers = (info.id, info.num_workers) if info is not None else (0, 1)
        mine = self.windows(self.epoch, rank, world, worker, num_workers)
        rng = np.random.default_rng([self.seed, self.epoch, rank, worker, 0x5EED])
        by_episode = [
            (ep, [s for _, s in group]) for ep, group in itertools.groupby(mine, key=lambda w: w[0])
        ]
        records = {r.index: r for r in self.episodes}
        for first in range(0, len(by_episode), self.mix_episodes):
            pool = by_episode[first : first + self.mix_episodes]
            loaded = {ep: self._load(records[ep]) for ep, _ in pool}
            items = [(ep, s) for ep, starts in pool for s in starts]
            if self.shuffle:
                items = [items[i] for i in rng.permutation(len(items))]
            for ep, start in items:
                yield self._window(loaded[ep], ep, start)

    def _load(self, record: EpisodeRecord) -> dict[str, np.ndarray]:
        wanted = (self.frames_key, *STEP_KEYS, *self.keys)
        return read_shard(self.root, record, keys=wanted, verify=self.verify)

    def _window(self, arrays: dict[str, np.ndarray], episode: int, start: int) -> dict[str, Any]:
        T, s = self.window, start
        sample: dict[str, Any] = {
            self.frames_key: torch.from_numpy(np.ascontiguousarray(arrays[self.frames_key][s : s + T]))
        }
        for key in STEP_KEYS:
            sample[key] = torch.from_numpy(np.ascontiguousarray(arrays[key][s : s + T - 1]))
        sample["episode"] = torch.tensor(episode, dtype=torch.int64)
        sample["start"] = torch.tensor(start, dtype=torch.int64)
        for key in self.keys:
            if key not in arrays:
                raise ValueError(f"episode {episode} has no array {key!r}; it has {sorted(arrays)}")
            if key == "intrinsics":
                sample[key] = torch.from_numpy(arrays[key].copy())
            elif key == "raw_actions":
                sample[key] = "[" + ",".join(str(v) for v in arrays[key][s : s + T - 1]) + "]"
            elif key in ("pose", "depth"):
                sample[key] = torch.from_numpy(np.ascontiguousarray(arrays[key][s : s + T]))
            else:
                sample[key] = torch.from_numpy(np.ascontiguousarray(arrays[key][s : s + T - 1]))
        return sample
