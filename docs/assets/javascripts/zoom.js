// Click-to-zoom for the lesson figures (links with class "xk-zoom", made by scripts/site_lessons.py):
// the figure opens full size in a dialog that scrolls when it is larger than the window; a click
// or Escape closes it.  Without JavaScript the link simply opens the PNG.
(function () {
  let dialog = null;
  function open(link) {
    if (!dialog) {
      dialog = document.createElement("dialog");
      dialog.className = "xk-zoom-dialog";
      dialog.addEventListener("click", () => dialog.close());
      document.body.appendChild(dialog);
    }
    const img = document.createElement("img");
    img.src = link.getAttribute("href");
    const inner = link.querySelector("img");
    img.alt = inner ? inner.alt : "";
    dialog.replaceChildren(img);
    dialog.showModal();
  }
  document.addEventListener("click", (event) => {
    const link = event.target.closest && event.target.closest("a.xk-zoom");
    if (!link || event.ctrlKey || event.metaKey || event.shiftKey || !window.HTMLDialogElement) {
      return;
    }
    event.preventDefault();
    open(link);
  });
})();
