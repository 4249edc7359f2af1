"""``BatchedWorld`` per-env resets: only the reset rows are prefilled, the other envs' caches are
left exactly as they were, and the reset row continues as a freshly started env would."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from envs.learned.contexts import Context
from envs.learned.core import BatchedWorld, load_model
from simworld import actions as A


def _context(seed: int, T: int) -> Context:
    rng = np.random.default_rng(seed)
    frames = rng.integers(0, 256, (T, 16, 16, 3), dtype=np.uint8)
    actions = rng.uniform(-1, 1, (T - 1, A.FLAT_DIM)).astype(np.float32)
    return Context(frames, actions, f"random:{seed}")


def _actions(step: int, n: int) -> torch.Tensor:
    return torch.from_numpy(
        np.random.default_rng(1000 + step).uniform(-1, 1, (n, A.FLAT_DIM)).astype(np.float32)
    )


def _world(checkpoint: str, n: int = 3) -> BatchedWorld:
    world = BatchedWorld(load_model(checkpoint), n)
    world.reset_rows({i: _context(i, 4) for i in range(n)}, {i: 10 + i for i in range(n)}, [0] * n)
    return world


def _run(world: BatchedWorld, start: int, steps: int) -> np.ndarray:
    return np.stack(
        [world.step(_actions(start + k, world.num_envs))["frames"].numpy() for k in range(steps)], 1
    )


@pytest.mark.parametrize("kind", ["checkpoint", "reference_checkpoint"])
def test_a_partial_reset_leaves_the_other_envs_untouched(kind: str, request: pytest.FixtureRequest) -> None:
    checkpoint = request.getfixturevalue(kind)
    a, b = _world(checkpoint), _world(checkpoint)
    _run(a, 0, 12), _run(b, 0, 12)  # past the 8-frame window: the cache has wrapped
    calls: list[int] = []
    hook = b.model.dit.register_forward_hook(lambda module, args, out: calls.append(args[0].shape[0]))
    b.reset_rows({1: _context(99, 8)}, {1: 7}, [0] * 3)
    hook.remove()
    assert calls == [1]  # one forward over the reset row only
    fa, fb = _run(a, 12, 6), _run(b, 12, 6)
    assert np.array_equal(fa[[0, 2]], fb[[0, 2]])  # the kept envs go on bit for bit
    assert not np.array_equal(fa[1], fb[1])


@pytest.mark.parametrize("kind", ["checkpoint", "reference_checkpoint"])
def test_the_reset_row_continues_like_a_fresh_start(kind: str, request: pytest.FixtureRequest) -> None:
    checkpoint = request.getfixturevalue(kind)
    world = _world(checkpoint)
    _run(world, 0, 12)
    world.reset_rows({1: _context(99, 8)}, {1: 7}, [0] * 3)
    reset = _run(world, 12, 6)[1]
    fresh = BatchedWorld(load_model(checkpoint), 3)
    fresh.reset_rows({0: _context(0, 8), 1: _context(99, 8), 2: _context(2, 8)}, {0: 1, 1: 7, 2: 3}, [0] * 3)
    again = _run(fresh, 12, 6)[1]
    # same context, seed and actions; only the absolute RoPE positions differ (float rounding)
    diff = np.abs(reset.astype(int) - again.astype(int))
    assert diff.mean() < 0.5 and diff.max() <= 3


def test_a_context_longer_than_the_batch_window_rebuilds_the_batch(checkpoint: str) -> None:
    world = _world(checkpoint)  # windows of 4 frames
    world.reset_rows({2: _context(5, 8)}, {2: 1}, [0] * 3)  # 8 > 4: whole-batch prefill
    assert world.ar.window["latents"].shape[1] == 8 and world.ar.cache.num_frames == 8
    frames = world.step(_actions(0, 3))["frames"]
    assert frames.shape == (3, 16, 16, 3)
