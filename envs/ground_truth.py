"""The ``ground_truth=`` argument every simworld env with ground truth takes (voxel world, Doom)."""

from __future__ import annotations

from collections.abc import Iterable


def parse_ground_truth(ground_truth: str | Iterable[str] | None, valid: Iterable[str]) -> frozenset[str]:
    """Normalise ``ground_truth``: None (nothing), "all" (every key of ``valid``), or names from ``valid``.

    Raises:
        ValueError: an unknown key, naming the valid ones.
    """
    valid = tuple(valid)
    if ground_truth is None:
        return frozenset()
    if isinstance(ground_truth, str):
        ground_truth = valid if ground_truth == "all" else (ground_truth,)
    keys = frozenset(ground_truth)
    unknown = sorted(keys - set(valid))
    if unknown:
        raise ValueError(f"unknown ground_truth keys {unknown}; valid: None, 'all' or any of {list(valid)}")
    return keys
