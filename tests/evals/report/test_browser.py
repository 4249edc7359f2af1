"""The HTML report and comparison in headless Chromium: they render without errors and show every image.

Skipped when Chromium is not installed (``apt-get install chromium`` on Debian/Ubuntu).
"""

from __future__ import annotations

import pytest

from evals.report import compare, write_report
from evals.report.browser import check_render, chromium_path

pytestmark = pytest.mark.skipif(
    chromium_path() is None,
    reason="headless Chromium not installed (apt-get install chromium); the render check needs it",
)


def test_report_and_comparison_render_with_all_images(run_copy, tmp_path):
    run = run_copy("run")
    _, html_path = write_report(run, n_boot=200)
    check = check_render(html_path)
    assert check.ok, check.summary()
    assert check.images == html_path.read_text().count("<img ") == 8  # 5 plots + 3 animations
    assert check.page_size[1] > 1000
    cmp_html = compare(run, tmp_path / "cmp", reference="noise", n_boot=200).paths["html"]
    check = check_render(cmp_html)
    assert check.ok and check.images == 5, check.summary()


def test_render_check_catches_broken_images_and_outside_resources(run_copy, tmp_path):
    page = tmp_path / "page.html"
    page.write_text(
        "<!DOCTYPE html><html><head><title>t</title></head><body>"
        '<img src="data:image/png;base64,iVBORw0KGgoAAAA">'  # truncated PNG: does not decode
        '<img src="http://example.invalid/plot.png">'  # outside the file: blocked, never fetched
        "<script>undefinedFunction()</script></body></html>"
    )
    check = check_render(page)
    assert not check.ok
    assert check.images == 2 and check.images_loaded == 0
    assert any("example.invalid" in b for b in check.blocked)
    assert any("undefinedFunction" in e for e in check.errors)
    assert check.external  # found in the markup as well
