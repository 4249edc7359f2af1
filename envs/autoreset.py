"""The autoreset modes our native vector envs implement, parsed from user input in one place."""

from __future__ import annotations

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
