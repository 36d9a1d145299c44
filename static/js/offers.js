// The duty page's "incidents offered to you": refreshed every 10 s from the server (the
// fragment the page itself renders), with a vibration on a phone when a new one arrives.
(function () {
  "use strict";
  const REFRESH_MS = 10000;

  function ids(section) {
    return new Set((section.dataset.ids || "").split(",").filter(Boolean));
  }

  async function refresh() {
    const section = document.getElementById("offers");
    if (!section || document.hidden) return;
    let response;
    try {
      response = await fetch(section.dataset.refresh, {
        credentials: "same-origin",
        headers: { Accept: "text/html" },
      });
    } catch (error) {
      return; // offline for a moment: the next tick tries again
    }
    if (!response.ok) return;
    const holder = document.createElement("div");
    holder.innerHTML = await response.text();
    const fresh = holder.querySelector("#offers");
    if (!fresh) return;
    const before = ids(section);
    const arrived = [...ids(fresh)].some((id) => !before.has(id));
    section.replaceWith(fresh);
    if (arrived && navigator.vibrate) navigator.vibrate([200, 100, 200]);
  }

  if (document.getElementById("offers")) {
    window.setInterval(refresh, REFRESH_MS);
    document.addEventListener("visibilitychange", refresh);
  }
})();
