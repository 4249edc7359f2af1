"""Open an HTML report in headless Chromium and check that it renders and shows its images.

:func:`check_render` loads a copy of the page with a probe injected at the top of ``<head>``:

- a Content-Security-Policy that allows only inline styles/scripts and ``data:`` images, so any
  external resource the report would fetch is blocked and reported (a self-contained report
  triggers none);
- an inline script that records JavaScript errors, failed resource loads and CSP violations, and
  on ``load`` writes into the DOM the number of ``<img>`` elements and how many of them decoded
  (``complete && naturalWidth > 0``).

Chromium runs with ``--dump-dom`` (the DOM after the load event), with a fresh profile directory
and networking extras disabled. Chromium is not a Python dependency: install it with
``apt-get install chromium`` (Debian); :func:`chromium_path` finds it (``SIMWORLD_CHROMIUM``
overrides the path).
"""

from __future__ import annotations

import html
import json
import os
import re
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from evals.report.html import external_references

DEFAULT_CHROMIUM = "/usr/bin/chromium"
CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",  # containers often have a tiny /dev/shm
)
RESULT_ID = "simworld-render-check"

_PROBE = (
    '<meta http-equiv="Content-Security-Policy" content="default-src \'none\'; img-src data:; '
    "style-src 'unsafe-inline'; script-src 'unsafe-inline'; font-src data:\">"
    "<script>(function(){var errors=[],blocked=[];"
    "window.addEventListener('error',function(e){var t=e.target;"
    "if(t&&t!==window&&t.tagName){errors.push('failed to load <'+t.tagName.toLowerCase()+'> '"
    "+String(t.src||t.href||'').slice(0,60));}"
    "else{errors.push('script error: '+e.message+' at '+e.filename+':'+e.lineno);}},true);"
    "window.addEventListener('unhandledrejection',function(e){"
    "errors.push('unhandled rejection: '+e.reason);});"
    "document.addEventListener('securitypolicyviolation',function(e){blocked.push(e.blockedURI+' ('+"
    "e.violatedDirective+')');});"
    "window.addEventListener('load',function(){var im=document.images,ok=0,broken=[];"
    "for(var i=0;i<im.length;i++){if(im[i].complete&&im[i].naturalWidth>0){ok++;}"
    "else{broken.push(String(im[i].getAttribute('src')||'').slice(0,40));}}"
    "var p=document.createElement('pre');p.id='" + RESULT_ID + "';p.hidden=true;"
    "p.textContent=JSON.stringify({images:im.length,loaded:ok,broken:broken,errors:errors,"
    "blocked:blocked,width:document.documentElement.scrollWidth,height:document.documentElement.scrollHeight});"
    "document.body.appendChild(p);});})();</script>"
)


@dataclass
class RenderCheck:
    """What headless Chromium saw.

    Attributes:
        images: ``<img>`` elements in the page.
        images_loaded: of which decoded (complete, natural width > 0).
        broken_images: the first characters of each broken image's ``src``.
        errors: JavaScript errors and failed resource loads.
        blocked: resources outside the file the page tried to load (blocked by the probe's CSP).
        external: references to outside resources found in the markup.
        page_size: (width, height) of the laid-out document in CSS pixels.
        seconds: wall time of the Chromium run.
    """

    images: int
    images_loaded: int
    broken_images: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    blocked: list[str] = field(default_factory=list)
    external: list[str] = field(default_factory=list)
    page_size: tuple[int, int] = (0, 0)
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        """Rendered without errors, every image shown, nothing outside the file referenced."""
        return (
            self.images_loaded == self.images
            and not self.errors
            and not self.blocked
            and not self.external
            and self.page_size[1] > 0
        )

    def summary(self) -> str:
        """One line for logs."""
        verdict = "OK" if self.ok else "FAILED"
        parts = [
            f"{verdict}: {self.images_loaded}/{self.images} images shown",
            f"{len(self.errors)} errors",
            f"{len(self.blocked)} blocked external loads",
            f"{len(self.external)} external references",
            f"page {self.page_size[0]}×{self.page_size[1]} px",
            f"{self.seconds:.1f} s",
        ]
        detail = [*self.broken_images[:3], *self.errors[:3], *self.blocked[:3], *self.external[:3]]
        return ", ".join(parts) + (f" ({'; '.join(detail)})" if detail else "")


def chromium_path() -> str | None:
    """``$SIMWORLD_CHROMIUM``, ``/usr/bin/chromium`` or ``chromium``/``chromium-browser`` on PATH."""
    for candidate in (os.environ.get("SIMWORLD_CHROMIUM"), DEFAULT_CHROMIUM):
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    return shutil.which("chromium") or shutil.which("chromium-browser")


def _inject(document: str) -> str:
    match = re.search(r"<head[^>]*>", document, flags=re.IGNORECASE)
    if match:
        return document[: match.end()] + _PROBE + document[match.end() :]
    return f"<head>{_PROBE}</head>" + document


def _run(chromium: str, args: list[str], profile: str, timeout: float) -> subprocess.CompletedProcess:
    cmd = [chromium, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", *args]
    try:
        return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        raise RuntimeError(f"chromium did not finish within {timeout:.0f} s: {' '.join(cmd)}") from None


def check_render(
    html_path: str | Path,
    chromium: str | None = None,
    timeout: float = 120.0,
    screenshot: str | Path | None = None,
    window_size: tuple[int, int] = (1280, 2000),
) -> RenderCheck:
    """Render an HTML file in headless Chromium; count its images, errors and outside loads.

    Args:
        html_path: the report.
        chromium: the browser executable (default :func:`chromium_path`).
        timeout: seconds allowed per Chromium run.
        screenshot: also write a PNG screenshot of the top of the page here.
        window_size: viewport (width, height) of the screenshot.

    Returns:
        The check (``.ok`` when the page rendered cleanly with every image shown).

    Raises:
        FileNotFoundError: no HTML file, or no Chromium.
        RuntimeError: Chromium failed or timed out, or its output lacks the probe's result.
    """
    path = Path(html_path).resolve()
    if not path.is_file():
        raise FileNotFoundError(f"no HTML file at {path}")
    chromium = chromium or chromium_path()
    if chromium is None or not os.access(chromium, os.X_OK):
        raise FileNotFoundError(
            f"Chromium not found (looked at $SIMWORLD_CHROMIUM, {DEFAULT_CHROMIUM} and PATH); "
            "install it with `apt-get install chromium`"
        )
    document = path.read_text(encoding="utf-8")
    with tempfile.TemporaryDirectory(prefix="simworld-render-") as tmp:
        probe = Path(tmp) / "page.html"
        probe.write_text(_inject(document), encoding="utf-8")
        start = time.perf_counter()
        proc = _run(chromium, ["--dump-dom", probe.as_uri()], str(Path(tmp) / "profile"), timeout)
        seconds = time.perf_counter() - start
        found = re.search(rf'<pre id="{RESULT_ID}"[^>]*>(.*?)</pre>', proc.stdout, flags=re.DOTALL)
        if proc.returncode != 0 or not found:
            tail = "\n".join(proc.stderr.strip().splitlines()[-15:])
            raise RuntimeError(
                f"chromium exited with {proc.returncode} without the render-check result for {path}; "
                f"stderr tail:\n{tail}"
            )
        result = json.loads(html.unescape(found.group(1)))
        if screenshot is not None:
            shot = Path(screenshot).resolve()
            shot.parent.mkdir(parents=True, exist_ok=True)
            args = [
                f"--screenshot={shot}",
                f"--window-size={window_size[0]},{window_size[1]}",
                "--hide-scrollbars",
            ]
            _run(chromium, [*args, path.as_uri()], str(Path(tmp) / "profile-shot"), timeout)
    return RenderCheck(
        images=int(result["images"]),
        images_loaded=int(result["loaded"]),
        broken_images=list(result["broken"]),
        errors=list(result["errors"]),
        blocked=list(result["blocked"]),
        external=external_references(document),
        page_size=(int(result["width"]), int(result["height"])),
        seconds=seconds,
    )
