"""WindowDataset: shapes, alignment, coverage, seeding, rank × worker disjointness, splits, bad input."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

from simworld.data.shards import CorruptShardError
from simworld.data.windows import WindowDataset, split_episodes


def pairs(samples) -> list[tuple[int, int]]:
    """(episode, start) of every window in an iterable of samples or batches."""
    out = []
    for sample in samples:
        episodes, starts = sample["episode"].reshape(-1).tolist(), sample["start"].reshape(-1).tolist()
        out += list(zip(episodes, starts))
    return out


@pytest.fixture
def dataset(tmp_path: Path, make_dataset) -> Path:
    # 12 episodes of 20..31 steps (21..32 frames)
    return make_dataset(tmp_path / "ds", [20 + i for i in range(12)])


def test_window_shapes_and_alignment(dataset: Path) -> None:
    ds = WindowDataset(dataset, window=6, split="all", keys=("pose", "raw_actions"))
    sample = next(iter(ds))
    assert sample["frames"].shape == (6, 8, 8, 3) and sample["frames"].dtype == torch.uint8
    assert sample["actions"].shape == (5, 21) and sample["actions"].dtype == torch.float32
    for key in ("rewards", "terminated", "truncated"):
        assert sample[key].shape == (5,)
    assert sample["pose"].shape == (6, 5) and len(json.loads(sample["raw_actions"])) == 5
    s, ep = int(sample["start"]), int(sample["episode"])
    # frame i of the window is frame s + i of its episode; action i was taken at frame s + i
    assert sample["frames"][:, 0, 0, 0].tolist() == list(range(s, s + 6))
    assert (sample["frames"][:, 0, 0, 1] == ep).all()
    assert sample["actions"][:, 10].numpy() == pytest.approx(np.arange(s, s + 5) / 1000.0)
    assert sample["rewards"].tolist() == list(range(s, s + 5))
    assert json.loads(sample["raw_actions"])[0] == {"t": s}
    batch = next(iter(DataLoader(ds, batch_size=3)))
    assert batch["frames"].shape == (3, 6, 8, 8, 3) and len(batch["raw_actions"]) == 3


def test_strided_windows_cover_every_episode(dataset: Path) -> None:
    ds = WindowDataset(dataset, window=5, stride=5, split="all", shuffle=False)
    got = pairs(ds)
    expected = [(ep, s) for ep in range(12) for s in range(0, 21 + ep - 5 + 1, 5)]
    assert got == expected and len(ds) == len(expected)
    overlapping = WindowDataset(dataset, window=5, stride=1, split="all")
    assert Counter(pairs(overlapping)) == Counter((ep, s) for ep in range(12) for s in range(21 + ep - 4))


def test_random_windows_are_deterministic_by_seed(dataset: Path) -> None:
    def draw(seed: int, epoch: int = 0) -> list[tuple[int, int]]:
        ds = WindowDataset(dataset, window=4, random=True, seed=seed, split="all")
        ds.set_epoch(epoch)
        return pairs(ds)

    first = draw(1)
    assert first == draw(1)
    assert first != draw(2) and first != draw(1, epoch=1)
    assert all(0 <= s <= 21 + ep - 4 for ep, s in first)
    assert len(set(first)) > len(first) // 2  # starts are spread, not a stride grid


def test_ranks_and_workers_split_windows_without_duplicates(dataset: Path) -> None:
    seen = []
    for rank in range(2):
        ds = WindowDataset(dataset, window=4, stride=3, split="all", rank=rank, world_size=2, mix_episodes=2)
        loader = DataLoader(ds, batch_size=4, num_workers=2)
        got = pairs(loader)
        assert len(got) == len(ds)
        seen.append(got)
    assert not set(seen[0]) & set(seen[1])
    assert len(seen[0]) == len(seen[1])  # DDP ranks step in lockstep
    everything = set(WindowDataset(dataset, window=4, stride=3, split="all").epoch_plan())
    union = seen[0] + seen[1]
    assert len(union) == len(set(union))  # no duplicate across ranks and workers
    assert set(union) <= everything and len(everything) - len(union) < 2  # at most world_size - 1 dropped
    # each worker yields its own contiguous part: the 4 (rank, worker) parts are disjoint
    full = WindowDataset(dataset, window=4, stride=3, split="all")
    parts = [set(full.windows(0, r, 2, w, 2)) for r in range(2) for w in range(2)]
    assert sum(len(p) for p in parts) == len(set().union(*parts)) == len(union)


def test_train_and_val_split_by_episode(dataset: Path, tmp_path: Path, make_dataset) -> None:
    train = WindowDataset(dataset, window=4, split="train", val_fraction=0.25, seed=3)
    val = WindowDataset(dataset, window=4, split="val", val_fraction=0.25, seed=3)
    train_eps = {ep for ep, _ in pairs(train)}
    val_eps = {ep for ep, _ in pairs(val)}
    assert train_eps and val_eps and not train_eps & val_eps
    assert train_eps | val_eps == set(range(12))
    # per-episode rule: growing the dataset does not move existing episodes between splits
    grown = split_episodes(list(range(40)), "val", 0.25, seed=3)
    assert [i for i in grown if i < 12] == sorted(val_eps)
    assert split_episodes(list(range(12)), "val", 0.25, 3) == split_episodes(list(range(12)), "val", 0.25, 3)


def test_refuses_a_corrupt_shard(dataset: Path) -> None:
    shard = dataset / "episodes" / "ep_000003.npz"
    data = bytearray(shard.read_bytes())
    data[len(data) // 2] ^= 0x10
    shard.write_bytes(bytes(data))
    ds = WindowDataset(dataset, window=4, split="all", shuffle=False)
    with pytest.raises(CorruptShardError, match="episode 3.*ep_000003.npz.*sha256"):
        list(ds)


def test_bad_input(dataset: Path, tmp_path: Path, make_dataset) -> None:
    with pytest.raises(
        ValueError, match="window=40 frames is longer than every episode.*longest has 32 frames"
    ):
        WindowDataset(dataset, window=40, split="all")
    with pytest.raises(FileNotFoundError, match="does not exist"):
        WindowDataset(tmp_path / "nowhere", window=4)
    with pytest.raises(ValueError, match="split must be one of"):
        WindowDataset(dataset, window=4, split="test")
    with pytest.raises(ValueError, match="unknown keys \\['depth'\\]"):
        WindowDataset(dataset, window=4, keys=("depth",))
    mixed = make_dataset(tmp_path / "mixed", [6, 6, 6], frame_sizes=[(8, 8), (8, 12), (8, 12)])
    with pytest.raises(ValueError, match=r"several frame sizes \[\[8, 8\], \[8, 12\]\].*frame_size=\(H, W\)"):
        WindowDataset(mixed, window=4, split="all")
    wide = WindowDataset(mixed, window=4, split="all", frame_size=(8, 12))
    assert {ep for ep, _ in pairs(wide)} == {1, 2}
    assert next(iter(wide))["frames"].shape == (4, 8, 12, 3)
