"""The settings of ``simworld eval`` and ``simworld compare``: light dataclasses the CLI imports at
start-up (the modules that do the work load torch, torchmetrics, pandas and matplotlib on use)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from evals.probes.registry import PROBES

DEFAULT_N_BOOT = 2000
"""Bootstrap resamples of report intervals and comparisons (``evals.report.stats``)."""

DEFAULT_CONFIDENCE = 0.95
"""Coverage of the bootstrap intervals."""

BASELINES = ("simulator", "copy_last_frame", "noise")
"""Reference predictors a suite can run beside the checkpoints."""


@dataclass
class SuiteConfig:
    """Which probes, cases, seeds and references a benchmark report runs.

    Attributes:
        name: the suite's name (a column of the results table).
        probes: ``{probe name: options}`` of the probes to run, in report order (names from
            ``evals.probes.registry.PROBES``; options are the probe's keyword arguments).
        world_seeds: worlds; every probe builds its cases in each.
        seeds: sampling seeds (the model's noise; baselines are deterministic but are scored per
            seed too, so that every checkpoint has the same rows).
        baselines: reference predictors from ``BASELINES``.
        env: the probes' env when no checkpoint is given (``{"id": ..., "params": {...}}``); with
            checkpoints, the env recorded in the first checkpoint at its frame size.
        lpips_net: LPIPS network ("alex" or "vgg"); null disables LPIPS.
        media_per_probe: truth-beside-prediction GIFs kept per (predictor, probe, seed); 0: none.
        media_for_simulator: also keep GIFs of the simulator (identical to the truth).
        batch_size: cases a model generates at once.
        only: run only these probes of ``probes`` (empty: all), e.g. ``suite.only=[physics]``.
    """

    name: str = "default"
    probes: dict[str, dict[str, Any]] = field(default_factory=lambda: {name: {} for name in PROBES})
    world_seeds: list[int] = field(default_factory=lambda: [0, 1])
    seeds: list[int] = field(default_factory=lambda: [0])
    baselines: list[str] = field(default_factory=lambda: list(BASELINES))
    env: dict[str, Any] = field(
        default_factory=lambda: {"id": "simworld/VoxelWorld-v0", "params": {"width": 64, "height": 64}}
    )
    lpips_net: str | None = "alex"
    media_per_probe: int = 2
    media_for_simulator: bool = False
    batch_size: int = 8
    only: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        unknown = [p for p in [*self.probes, *self.only] if p not in PROBES]
        if unknown or not self.probes:
            raise ValueError(
                f"suite.probes: unknown or no probes {unknown}; valid probes: {', '.join(PROBES)}"
            )
        missing = [p for p in self.only if p not in self.probes]
        if missing:
            raise ValueError(f"suite.only names probes {missing} that suite.probes does not configure")
        if self.only:
            self.probes = {name: opts for name, opts in self.probes.items() if name in self.only}
        bad = [b for b in self.baselines if b not in BASELINES]
        if bad:
            raise ValueError(f"suite.baselines: unknown {bad}; valid: {', '.join(BASELINES)}")
        if not self.world_seeds or not self.seeds:
            raise ValueError("suite.world_seeds and suite.seeds must each list at least one seed")
        if self.lpips_net not in (None, "alex", "vgg"):
            raise ValueError(f"suite.lpips_net must be 'alex', 'vgg' or null, got {self.lpips_net!r}")
        if self.media_per_probe < 0 or self.batch_size < 1:
            raise ValueError("suite.media_per_probe must be >= 0 and suite.batch_size >= 1")
        unknown_env = sorted(set(self.env) - {"id", "params"})
        if unknown_env:
            raise ValueError(f"suite.env: unknown keys {unknown_env}; valid: id, params")


PAIRS = ("reference", "all")
"""Which pairs of entries ``compare`` scores."""


@dataclass
class CompareConfig:
    """Compare checkpoints of one or more eval runs (``simworld compare``; ``configs/compare.yaml``).

    Attributes:
        runs: run directories of ``simworld eval`` (one with several checkpoints, or several).
        out: directory written with comparison.{parquet,csv,md,html} (required).
        reference: the entry the others are compared with (label ``<run>/<checkpoint>`` or a
            checkpoint name; default the first entry).
        pairs: "reference" (each entry vs the reference) or "all" (every pair).
        checkpoints: entries to include (labels or checkpoint names; default all).
        n_boot: bootstrap resamples.
        confidence: interval coverage.
        seed: seed of the resampling.
        min_cases: fewest paired cases (case, world seed, parameters) for a verdict (at least 2).
    """

    runs: list[str] = field(default_factory=list)
    out: str = ""
    reference: str | None = None
    pairs: str = "reference"
    checkpoints: list[str] | None = None
    n_boot: int = DEFAULT_N_BOOT
    confidence: float = DEFAULT_CONFIDENCE
    seed: int = 0
    min_cases: int = 2

    def __post_init__(self) -> None:
        if self.pairs not in PAIRS:
            raise ValueError(f"pairs must be one of {', '.join(PAIRS)}, got {self.pairs!r}")
        if self.n_boot < 1:
            raise ValueError(f"n_boot must be >= 1, got {self.n_boot}")
        if not 0 < self.confidence < 1:
            raise ValueError(f"confidence must be in (0, 1), got {self.confidence}")
        if self.min_cases < 2:
            raise ValueError(f"min_cases must be >= 2 (an interval needs two cases), got {self.min_cases}")
