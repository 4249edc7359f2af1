"""Training logs: always a CSV, TensorBoard when ``torch.utils.tensorboard`` imports.

Only rank 0 creates a :class:`RunLogger`; other ranks log nothing.
"""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

CSV_NAME = "metrics.csv"
TENSORBOARD_DIR = "tensorboard"


class RunLogger:
    """Append metric rows to ``<out>/metrics.csv`` (and TensorBoard scalars when available).

    The CSV's columns are those of the first row ever written (a resumed run appends under the
    existing header); later keys that are not columns go to TensorBoard only.

    Args:
        out: the run folder.
        echo: print a line about TensorBoard being on or off.
    """

    def __init__(self, out: str | Path, echo: bool = True) -> None:
        self.out = Path(out)
        self.out.mkdir(parents=True, exist_ok=True)
        self.csv_path = self.out / CSV_NAME
        self._columns: list[str] | None = None
        if self.csv_path.is_file() and self.csv_path.stat().st_size:
            with open(self.csv_path, newline="") as fh:
                self._columns = next(csv.reader(fh), None)
        self.tensorboard, self.tensorboard_status = None, "on"
        try:
            from torch.utils.tensorboard import SummaryWriter

            self.tensorboard = SummaryWriter(str(self.out / TENSORBOARD_DIR))
            self.tensorboard_status = f"on: {self.out / TENSORBOARD_DIR}"
        except ImportError as exc:  # tensorboard is an optional dependency
            self.tensorboard_status = f"off: torch.utils.tensorboard does not import ({exc})"
        if echo:
            print(f"TensorBoard {self.tensorboard_status}")

    def log(self, step: int, metrics: dict[str, Any]) -> None:
        """Write one row: ``step`` and the metrics (floats, or strings such as "unavailable: ...")."""
        row = {"step": step, **metrics}
        new = self._columns is None
        if new:
            self._columns = list(row)
        with open(self.csv_path, "a", newline="") as fh:
            writer = csv.DictWriter(fh, fieldnames=self._columns, extrasaction="ignore", restval="")
            if new:
                writer.writeheader()
            writer.writerow(row)
        if self.tensorboard is not None:
            for key, value in metrics.items():
                if isinstance(value, (int, float)):
                    self.tensorboard.add_scalar(key, value, step)
            self.tensorboard.flush()

    def close(self) -> None:
        """Close TensorBoard's writer."""
        if self.tensorboard is not None:
            self.tensorboard.close()
