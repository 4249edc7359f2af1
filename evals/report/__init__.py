"""Reports and comparisons of ``simworld eval`` runs.

- :func:`write_report`: ``report.md`` and a self-contained ``report.html`` for a run directory.
- :func:`compare`: paired differences between checkpoints with bootstrap intervals and verdicts,
  refusing results produced under different protocols.
- :func:`load_run`: a run directory (format ``simworld.eval/1``) read back.
- :mod:`evals.report.browser`: a headless-Chromium check that an HTML report renders and shows its
  images.
"""

from evals.report.compare import CompareConfig, Comparison, check_comparable, compare
from evals.report.report import write_report
from evals.report.results import RESULT_COLUMNS, RUN_FORMAT, Run, load_run

__all__ = [
    "RESULT_COLUMNS",
    "RUN_FORMAT",
    "CompareConfig",
    "Comparison",
    "Run",
    "check_comparable",
    "compare",
    "load_run",
    "write_report",
]
