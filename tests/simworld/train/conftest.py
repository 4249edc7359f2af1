"""Shared fixtures of the training tests: one tiny collected voxel dataset per session and the
config overrides of tiny, fast training runs.

Helpers are handed out as fixtures (pytest runs with ``--import-mode=importlib``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import torch

from envs.voxel.config import VoxelWorldConfig
from simworld.config import load_config, to_dataclass
from simworld.data.collect import CollectConfig, CollectEnvConfig, collect
from simworld.train.run import TrainConfig

#: 4 episodes x 24 steps at 32x32 in a 48x48x32 world: collected in about a second.
WORLD = {"world_size": 48, "world_height": 32, "terrain_height": 12, "terrain_amplitude": 4.0, "sea_level": 8}


@pytest.fixture(scope="module", autouse=True)
def one_thread() -> Iterator[None]:
    """Train the tiny models on one thread: on 2 shared cores OpenMP's spin-waiting made these
    tests 10x slower with 2 threads (5 s vs 60-110 s for this folder)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="session")
def tiny_dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A collected voxel dataset: 4 episodes x 24 steps of 32x32 frames."""
    out = tmp_path_factory.mktemp("train_data") / "data"
    world = VoxelWorldConfig(**WORLD, width=32, height=32)
    cfg = CollectConfig(
        env=CollectEnvConfig(world=world), out=str(out), episodes=4, steps=24, num_workers=0, progress=False
    )
    collect(cfg)
    return out


@pytest.fixture
def tiny_overrides(tiny_dataset: Path) -> Callable[..., list[str]]:
    """``tiny_overrides(out, *more)``: overrides of a tiny pixel-space DiT run of 4 steps on CPU."""

    def make(out: Path, *more: str) -> list[str]:
        return [
            f"data.path={tiny_dataset}",
            f"trainer.out={out}",
            "trainer=debug",
            "vae=pixel",
            "data.window=4",
            "data.batch_size=2",
            "trainer.progress=false",
            *more,
        ]

    return make


@pytest.fixture
def tiny_config(tiny_overrides: Callable[..., list[str]]) -> Callable[..., TrainConfig]:
    """``tiny_config(out, *more)``: the validated ``TrainConfig`` of those overrides."""

    def make(out: Path, *more: str) -> TrainConfig:
        return to_dataclass(load_config("train", tiny_overrides(out, *more)), TrainConfig)

    return make
