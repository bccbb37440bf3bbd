"""MkDocs hooks for the xaikit site (registered in mkdocs.yml under ``hooks:``).

- ``on_config``: builds the navigation from the pages that scripts/site_prepare.py staged, so the
  nav never names a lesson, dataset or API page that does not exist.
- ``on_page_content``: removes the script tags nbconvert puts into every notebook page (MathJax 2
  and mermaid from cdnjs).
- ``on_post_page``: the page's math typeset as MathML at build time (scripts/site_weight.py:
  no math script on any page; a formula that does not convert fails the build, naming the page
  and the formula); the notebook CSS that mkdocs-jupyter inlines into every lesson page is
  written once (``assets/stylesheets/notebook-HASH.css``, JupyterLab's own stylesheet as
  ``jupyterlab-HASH.css``) and linked instead.
- ``on_post_build``: prunes JupyterLab's stylesheet to the rules the built pages can match
  (``prune_css``: 0.57 MB -> ~40 kB); rewrites Material's search index smaller
  (``slim_search_index``: API pages as names, signatures and summaries, lessons without printed
  outputs and doubled code); audits the built HTML and CSS for anything fetched from another host
  (scripts, stylesheets, fonts, images, iframes); each one is a warning, which fails
  ``mkdocs build --strict``.
"""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

from mkdocs.exceptions import PluginError
from mkdocs.plugins import get_plugin_logger
from site_weight import (  # scripts/ is on sys.path while MkDocs loads hooks
    MathError,
    prune_css,
    slim_search_index,
    typeset,
)

log = get_plugin_logger("xaikit-site")

# The site's layout: a title and either a page or a folder (a section: index.md, then the rest).
LAYOUT = (
    ("Home", "index.md"),
    ("Start here", "start-here.md"),
    ("Lessons", "lessons/"),
    ("Reproductions", "reproductions.md"),
    ("Datasets", "datasets/"),
    ("Glossary", "glossary.md"),
    ("Bibliography", "bibliography.md"),
    ("API reference", "api/"),
    ("Instructors' guide", "instructors.md"),
    ("Contributing", "contributing.md"),
)

NBCONVERT_MATHJAX = re.compile(
    r"<!-- Load mathjax -->.*?<!-- End of mathjax configuration -->", re.DOTALL
)
NBCONVERT_MERMAID = re.compile(r"<script type=\"module\">(?:(?!</script>).)*?mermaid.*?</script>", re.DOTALL)

# Folders of files to download, not pages (the clean lesson notebooks).
DOWNLOADS = ("downloads",)
STYLE_BLOCK = re.compile(r"<style[^>]*>(.*?)</style>", re.DOTALL)
NOTEBOOK_CSS_MIN = 2000  # characters: the notebook's theme and layout CSS, not small page styles
JUPYTERLAB_CSS_MIN = 100_000  # characters: JupyterLab's stylesheet (mkdocs-jupyter's index.css)
JUPYTERLAB_LINK = re.compile(r'href="[^"]*assets/stylesheets/(jupyterlab-\w+\.css)"')

RESOURCE_TAG = re.compile(r"<(script|link|img|iframe|source|video|audio|embed)\b[^>]*>", re.IGNORECASE)
REMOTE_URL = re.compile(r"\b(?:src|href)\s*=\s*[\"']?((?:https?:)?//[^\"'\s>]+)", re.IGNORECASE)
# <link rel=...> values that make the browser fetch something (not canonical/alternate links).
FETCHING_LINK = re.compile(r"\brel\s*=\s*[\"']?[^\"'>]*\b(stylesheet|preload|modulepreload|"
                           r"preconnect|dns-prefetch|icon|manifest)\b", re.IGNORECASE)
REMOTE_IN_CSS = re.compile(r"(@import\s+(?:url\()?|url\()\s*[\"']?((?:https?:)?//[^\"')\s]+)", re.IGNORECASE)


def _section_pages(docs_dir: Path, folder: str) -> list[str]:
    """The pages of one nav section: its index.md first, then the rest sorted by file name."""
    root = docs_dir / folder
    if not root.is_dir():
        return []
    pages = sorted(
        p.relative_to(docs_dir).as_posix()
        for p in root.iterdir()
        if p.suffix in (".md", ".ipynb") and p.name != "index.md"
    )
    index = root / "index.md"
    return ([f"{folder}/index.md"] if index.is_file() else []) + pages


def on_config(config):
    """Build ``nav`` from what exists in ``docs_dir`` (an explicit nav in mkdocs.yml wins)."""
    if config.get("nav"):
        return config
    docs_dir = Path(config["docs_dir"])
    nav: list = []
    placed: set[str] = set()
    for title, entry in LAYOUT:
        if entry.endswith("/"):
            pages = _section_pages(docs_dir, entry.rstrip("/"))
            if pages:
                nav.append({title: pages})
            placed.update(pages)
        elif (docs_dir / entry).is_file():
            nav.append({title: entry})
            placed.add(entry)
    # Any other page (a guide someone added to docs/) goes before Contributing, titled by its
    # own first heading, so that no page is left out of the navigation.
    others = sorted(
        p.relative_to(docs_dir).as_posix()
        for p in docs_dir.rglob("*")
        if p.suffix in (".md", ".ipynb") and p.relative_to(docs_dir).as_posix() not in placed
        and not any(part.startswith(".") for part in p.relative_to(docs_dir).parts)
        and p.relative_to(docs_dir).parts[0] not in DOWNLOADS
    )
    at = len(nav) - 1 if nav and "Contributing" in nav[-1] else len(nav)
    nav[at:at] = others
    config["nav"] = nav
    return config


def on_page_content(html, page, config, files):
    """Drop nbconvert's CDN MathJax 2 and mermaid loaders from notebook pages."""
    if not page.file.src_path.endswith(".ipynb"):
        return html
    html = NBCONVERT_MATHJAX.sub("", html)
    return NBCONVERT_MERMAID.sub("", html)


def on_post_page(output, page, config):
    """Math as MathML; the notebook CSS once per site, linked."""
    root = "../" * page.url.count("/") if config.get("use_directory_urls", True) else \
        "../" * page.file.dest_uri.count("/")
    notebook = page.file.src_path.endswith(".ipynb")
    try:
        output = typeset(output, notebook=notebook)
    except MathError as error:
        raise PluginError(f"{page.file.src_path}: math that cannot be shown as MathML:\n{error}") \
            from error
    if notebook:
        site_dir = Path(config["site_dir"])
        for block in STYLE_BLOCK.finditer(output):
            css = block.group(1)
            if len(css) < NOTEBOOK_CSS_MIN:
                continue
            kind = "jupyterlab" if len(css) >= JUPYTERLAB_CSS_MIN else "notebook"
            name = f"{kind}-{hashlib.sha256(css.encode()).hexdigest()[:12]}.css"
            target = site_dir / "assets" / "stylesheets" / name
            if not target.is_file():
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_text(css, encoding="utf-8")
            output = output.replace(block.group(0),
                                    f'<link rel="stylesheet" href="{root}assets/stylesheets/{name}">', 1)
    return output


def remote_resources(site_dir: Path) -> list[str]:
    """Every resource in the built site that a browser would fetch from another host.

    Returns ``"path: url"`` strings; links (``<a href>``) are not resources and are allowed.
    """
    found = []
    for path in sorted(site_dir.rglob("*")):
        if path.suffix == ".html":
            text = path.read_text(encoding="utf-8", errors="replace")
            hits = []
            for tag in RESOURCE_TAG.finditer(text):
                url = REMOTE_URL.search(tag.group(0))
                fetched = tag.group(1).lower() != "link" or FETCHING_LINK.search(tag.group(0))
                if url and fetched:
                    hits.append(url.group(1))
            hits += [m.group(2) for m in REMOTE_IN_CSS.finditer(text)]
        elif path.suffix == ".css":
            text = path.read_text(encoding="utf-8", errors="replace")
            hits = [m.group(2) for m in REMOTE_IN_CSS.finditer(text)]
        else:
            continue
        found += [f"{path.relative_to(site_dir).as_posix()}: {url}" for url in hits]
    return found


def prune_jupyterlab_css(site_dir: Path) -> None:
    """Cut each JupyterLab stylesheet the pages link to the rules those pages can match, saved
    under the hash of what is left (the links follow)."""
    pages: dict[str, list[Path]] = {}
    for path in site_dir.rglob("*.html"):
        for name in set(JUPYTERLAB_LINK.findall(path.read_text(encoding="utf-8"))):
            pages.setdefault(name, []).append(path)
    folder = site_dir / "assets" / "stylesheets"
    # the theme's and the site's scripts (not lunr's language support), for classes they add
    scripts = [path.read_text(encoding="utf-8") for path in (site_dir / "assets" / "javascripts").glob("*.js")]
    for name, linking in sorted(pages.items()):
        full = (folder / name).read_text(encoding="utf-8")
        pruned = prune_css(full, [path.read_text(encoding="utf-8") for path in linking], scripts)
        new = f"jupyterlab-{hashlib.sha256(pruned.encode()).hexdigest()[:12]}.css"
        (folder / new).write_text(pruned, encoding="utf-8")
        for path in linking:
            path.write_text(path.read_text(encoding="utf-8").replace(name, new), encoding="utf-8")
        if new != name:
            (folder / name).unlink()
        log.info("%s: %d -> %d bytes for %d pages", new, len(full.encode()), len(pruned.encode()),
                 len(linking))


def on_post_build(config):
    """Prune JupyterLab's CSS; slim the search index; warn (and so fail ``--strict``) about every resource loaded from
    another host."""
    site_dir = Path(config["site_dir"])
    prune_jupyterlab_css(site_dir)
    index_file = site_dir / "search" / "search_index.json"
    if index_file.is_file():
        full = index_file.read_text(encoding="utf-8")
        slim = json.dumps(slim_search_index(json.loads(full)), ensure_ascii=False, separators=(",", ":"))
        index_file.write_text(slim, encoding="utf-8")
        log.info("search index: %d -> %d bytes", len(full.encode()), len(slim.encode()))
    for hit in remote_resources(site_dir):
        log.warning("the site would load a resource from another host (it must work offline): %s", hit)
