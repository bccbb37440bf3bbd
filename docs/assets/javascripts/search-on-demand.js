// The search index on demand.  Material's bundle requests search/search_index.json (hundreds of
// kB: every page's text) as soon as any page loads; this holds that one request back until the
// reader turns to the search -- focuses or opens the search field -- or at once when the address
// asks for a search (?q=) or for highlighted terms (?h=).  Loaded before the bundle
// (scripts/site_theme/main.html).  Without it, or without JavaScript, nothing changes but the
// page weight.
(function () {
  const INDEX = /\/search\/search_index\.json(?:[?#]|$)/;
  const open = XMLHttpRequest.prototype.open;
  const send = XMLHttpRequest.prototype.send;
  const held = [];
  let wanted = /[?&][qh]=/.test(window.location.search);

  function release() {
    wanted = true;
    held.splice(0).forEach((request) => request());
  }

  XMLHttpRequest.prototype.open = function (method, url, ...rest) {
    this.xkSearchIndex = INDEX.test(String(url));
    return open.call(this, method, url, ...rest);
  };
  XMLHttpRequest.prototype.send = function (...args) {
    if (this.xkSearchIndex && !wanted) {
      held.push(() => send.apply(this, args));
      return undefined;
    }
    return send.apply(this, args);
  };

  const inSearch = (target) => target instanceof Element &&
    target.closest(".md-search, label[for='__search'], #__search") !== null;
  document.addEventListener("focusin", (event) => inSearch(event.target) && release());
  document.addEventListener("pointerdown", (event) => inSearch(event.target) && release());
  document.addEventListener("change", (event) => inSearch(event.target) && release());
})();
