"""Probe names → classes (imported on demand so that one probe's dependencies do not load the others)."""

from __future__ import annotations

import importlib
from typing import Any

from evals.probes.base import Probe

PROBES: dict[str, str] = {
    "loop_closure": "evals.probes.loop_closure:LoopClosure",
    "geometry": "evals.probes.pose_geometry:Geometry",
    "reprojection": "evals.probes.reprojection:Reprojection",
    "permanence": "evals.probes.permanence:ObjectPermanence",
    "coherence": "evals.probes.coherence:LongRangeCoherence",
    "physics": "evals.probes.physics:PhysicsCases",
    "controllability": "evals.probes.controllability:Controllability",
}
"""Every probe of the suite, in report order."""


def probe_class(name: str) -> type[Probe]:
    """The class of a probe by name.

    Raises:
        ValueError: unknown name (lists the valid ones).
    """
    if name not in PROBES:
        raise ValueError(f"unknown probe {name!r}; valid probes: {', '.join(PROBES)}")
    module, cls = PROBES[name].split(":")
    return getattr(importlib.import_module(module), cls)


def make_probe(name: str, **options: Any) -> Probe:
    """An instance of a probe with its options (each probe validates its own)."""
    return probe_class(name)(**options)
