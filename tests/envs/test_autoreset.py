"""envs.autoreset: the one parser of autoreset modes both native vector envs use."""

from __future__ import annotations

import pytest
from gymnasium.vector import AutoresetMode

from envs.autoreset import parse_autoreset_mode


@pytest.mark.parametrize(
    "mode, expected",
    [
        ("next_step", AutoresetMode.NEXT_STEP),
        ("SameStep", AutoresetMode.SAME_STEP),
        (AutoresetMode.SAME_STEP, AutoresetMode.SAME_STEP),
    ],
)
def test_accepts_both_spellings_and_the_enum(mode, expected) -> None:
    assert parse_autoreset_mode(mode) is expected


@pytest.mark.parametrize("mode", ["disabled", AutoresetMode.DISABLED, "next"])
def test_rejects_modes_we_do_not_implement(mode) -> None:
    with pytest.raises(ValueError, match="autoreset_mode must be 'next_step' or 'same_step'"):
        parse_autoreset_mode(mode)
