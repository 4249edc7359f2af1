"""What our native vector envs parse from user input in one place: autoreset modes, per-env seeds."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from gymnasium.vector import AutoresetMode

#: Accepted spellings: ours and the enum's own values.
AUTORESET_MODES = {
    "next_step": AutoresetMode.NEXT_STEP,
    "NextStep": AutoresetMode.NEXT_STEP,
    "same_step": AutoresetMode.SAME_STEP,
    "SameStep": AutoresetMode.SAME_STEP,
}


def parse_autoreset_mode(mode: str | AutoresetMode) -> AutoresetMode:
    """``NEXT_STEP`` or ``SAME_STEP`` from a string or the enum.

    Raises:
        ValueError: any other mode (``DISABLED`` included: our envs always autoreset).
    """
    value = mode.value if isinstance(mode, AutoresetMode) else mode
    if value not in AUTORESET_MODES:
        raise ValueError(f"autoreset_mode must be 'next_step' or 'same_step', got {mode!r}")
    return AUTORESET_MODES[value]


def per_env_seeds(seed: int | Sequence[int | None] | None, num_envs: int) -> list[int | None]:
    """The seed of each env from ``reset(seed=...)``: an int gives env i ``seed + i``, a list is taken
    as it is, None gives no seeds.

    Raises:
        ValueError: a list whose length is not ``num_envs``.
    """
    if seed is None or isinstance(seed, (int, np.integer)):
        return [None if seed is None else int(seed) + i for i in range(num_envs)]
    seeds = list(seed)
    if len(seeds) != num_envs:
        raise ValueError(f"got {len(seeds)} seeds for {num_envs} envs")
    return seeds
