"""Which policy plays each episode of a collection, and how it is seeded.

A policy spec is a string:

- a scripted voxel policy by name (``envs.voxel.policies.POLICIES``: ``explore``, ``loop``,
  ``circle``, ``build_break``, ``noop``) or ``scripted:<name>`` (the only way to get the scripted
  ``random`` policy, whose bare name means the next item);
- ``random``: ``env.action_space.sample()``, the space seeded with the episode seed;
- ``mixture``: a scripted policy drawn per episode with ``envs.voxel.policies.mixture_policy_name``;
- ``package.module:function``: a user policy ``function(obs, info) -> action``. Python's
  ``random`` and NumPy's global generator are seeded with the episode seed before each episode,
  so a function that draws from them is deterministic too.

Every episode's seed is ``episode_seed(seed, index)``: it depends on the run's seed and the
episode's index only, never on which worker plays it or when.
"""

from __future__ import annotations

import importlib
import random as _random
from collections.abc import Callable
from typing import Any

import gymnasium as gym
import numpy as np

Policy = Callable[[Any, dict], Any]
"""``policy(obs, info) -> action``."""

SPECIAL_POLICIES = ("mixture", "random")


def episode_seed(seed: int, index: int) -> int:
    """The seed of episode ``index`` in a run seeded ``seed`` (a uint32 from NumPy's SeedSequence)."""
    return int(np.random.SeedSequence([int(seed), int(index)]).generate_state(1)[0])


def _scripted_names() -> tuple[str, ...]:
    from envs.voxel.policies import POLICIES

    return tuple(POLICIES)


def check_policy_spec(spec: str) -> None:
    """Raise ``ValueError`` (listing the valid forms) if ``spec`` names no policy."""
    if ":" in spec and not spec.startswith("scripted:"):
        module, _, name = spec.partition(":")
        if not module or not name:
            raise ValueError(f"a user policy is given as 'package.module:function', got {spec!r}")
        return
    name = spec.removeprefix("scripted:")
    scripted = _scripted_names()
    if name in scripted or (spec in SPECIAL_POLICIES):
        return
    names = ", ".join(n for n in scripted if n not in SPECIAL_POLICIES)
    raise ValueError(
        f"unknown policy {spec!r}; valid: {names}, mixture, random (action_space.sample), "
        f"scripted:<name> (e.g. scripted:random), or 'package.module:function' taking "
        f"(obs, info) -> action"
    )


def load_user_policy(spec: str) -> Policy:
    """Import ``package.module:function``.

    Raises:
        ValueError: the module cannot be imported or has no such callable.
    """
    module_name, _, attr = spec.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ValueError(f"cannot import the module of policy {spec!r}: {exc}") from None
    function = getattr(module, attr, None)
    if not callable(function):
        raise ValueError(f"policy {spec!r}: module {module_name!r} has no callable {attr!r}")
    return function


def start_episode_policy(spec: str, env: gym.Env, seed: int) -> tuple[str, Policy]:
    """Build the policy of one episode, right after ``env.reset(seed=seed)``.

    Args:
        spec: a policy spec (module docstring).
        env: the env, already reset for this episode (scripted policies read ``env.unwrapped.world``).
        seed: the episode seed.

    Returns:
        ``(name, policy)``: the policy's name for the manifest, and ``policy(obs, info) -> action``.
    """
    if spec == "random":
        env.action_space.seed(seed)
        return "random", lambda obs, info: env.action_space.sample()
    if ":" in spec and not spec.startswith("scripted:"):
        function = load_user_policy(spec)
        _random.seed(seed)
        np.random.seed(seed)
        return spec, function
    from envs.voxel.policies import make_policy, mixture_policy_name

    world = getattr(env.unwrapped, "world", None)
    if world is None:
        raise ValueError(
            f"scripted policy {spec!r} needs a voxel env (env.unwrapped.world); "
            f"{env.spec.id if env.spec else env} has none: use 'random' or a user policy"
        )
    name = mixture_policy_name(np.random.default_rng([seed, 1])) if spec == "mixture" else spec
    name = name.removeprefix("scripted:")
    policy = make_policy(name)
    policy.reset(world, np.random.default_rng(seed))
    return name, lambda obs, info: policy.act(world)
