"""The built site in a real browser: headless Chromium (Debian's ``chromium``) driven by Playwright.

The self-study site is built from a synthetic executed lesson (figure + math + exercise), plus
the real executed lessons when ``xaikit-out/`` (or ``$XAIKIT_OUT_DIR``) exists, served from a
local HTTP server on 127.0.0.1 that compresses text with gzip as static hosts do, and every
lesson page is opened: each ``<img>`` must have loaded (naturalWidth > 0), every output image is
a numbered figure whose alt text is its caption and whose smallest text (figure()'s record scaled
to the width the page shows it at) is >= 10 px, every formula is MathML drawn by the browser (no
math script, no TeX left as text), no table is wider than its column without scrolling, no page
loads more than 1.5 MB with all its resources, uncompressed (``decodedBodySize``; and so as
transferred with gzip), no console error or uncaught page error may occur, and no request may
leave 127.0.0.1.  At 390 px (a phone) no lesson page scrolls sideways.  On the synthetic lesson
the hint and solution toggles open, a figure zooms, and the notebook download is a notebook.
The pruned JupyterLab stylesheet must give every element of every lesson the computed style the
whole stylesheet gives it (light and dark scheme); the search index is not fetched by a page
load, and typing an API function's name into the search finds its API page.  Page weights,
figure text sizes (1280 and 390 px), the CSS and search index sizes are written to
``test-artifacts/site-measures.json``.  (That the course build has no solution toggles is
checked on its HTML in test_site.py.)  A screenshot of one lesson is kept in ``test-artifacts/``.

Needs Chromium: ``bash scripts/install_browser.sh`` (as root) installs it; without it the test is
skipped.  Never ``playwright install``: Playwright drives the system Chromium.
"""

from __future__ import annotations

import functools
import gzip
import http.server
import json
import os
import shutil
import threading
from pathlib import Path

import pytest
from test_site import REPO, STEM, _script, build_site, make_executed_lesson

pytestmark = pytest.mark.browser

CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--disable-default-apps", "--disable-extensions", "--metrics-recording-only",
]
ARTIFACTS = REPO / "test-artifacts"

BROKEN_IMAGES = """els => els.filter(e => !e.complete || e.naturalWidth === 0)
                          .map(e => (e.getAttribute('src') || '').slice(0, 80))"""
# Math is MathML made at build time: every formula visible on the page must be drawn by the
# browser as math (MathML Core: computed display "math" / "block math", a box with a size), no
# math script may load, and no TeX may be left as text.
MATH_STATE = """() => {
    const shown = [...document.querySelectorAll('article math')]
        .filter(m => !m.closest('details:not([open])'));
    return {
        rendered: document.querySelectorAll('article math').length,
        undrawn: shown.filter(m => {
            const box = m.getBoundingClientRect();
            return !(box.width > 0 && box.height > 0 && /math/.test(getComputedStyle(m).display));
        }).map(m => m.textContent.slice(0, 40)),
        scripts: [...document.scripts].filter(s => /mathjax/i.test(s.src)).length,
        leftover: [...document.querySelectorAll('.jp-RenderedMarkdown, .arithmatex')]
            .filter(e => /\\$\\$|\\\\\\(|\\\\\\[|\\$[^$]*\\\\[A-Za-z]/.test(e.innerText)).length,
    };
}"""


def expected_math(site: Path, out: Path, path: str) -> int:
    """How many formulas the page must show: arithmatex's (Markdown pages) and those of the
    lesson's Markdown cells, counted in the executed notebook the site was built from."""
    weight = _script("site_weight")
    count = (site / path / "index.html").read_text(encoding="utf-8").count('class="arithmatex"')
    notebook = out / f"{Path(path).name}.ipynb"
    if path.startswith("lessons/") and notebook.is_file():
        for cell in json.loads(notebook.read_text(encoding="utf-8"))["cells"]:
            if cell["cell_type"] == "markdown":
                text = "".join(cell["source"])
                count += len(weight.DISPLAY_MATH.findall(text))
                count += len(weight.INLINE_MATH.findall(weight.DISPLAY_MATH.sub("", text)))
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


PAGE_LIMIT = 1_500_000  # bytes a page may load, all its resources included, uncompressed
MIN_TEXT_PX = 10.0  # the smallest figure text as the page shows it (xaikit.viz.MIN_TEXT_PX)
COMPRESSED = (".html", ".css", ".js", ".json", ".ipynb", ".svg", ".map", ".txt")

FIGURE_STATE = """() => [...document.querySelectorAll('.jp-OutputArea img')].map(img => {
    const fig = img.closest('figure.xk-figure');
    const caption = fig && fig.querySelector('figcaption');
    return {src: (img.getAttribute('src') || '').slice(0, 60), alt: img.alt || '',
            caption: caption ? caption.innerText.replace(/^Figure \\d+\\.\\s*/, '') : null};
})"""
CLIPPED_TABLES = """() => [...document.querySelectorAll('article table')].filter(t => {
    const box = t.parentElement.getBoundingClientRect();
    if (t.scrollWidth <= box.width + 1) return false;
    for (let e = t; e && e.tagName !== 'ARTICLE'; e = e.parentElement) {
        const o = getComputedStyle(e).overflowX;
        if ((o === 'auto' || o === 'scroll') && e.clientWidth < e.scrollWidth) return false;
    }
    return true;
}).map(t => t.innerText.slice(0, 60))"""
# Elements of the page's text that end beyond the window without a scrolling box around them.
CUT_OFF = """() => [...document.querySelectorAll('article *')].filter(e => {
    const r = e.getBoundingClientRect();
    if (r.width === 0 || r.right <= window.innerWidth + 1) return false;
    for (let a = e.parentElement; a && a.tagName !== 'ARTICLE'; a = a.parentElement) {
        const o = getComputedStyle(a).overflowX;
        if (o === 'auto' || o === 'scroll') return false;
    }
    return true;
}).slice(0, 5).map(e => e.tagName + ' ' + (e.innerText || '').slice(0, 40))"""
# Bytes of the page and every resource it loaded: as transferred (gzip) and uncompressed
# (decodedBodySize), with the largest resources to say what dominates.
PAGE_BYTES = """() => {
    const all = [performance.getEntriesByType('navigation')[0],
                 ...performance.getEntriesByType('resource')];
    const sum = key => all.reduce((total, e) => total + (e[key] || 0), 0);
    const largest = all.map(e => [e.name.replace(location.origin, ''), e.decodedBodySize || 0])
                       .sort((a, b) => b[1] - a[1]).slice(0, 4);
    return {transferred: sum('encodedBodySize'), uncompressed: sum('decodedBodySize'),
            requests: all.length, largest};
}"""
# The smallest text of each figure as shown: figure()'s record (px of the PNG at its natural
# size, data-text-px) times the scale the page shows the image at (rendered / natural width).
FIGURE_TEXT = """() => [...document.querySelectorAll('figure.xk-figure img')].map(img => ({
    src: img.getAttribute('src'),
    text_px: img.dataset.textPx ? Number(img.dataset.textPx) : null,
    shown_px: img.dataset.textPx
        ? Number(img.dataset.textPx) * img.getBoundingClientRect().width / img.naturalWidth : null,
}))"""


ZOOMED_TEXT = """() => {
    const shown = document.querySelector('dialog.xk-zoom-dialog img');
    const text = Number(document.querySelector('figure.xk-figure img').dataset.textPx);
    return text * shown.getBoundingClientRect().width / shown.naturalWidth;
}"""


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    """Serves the site like a static host: text gzip-compressed when the browser accepts it."""

    def log_message(self, format, *args):  # noqa: A002 - the base class's signature
        pass

    def do_GET(self):  # noqa: N802 - the base class's name
        path = Path(self.translate_path(self.path))
        if path.is_dir():
            path = path / "index.html"
        if not (path.is_file() and path.suffix in COMPRESSED
                and "gzip" in self.headers.get("Accept-Encoding", "")):
            return super().do_GET()
        body = gzip.compress(path.read_bytes(), compresslevel=6)
        self.send_response(200)
        self.send_header("Content-Type", self.guess_type(str(path)))
        self.send_header("Content-Encoding", "gzip")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


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
    site = build_site(out, tmp, self_study=True)
    handler = functools.partial(_QuietHandler, directory=str(site))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield chromium, f"http://127.0.0.1:{server.server_address[1]}", site, out
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture(scope="module")
def browser(served_site):
    """One headless Chromium for the module's tests (each test opens its own contexts)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        launched = p.chromium.launch(executable_path=served_site[0], args=CHROMIUM_ARGS, headless=True)
        try:
            yield launched
        finally:
            launched.close()


def test_every_lesson_page_renders_in_chromium(served_site, browser):
    _, base, site, out = served_site
    lessons = sorted(p.parent.name for p in (site / "lessons").glob("*/index.html"))
    assert "00_" + STEM in lessons
    # Every lesson, plus the home page, the reproductions and the API page richest in equations
    # (docstring math goes through scripts/griffe_rest_math.py).
    pages = ["", "reproductions/", "api/attribution/"] + [f"lessons/{name}/" for name in lessons]
    pages = [page for page in pages if (site / page / "index.html").is_file()]
    problems: list[str] = []
    weights: dict[str, dict] = {}
    heavy: list[str] = []
    shown_text: dict[str, float | None] = {}
    phone_text: dict[str, float | None] = {}
    ARTIFACTS.mkdir(exist_ok=True)
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
        math = page.evaluate(MATH_STATE)
        expected = expected_math(site, out, path)
        if math["rendered"] < expected or math["undrawn"] or math["scripts"] or math["leftover"]:
            problems.append(f"{path}: math not rendered ({expected} formulas expected): {math}")
        if path == f"lessons/{lessons[-1]}/":
            page.screenshot(path=str(ARTIFACTS / "site-lesson.png"), full_page=True)
        weight = page.evaluate(PAGE_BYTES)
        weights[path] = weight
        if weight["transferred"] > PAGE_LIMIT:
            problems.append(f"{path}: loads {weight['transferred'] / 1e6:.2f} MB as "
                            f"transferred (gzip; limit {PAGE_LIMIT / 1e6} MB)")
        if weight["uncompressed"] > PAGE_LIMIT:
            heavy.append(
                f"{path}: loads {weight['uncompressed'] / 1e6:.2f} MB uncompressed "
                f"({weight['transferred'] / 1e6:.2f} MB gzip, {weight['requests']} "
                f"requests; limit {PAGE_LIMIT / 1e6} MB); largest: {weight['largest']}")
        for figure in page.evaluate(FIGURE_TEXT) if path.startswith("lessons/") else []:
            if figure["text_px"] is None:
                problems.append(f"{path}: {figure['src']}: no text size recorded (re-run "
                                "the lesson: figure() records it)")
            elif figure["shown_px"] < MIN_TEXT_PX:
                problems.append(f"{path}: {figure['src']}: smallest text shown at "
                                f"{figure['shown_px']:.1f} px (< {MIN_TEXT_PX} px)")
            shown_text[path + figure["src"]] = figure["shown_px"]
        problems += [f"{path}: table clipped without a scrollbar: {text!r}"
                     for text in page.evaluate(CLIPPED_TABLES)]
        for image in page.evaluate(FIGURE_STATE) if path.startswith("lessons/") else []:
            if image["caption"] is None or not image["caption"].strip():
                problems.append(f"{path}: output image without a caption (show it with "
                                f"xaikit.report.figure): {image['src']}")
            elif image["alt"].strip() != image["caption"].strip():
                problems.append(f"{path}: figure alt text is not its caption: {image}")
    synthetic = f"lessons/00_{STEM}/"
    page.goto(f"{base}/{synthetic}", wait_until="networkidle")
    assert page.evaluate(MATH_STATE)["rendered"] >= 2
    assert page.locator(".jp-RenderedMarkdown.celltag_xaikit-exercise").count() == 1
    widths = page.eval_on_selector_all("img", "els => els.map(e => e.naturalWidth)")
    assert widths and min(widths) > 0
    check_toggles_zoom_and_download(page, base, synthetic)
    # A phone: no lesson page may scroll sideways.
    phone = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True)
    small = phone.new_page()
    for path in [p for p in pages if p.startswith("lessons/")]:
        small.goto(f"{base}/{path}", wait_until="load")
        overflow = small.evaluate("document.documentElement.scrollWidth - window.innerWidth")
        if overflow > 1:
            problems.append(f"{path}: at 390 px the page scrolls sideways by {overflow} px")
        problems += [f"{path}: at 390 px cut off at the right edge: {what}"
                     for what in small.evaluate(CUT_OFF)]
        # measured, not asserted: on a phone a wide figure's text is small and the
        # click-to-zoom dialog (checked above) shows it at full size
        phone_text.update({path + f["src"]: f["shown_px"] for f in small.evaluate(FIGURE_TEXT)})
    small.screenshot(path=str(ARTIFACTS / "site-lesson-390px.png"), full_page=False)
    # the phone's fallback: the zoomed figure shows its text at full size (>= 10 px)
    small.goto(f"{base}/{synthetic}", wait_until="load")
    small.locator("a.xk-zoom").first.click()
    small.wait_for_function(
        "() => document.querySelector('dialog.xk-zoom-dialog img').naturalWidth > 0")
    zoomed = small.evaluate(ZOOMED_TEXT)
    if zoomed < MIN_TEXT_PX:
        problems.append(f"at 390 px the zoomed figure shows its text at {zoomed:.1f} px")
    phone.close()
    context.close()
    _record({"page_bytes": weights, "figure_text_px_1280": shown_text,
             "figure_text_px_390": phone_text})
    assert problems + heavy == [], "\n".join(problems + heavy)


def _record(measures: dict) -> None:
    """Add measures to test-artifacts/site-measures.json (one file for the module's tests)."""
    path = ARTIFACTS / "site-measures.json"
    ARTIFACTS.mkdir(exist_ok=True)
    old = json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}
    path.write_text(json.dumps({**old, **measures}, indent=1), encoding="utf-8")


# Computed style of every element of the article, for properties that show how a page looks.
STYLE_PROPERTIES = [
    "color", "background-color", "font-family", "font-size", "font-weight", "font-style",
    "line-height", "white-space", "display", "overflow-x", "text-align", "margin-top",
    "margin-left", "padding-top", "padding-left", "border-top-width", "border-top-style",
    "border-left-color", "border-left-width", "width",
]
STYLES = """props => [...document.querySelectorAll('article *')].map(e => {
    const style = getComputedStyle(e);
    return [e.tagName.toLowerCase() + (e.className && typeof e.className === 'string'
                ? '.' + e.className.trim().split(/\\s+/).join('.') : ''),
            props.map(p => style.getPropertyValue(p))];
})"""


def _styles(page, url: str) -> dict[str, list]:
    """Computed styles of the article's elements in the light and the dark scheme (transitions
    off, so the switch to dark is complete when styles are read)."""
    page.goto(url, wait_until="networkidle")
    page.add_style_tag(content="*, *::before, *::after { transition: none !important; "
                               "animation: none !important; }")
    light = page.evaluate(STYLES, STYLE_PROPERTIES)
    page.evaluate("document.body.setAttribute('data-md-color-scheme', 'slate')")
    return {"light": light, "dark": page.evaluate(STYLES, STYLE_PROPERTIES)}


def test_pruned_notebook_css_looks_like_all_of_it(served_site, browser):
    """Every lesson page, light and dark: each element's computed style with the pruned
    JupyterLab stylesheet equals the one with mkdocs-jupyter's whole stylesheet."""
    import mkdocs_jupyter

    _, base, site, _ = served_site
    full = (Path(mkdocs_jupyter.__file__).parent / "templates" / "mkdocs_html" / "assets"
            / "index.css").read_text(encoding="utf-8")
    lessons = sorted(p.parent.name for p in (site / "lessons").glob("*/index.html"))
    pruned = sorted(p.name for p in (site / "assets" / "stylesheets").glob("jupyterlab-*.css"))
    assert len(pruned) == 1 and len(full) > 10 * (site / "assets/stylesheets" / pruned[0]).stat().st_size
    differences, elements = [], 0
    viewport = {"width": 1280, "height": 900}
    small = browser.new_context(viewport=viewport).new_page()
    whole_context = browser.new_context(viewport=viewport)
    whole_context.route("**/assets/stylesheets/jupyterlab-*.css", lambda route: route.fulfill(
        status=200, content_type="text/css", body=full))
    whole = whole_context.new_page()
    for name in lessons:
        url = f"{base}/lessons/{name}/"
        with_pruned, with_full = _styles(small, url), _styles(whole, url)
        for scheme in ("light", "dark"):
            a, b = with_pruned[scheme], with_full[scheme]
            assert len(a) == len(b) > 0
            elements += len(a)
            differences += [
                f"{name} ({scheme}): {element}: " + ", ".join(
                    f"{prop} {x!r} (all of it: {y!r})" for prop, x, y
                    in zip(STYLE_PROPERTIES, values, other) if x != y)
                for (element, values), (_, other) in zip(a, b) if values != other]
    small.context.close()
    whole_context.close()
    _record({"css_compared_elements": elements,
             "jupyterlab_css_bytes": {"full": len(full.encode()), "pruned": (
                 site / "assets" / "stylesheets" / pruned[0]).stat().st_size}})
    assert differences == [], f"{len(differences)} of {elements} elements differ:\n" + \
        "\n".join(differences[:20])


def test_search_loads_on_demand_and_finds_an_api_function(served_site, browser):
    """No page load fetches the search index; opening the search does, and the name of an API
    function finds its API page."""
    _, base, _, _ = served_site
    fetched = "() => performance.getEntriesByType('resource').filter(e => e.name.includes('search_index.json')).map(e => e.decodedBodySize)"
    page = browser.new_context(viewport={"width": 1280, "height": 900}).new_page()
    page.goto(f"{base}/lessons/", wait_until="networkidle")
    assert page.evaluate(fetched) == []
    page.locator("input.md-search__input").click()
    page.locator("input.md-search__input").fill("integrated_gradients")
    hit = page.locator(".md-search-result__item a[href*='api/attribution/']"
                       "[href$='#xaikit.attribution.gradients.integrated_gradients']")
    hit.first.wait_for(timeout=20_000)
    sizes = page.evaluate(fetched)
    assert len(sizes) == 1
    hit.first.click()
    page.wait_for_load_state("networkidle")
    assert "/api/attribution/" in page.url
    page.context.close()
    _record({"search_index_bytes": sizes[0]})


def check_toggles_zoom_and_download(page, base: str, lesson: str) -> None:
    """Self-study build: the hint and solution open on click; a figure zooms; the notebook
    download is a notebook without outputs."""
    for kind in ("xk-hint", "xk-solution"):
        toggle = page.locator(f"details.{kind}").first
        assert toggle.count() == 1, kind
        assert toggle.evaluate("d => d.open") is False
        toggle.locator("summary").click()
        assert toggle.evaluate("d => d.open") is True
        inner = "pre" if kind == "xk-solution" else "p"
        assert toggle.locator(inner).first.bounding_box()["height"] > 0
    assert "def linear_attribution" in page.locator("details.xk-solution pre").inner_text()
    page.locator("a.xk-zoom").first.click()
    dialog = page.locator("dialog.xk-zoom-dialog")
    assert dialog.evaluate("d => d.open") is True
    page.wait_for_function("() => document.querySelector('dialog.xk-zoom-dialog img').naturalWidth > 0")
    page.keyboard.press("Escape")
    assert dialog.evaluate("d => d.open") is False
    href = page.locator("details.xk-run a[download]").get_attribute("href")
    response = page.request.get(f"{base}/{lesson}{href}")
    assert response.ok, href
    notebook = json.loads(response.body())
    assert notebook["metadata"]["kernelspec"]["name"] == "python3"
    assert all(not c.get("outputs") for c in notebook["cells"] if c["cell_type"] == "code")
