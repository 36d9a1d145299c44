// Incident queue keyboard shortcuts: j/k move, Enter or o opens, a acknowledges (through
// the API, with the session's CSRF token), r opens the incident at its resolve form, / searches.
(function () {
  "use strict";
  const table = document.getElementById("queue");
  const message = document.getElementById("queue-message");
  const search = document.getElementById("q");
  const rows = table ? Array.from(table.tBodies[0].rows) : [];
  let current = -1;

  function csrfToken() {
    const match = document.cookie.match(/(?:^|;\s*)csrftoken=([^;]+)/);
    return match ? decodeURIComponent(match[1]) : "";
  }

  function select(index) {
    if (!rows.length) return;
    current = Math.max(0, Math.min(rows.length - 1, index));
    rows.forEach((row, i) => row.classList.toggle("selected", i === current));
    rows[current].focus();
    rows[current].scrollIntoView({ block: "nearest" });
  }

  function say(text, isError) {
    message.textContent = text;
    message.className = isError ? "error" : "muted";
  }

  async function acknowledge(row) {
    if (row.dataset.status !== "new") {
      say("#" + row.dataset.id + " is already " + row.dataset.status + ".", true);
      return;
    }
    const response = await fetch("/api/v1/incidents/" + row.dataset.id + "/acknowledge/", {
      method: "POST",
      credentials: "same-origin",
      headers: { "X-CSRFToken": csrfToken(), Accept: "application/json" },
    });
    const body = await response.json().catch(() => ({}));
    if (!response.ok) {
      say("#" + row.dataset.id + ": " + (body.detail || "could not acknowledge (" + response.status + ")"), true);
      return;
    }
    row.dataset.status = body.status;
    row.querySelector(".status").textContent = "Acknowledged";
    const counter = (id) => document.getElementById("count-" + id);
    if (counter("new")) counter("new").textContent = Math.max(0, Number(counter("new").textContent) - 1);
    if (counter("acknowledged")) counter("acknowledged").textContent = Number(counter("acknowledged").textContent) + 1;
    say("#" + row.dataset.id + " acknowledged.", false);
  }

  rows.forEach((row, i) => row.addEventListener("click", () => select(i)));

  document.addEventListener("keydown", (event) => {
    const target = event.target;
    const typing = target instanceof HTMLInputElement || target instanceof HTMLTextAreaElement || target instanceof HTMLSelectElement;
    if (typing || event.ctrlKey || event.metaKey || event.altKey) return;
    const row = rows[current];
    switch (event.key) {
      case "j": select(current + 1); break;
      case "k": select(current - 1); break;
      case "/": if (search) { event.preventDefault(); search.focus(); } break;
      case "Enter": case "o": if (row) window.location.href = row.dataset.url; break;
      case "a": if (row) acknowledge(row); break;
      case "r": if (row) window.location.href = row.dataset.url + "#resolve-form"; break;
      default: return;
    }
  });
})();
