"""The built site in a real browser: headless Chromium (Debian's ``chromium``) driven by Playwright.

The site is built from a synthetic executed lesson (figure + math + exercise), plus the real
executed lessons when ``xaikit-out/`` (or ``$XAIKIT_OUT_DIR``) exists, served from a local HTTP server on 127.0.0.1, and
every lesson page is opened: each ``<img>`` must have loaded (naturalWidth > 0), the math must be
typeset by the site's own MathJax (SVG output, no error nodes), no console error or uncaught page
error may occur, and no request may leave 127.0.0.1.  A screenshot of one lesson is kept in
``test-artifacts/``.

Needs Chromium: ``bash scripts/install_browser.sh`` (as root) installs it; without it the test is
skipped.  Never ``playwright install``: Playwright drives the system Chromium.
"""

from __future__ import annotations

import functools
import http.server
import json
import os
import re
import shutil
import threading
from pathlib import Path

import pytest
from test_site import REPO, STEM, build_site, make_executed_lesson

pytestmark = pytest.mark.browser

CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--disable-default-apps", "--disable-extensions", "--metrics-recording-only",
]
ARTIFACTS = REPO / "test-artifacts"

BROKEN_IMAGES = """els => els.filter(e => !e.complete || e.naturalWidth === 0)
                          .map(e => (e.getAttribute('src') || '').slice(0, 80))"""
MATH_STATE = """() => ({
    rendered: document.querySelectorAll('mjx-container svg').length,
    errors: document.querySelectorAll('mjx-merror, [data-mjx-error]').length,
    leftover: [...document.querySelectorAll('.jp-RenderedMarkdown, .arithmatex')]
                  .filter(e => /\\$\\$|\\\\\\(|\\\\\\[/.test(e.innerText)).length,
})"""
NOTEBOOK_MATH = re.compile(r"\$\$.+?\$\$|(?<![\\$])\$[^$\s][^$]*?\$|\\\(.+?\\\)|\\\[.+?\\\]", re.DOTALL)


def expected_math(site: Path, path: str) -> int:
    """How many places of the page hold math, from the built files (before any typesetting)."""
    html = (site / path / "index.html").read_text(encoding="utf-8")
    count = html.count('class="arithmatex"')
    notebooks = list((site / path).glob("*.ipynb")) if path.startswith("lessons/") else []
    for notebook in notebooks:
        cells = json.loads(notebook.read_text(encoding="utf-8"))["cells"]
        count += sum(1 for cell in cells if cell["cell_type"] == "markdown"
                     and NOTEBOOK_MATH.search("".join(cell["source"])))
    return count


def _chromium() -> str:
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if path is None:
        pytest.skip("Chromium is not installed (run `bash scripts/install_browser.sh` as root)")
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        pytest.skip("the playwright Python package is not installed (test extra)")
    return path


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format, *args):  # noqa: A002 - the base class's signature
        pass


@pytest.fixture(scope="module")
def served_site(tmp_path_factory):
    """Build the site (synthetic lesson + real ones if executed) and serve it on 127.0.0.1."""
    chromium = _chromium()
    tmp = tmp_path_factory.mktemp("browser")
    out = tmp / "out"
    real = REPO / os.environ.get("XAIKIT_OUT_DIR", "xaikit-out")
    if real.is_dir():
        for notebook in sorted(real.glob("*.ipynb")):
            out.mkdir(parents=True, exist_ok=True)
            shutil.copy2(notebook, out / notebook.name)
            if (real / notebook.stem).is_dir():
                shutil.copytree(real / notebook.stem, out / notebook.stem)
    make_executed_lesson(out, stem="00_" + STEM)
    site = build_site(out, tmp)
    handler = functools.partial(_QuietHandler, directory=str(site))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield chromium, f"http://127.0.0.1:{server.server_address[1]}", site
    finally:
        server.shutdown()
        server.server_close()


def test_every_lesson_page_renders_in_chromium(served_site):
    from playwright.sync_api import sync_playwright

    chromium, base, site = served_site
    lessons = sorted(p.parent.name for p in (site / "lessons").glob("*/index.html"))
    assert "00_" + STEM in lessons
    # Every lesson, plus the home page, the reproductions and the API page richest in equations
    # (docstring math goes through scripts/griffe_rest_math.py).
    pages = ["", "reproductions/", "api/attribution/"] + [f"lessons/{name}/" for name in lessons]
    pages = [page for page in pages if (site / page / "index.html").is_file()]
    problems: list[str] = []
    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS, headless=True)
        try:
            context = browser.new_context(viewport={"width": 1280, "height": 900})
            page = context.new_page()
            current = {"url": ""}
            page.on("console", lambda m: m.type == "error" and problems.append(
                f"{current['url']}: console error: {m.text}"))
            page.on("pageerror", lambda e: problems.append(f"{current['url']}: page error: {e}"))
            page.on("requestfailed", lambda r: problems.append(
                f"{current['url']}: request failed: {r.url[:100]} ({r.failure})"))
            page.on("request", lambda r: r.url.startswith((base, "data:", "blob:")) or problems.append(
                f"{current['url']}: request to another host: {r.url[:100]}"))
            for path in pages:
                current["url"] = path or "/"
                response = page.goto(f"{base}/{path}", wait_until="networkidle")
                assert response is not None and response.ok, f"{path}: HTTP {response and response.status}"
                broken = page.eval_on_selector_all("img", BROKEN_IMAGES)
                problems += [f"{path}: image did not load: {src}" for src in broken]
                expected = expected_math(site, path)
                if expected:
                    page.wait_for_function(
                        "n => document.querySelectorAll('mjx-container svg').length >= n",
                        arg=expected, timeout=15_000,
                    )
                math = page.evaluate(MATH_STATE)
                if math["errors"] or math["leftover"]:
                    problems.append(f"{path}: math not rendered: {math}")
                if path == f"lessons/{lessons[-1]}/":
                    page.screenshot(path=str(ARTIFACTS / "site-lesson.png"), full_page=True)
            synthetic = f"lessons/00_{STEM}/"
            page.goto(f"{base}/{synthetic}", wait_until="networkidle")
            page.wait_for_function("document.querySelectorAll('mjx-container svg').length >= 2",
                                   timeout=15_000)
            assert page.locator(".jp-RenderedMarkdown.celltag_xaikit-exercise").count() == 1
            widths = page.eval_on_selector_all("img", "els => els.map(e => e.naturalWidth)")
            assert widths and min(widths) > 0
        finally:
            browser.close()
    assert problems == []
