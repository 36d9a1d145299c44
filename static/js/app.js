// On every page (base.html loads it right after the top bar): what used to be inline script
// or style before the Content-Security-Policy, which allows neither.
(function () {
  "use strict";

  // On a phone the navigation folds behind the Menu button (app.css). Without this script
  // the button stays hidden and the navigation wraps onto lines of its own instead.
  const button = document.querySelector(".menu-button");
  if (button) {
    const bar = button.parentElement;
    bar.classList.add("menu-folds");
    button.addEventListener("click", function () {
      const open = bar.classList.toggle("menu-open");
      button.setAttribute("aria-expanded", String(open));
    });
  }

  // Confusion-matrix cells (ml/_metrics.html) carry their shade in data-heat, worked out on
  // the server from numbers only; setting it through the CSSOM is allowed where a style
  // attribute is not.
  function shade() {
    document.querySelectorAll(".heatmap td[data-heat]").forEach(function (cell) {
      cell.style.cssText = cell.dataset.heat;
    });
  }
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", shade);
  } else {
    shade();
  }
})();
