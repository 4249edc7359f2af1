"""Training-state storage: flatten/unflatten round trips, atomic save/load, RNG capture/restore."""

from __future__ import annotations

import json
import random
from pathlib import Path

import numpy as np
import torch

from simworld.train.state import (
    STATE_DIR,
    capture_rng,
    flatten,
    load_train_state,
    restore_rng,
    save_train_state,
    unflatten,
)


def _optimizer() -> torch.optim.Optimizer:
    model = torch.nn.Linear(3, 2)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3, betas=(0.8, 0.9))
    model(torch.randn(4, 3)).sum().backward()
    opt.step()
    return opt


def test_optimizer_state_round_trips_through_json_and_tensors() -> None:
    opt = _optimizer()
    tensors: dict[str, torch.Tensor] = {}
    structure = json.loads(json.dumps(flatten(opt.state_dict(), "opt", tensors)))
    restored = unflatten(structure, tensors)
    original = opt.state_dict()
    assert restored["param_groups"][0]["lr"] == original["param_groups"][0]["lr"]
    assert set(restored["state"]) == set(original["state"]) == {0, 1}  # int keys survive
    for idx, entry in original["state"].items():
        for key, value in entry.items():
            assert torch.equal(restored["state"][idx][key], value)
    fresh = torch.optim.AdamW(torch.nn.Linear(3, 2).parameters())
    fresh.load_state_dict(restored)


def test_save_is_atomic_and_loads_back(tmp_path: Path) -> None:
    state = {"step": 3, "weights": {"a.b": torch.arange(4.0)}, "none": None, "list": [1, torch.ones(2)]}
    save_train_state(tmp_path, state)
    save_train_state(tmp_path, {**state, "step": 4})  # replaces the old folder
    loaded = load_train_state(tmp_path)
    assert loaded["step"] == 4 and loaded["none"] is None
    assert torch.equal(loaded["weights"]["a.b"], torch.arange(4.0))
    assert torch.equal(loaded["list"][1], torch.ones(2))
    assert sorted(p.name for p in tmp_path.iterdir()) == [STATE_DIR]  # no temporary folders left
    assert not any(p.suffix == ".pkl" for p in (tmp_path / STATE_DIR).iterdir())
    assert load_train_state(tmp_path / "missing") is None


def test_rng_capture_restore_repeats_every_stream(tmp_path: Path) -> None:
    gen = torch.Generator().manual_seed(5)
    state = capture_rng(gen)
    save_train_state(tmp_path, {"rng": state})
    first = (torch.rand(3), torch.rand(3, generator=gen), np.random.rand(3), random.random())
    restore_rng(load_train_state(tmp_path)["rng"], gen)
    second = (torch.rand(3), torch.rand(3, generator=gen), np.random.rand(3), random.random())
    assert torch.equal(first[0], second[0]) and torch.equal(first[1], second[1])
    assert np.array_equal(first[2], second[2]) and first[3] == second[3]


def test_a_kill_during_saving_leaves_a_loadable_state(tmp_path: Path) -> None:
    save_train_state(tmp_path, {"step": 1})
    (tmp_path / f".{STATE_DIR}.tmp").mkdir()  # killed while writing the next state
    assert load_train_state(tmp_path)["step"] == 1
    (tmp_path / STATE_DIR).rename(tmp_path / f".{STATE_DIR}.old")  # killed between the two renames
    assert load_train_state(tmp_path)["step"] == 1
    save_train_state(tmp_path, {"step": 2})  # the next save cleans up
    assert load_train_state(tmp_path)["step"] == 2
    assert sorted(p.name for p in tmp_path.iterdir()) == [STATE_DIR]
