"""Render check of the eval reports in headless Chromium.

``python benchmarks/report_render.py [RUN_DIR ...] [--screenshot DIR]``

For each run directory of ``simworld eval`` (default: a small genuine run built from real probe
computations, as in ``tests/evals/report/conftest.py``), writes ``report.md``/``report.html``
(unless ``--keep`` and they exist), compares the run's checkpoints (``comparison.html`` in
``<run>/comparison``), opens both HTML files in headless Chromium
(:func:`evals.report.browser.check_render`) and prints, per file: images shown / images, JavaScript
errors, blocked outside loads, outside references in the markup, page size, file size, render time.
Exit code 0 when every page rendered cleanly, 1 otherwise, 2 when Chromium is missing.

Chromium: ``apt-get install -y chromium`` (Debian bookworm: about 1 minute, ~150 MB of packages).
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
import tempfile
import time
from pathlib import Path

from evals.report import compare, load_run, write_report
from evals.report.browser import check_render, chromium_path

ROOT = Path(__file__).resolve().parents[1]


def demo_run(folder: Path) -> Path:
    """The tests' run directory (simulator, copy-last-frame and noise on a turn-and-return probe)."""
    spec = importlib.util.spec_from_file_location("report_conftest", ROOT / "tests/evals/report/conftest.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)  # type: ignore[union-attr]
    return module.build_run(folder / "demo_run")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="*", type=Path, help="eval run directories (default: a demo run)")
    parser.add_argument("--screenshot", type=Path, default=None, help="write a PNG screenshot per page here")
    parser.add_argument("--keep", action="store_true", help="check existing report.html files as they are")
    args = parser.parse_args(argv)
    chromium = chromium_path()
    if chromium is None:
        print("Chromium not found: install it with `apt-get install -y chromium`", file=sys.stderr)
        return 2
    tmp = tempfile.TemporaryDirectory(prefix="report-render-")
    runs = args.runs or [demo_run(Path(tmp.name))]
    failed = 0
    print(f"chromium: {chromium}")
    for run_dir in runs:
        start = time.perf_counter()
        html_path = run_dir / "report.html"
        if not (args.keep and html_path.is_file()):
            _, html_path = write_report(run_dir)
        pages = [html_path]
        if len(load_run(run_dir).checkpoints()) >= 2:
            pages.append(compare(run_dir, run_dir / "comparison").paths["html"])
        print(f"{run_dir}: reports written in {time.perf_counter() - start:.1f} s")
        for page in pages:
            shot = None if args.screenshot is None else args.screenshot / f"{run_dir.name}-{page.stem}.png"
            check = check_render(page, screenshot=shot)
            failed += not check.ok
            size = page.stat().st_size / 1e6
            print(
                f"  {page.name} ({size:.2f} MB): {check.summary()}" + (f" screenshot {shot}" if shot else "")
            )
    tmp.cleanup()
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
