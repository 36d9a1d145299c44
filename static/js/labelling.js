// Labelling page keyboard: 1-9 answer with that label, Enter accepts the suggestion, s skips.
// Each answers through the page's own form (a plain POST with its CSRF token), once.
(function () {
  "use strict";
  const form = document.getElementById("labelling-form");
  if (!form) return;
  let sent = false;

  function answer(button) {
    if (!button || sent) return;
    sent = true;
    form.classList.add("sending");
    form.requestSubmit(button);
  }

  form.addEventListener("submit", () => { sent = true; });
  // Back from the next item (the page restored from the cache): answering works again.
  window.addEventListener("pageshow", (event) => { if (event.persisted) { sent = false; form.classList.remove("sending"); } });

  document.addEventListener("keydown", (event) => {
    const target = event.target;
    const typing = target instanceof HTMLInputElement || target instanceof HTMLTextAreaElement || target instanceof HTMLSelectElement;
    if (typing || event.ctrlKey || event.metaKey || event.altKey || event.repeat) return;
    let button = null;
    if (event.key >= "1" && event.key <= "9") {
      button = form.querySelector('button[data-key="' + event.key + '"]');
    } else if (event.key === "s" || event.key === "S") {
      button = document.getElementById("labelling-skip");
    } else if (event.key === "Enter") {
      // A focused button or link does what Enter means to it; elsewhere Enter accepts.
      if (target instanceof HTMLButtonElement || target instanceof HTMLAnchorElement || target.tagName === "SUMMARY") return;
      button = form.querySelector('button[data-suggested="true"]');
    } else {
      return;
    }
    if (!button) return;
    event.preventDefault();
    answer(button);
  });
})();
