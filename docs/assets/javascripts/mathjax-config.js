// MathJax 3 configuration for the xaikit site (loaded before assets/javascripts/mathjax/tex-chtml-full.js,
// which scripts/site_prepare.py copies from the django-static-mathjax package: nothing from a CDN).
// Math is typeset in the Markdown pages (pymdownx.arithmatex, class "arithmatex") and in the
// lessons' Markdown cells and Markdown outputs rendered by nbconvert (class "jp-RenderedMarkdown",
// with the notebook's $...$ and $$...$$ delimiters).
window.MathJax = {
  tex: {
    inlineMath: [["\\(", "\\)"], ["$", "$"]],
    displayMath: [["\\[", "\\]"], ["$$", "$$"]],
    processEscapes: true,
    processEnvironments: true,
  },
  // Not Material's usual ignoreHtmlClass ".*|": MathJax applies the ignore pattern again to every
  // child element, so the <p> inside a notebook's Markdown cell would be skipped.  Skip the site's
  // chrome and code outputs instead (<pre> and <code> are skipped by MathJax anyway).
  options: {
    ignoreHtmlClass: "tex2jax_ignore|md-header|md-tabs|md-sidebar|md-nav|md-search|md-footer|jp-OutputArea|highlight",
    processHtmlClass: "tex2jax_process|arithmatex|jp-RenderedMarkdown",
    enableMenu: false,
  },
  // CommonHTML output: a smaller bundle than SVG (the TeX fonts come as woff files, loaded only
  // when a page uses them, from output/chtml/fonts/woff-v2 beside the script).
  chtml: {},
};

// Material's instant navigation swaps pages without reloading scripts: typeset each new page.
// The first page is typeset by MathJax itself when it loads, so do nothing before it is ready.
// MathJax.startup.output.clearCache exists for CHTML output only, hence the guard.
if (typeof document$ !== "undefined") {
  document$.subscribe(() => {
    const mj = window.MathJax;
    if (!mj || !mj.startup || !mj.startup.output || typeof mj.typesetPromise !== "function") {
      return;
    }
    if (typeof mj.startup.output.clearCache === "function") {
      mj.startup.output.clearCache();
    }
    mj.typesetClear();
    mj.texReset();
    mj.typesetPromise();
  });
}
