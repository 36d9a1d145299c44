// The incident page: live from the alert stream, checklist ticks without a reload, the
// frame enlarged in a <dialog>, and "n" for the next incident once this one is resolved.
//
// Live: the page was rendered with the last alert id read after the incident, and every
// form on it reloads the page, so an alert for this incident arriving while it is open was
// caused by someone (or something) else. The notice says what changed, the badges and the
// assignee change in place, and a link reloads the page for the rest (timeline, forms).
(function () {
  "use strict";
  const article = document.getElementById("incident");
  if (!article) return;
  const id = Number(article.dataset.id);
  const me = article.dataset.me;
  const notice = document.getElementById("live-notice");
  const NAMES = {
    new: "New", acknowledged: "Acknowledged", investigating: "Investigating",
    resolved: "Resolved", merged: "Merged",
  };
  const cap = (s) => s.charAt(0).toUpperCase() + s.slice(1);
  const state = {
    status: article.dataset.status,
    severity: article.dataset.severity,
    assignee: article.dataset.assignee || null,
    count: Number(article.dataset.count),
  };

  // ---- live ------------------------------------------------------------------------------
  function tell(lines) {
    notice.textContent = "";
    const list = document.createElement("span");
    list.textContent = lines.join(" ");
    const reload = document.createElement("a");
    reload.href = location.pathname.replace(/\/[a-z]+$/, "/");
    reload.textContent = "Reload the page";
    reload.id = "live-reload";
    notice.append(list, " ", reload);
    notice.hidden = false;
    notice.classList.remove("flash-in");
    void notice.offsetWidth; // restart the highlight
    notice.classList.add("flash-in");
  }

  function onAlert(msg) {
    const incident = msg.incident;
    if (incident.id !== id) return;
    const lines = [];
    if (incident.status !== state.status) {
      if (incident.status === "resolved") lines.push("Someone else resolved this incident.");
      else if (incident.status === "merged") lines.push("Someone else merged this incident into another.");
      else if (incident.status === "acknowledged" && incident.assignee === state.assignee) lines.push("Someone else acknowledged this incident.");
      else if (incident.status === "investigating") lines.push("Someone else started investigating this incident.");
    }
    if (incident.assignee !== state.assignee) {
      if (!incident.assignee) lines.push("It is no longer assigned.");
      else lines.push("Someone else assigned it to " + (incident.assignee === me ? "you" : incident.assignee) + ".");
    }
    if (incident.severity !== state.severity) {
      lines.push("Severity is now " + cap(incident.severity) + " (was " + cap(state.severity) + ").");
    }
    if (incident.count > state.count) lines.push("Seen again: " + incident.count + " times in all.");
    state.status = incident.status;
    state.severity = incident.severity;
    state.assignee = incident.assignee;
    state.count = incident.count;

    const status = document.getElementById("status-badge");
    status.textContent = NAMES[incident.status] || incident.status;
    const severity = document.getElementById("severity-badge");
    severity.textContent = cap(incident.severity);
    severity.className = "badge sev-" + incident.severity;
    article.className = article.className.replace(/\bsev-\w+/, "sev-" + incident.severity);
    const count = document.getElementById("count-badge");
    count.textContent = "×" + incident.count;
    count.hidden = incident.count < 2;
    document.getElementById("assignee").textContent = incident.assignee || "nobody";
    const lastSeen = document.getElementById("last-seen");
    if (lastSeen) lastSeen.textContent = incident.last_seen_at.replace("T", " ").slice(0, 19);
    const acknowledge = document.getElementById("acknowledge");
    if (acknowledge && incident.status !== "new") acknowledge.closest("form").hidden = true;
    const take = document.getElementById("take");
    if (take && incident.assignee === me) take.closest("form").hidden = true;
    if (incident.status === "resolved" || incident.status === "merged") {
      // Resolving again would be refused: say so instead of offering the forms.
      article.classList.add("closed-elsewhere");
      document.querySelectorAll("#actions button, #resolve-form button, #checklist button").forEach((b) => { b.disabled = true; });
    }
    if (lines.length) tell(lines);
  }

  const conn = document.getElementById("conn");
  if (window.AlertStream) {
    AlertStream.open({ lastId: article.dataset.lastAlertId, status: conn, onAlert: onAlert });
  }

  // ---- checklist ticks in place ------------------------------------------------------------
  // A tick is its own step (timeline, audit) but needs no reload, so a verdict, note or
  // reason typed into the resolve form stays. The resolve form waits for ticks in flight.
  const pending = new Set();
  const checklist = document.getElementById("checklist");
  if (checklist) {
    checklist.addEventListener("submit", (event) => {
      const form = event.target.closest("form[data-step]");
      if (!form) return;
      event.preventDefault();
      const button = form.querySelector("button.tick");
      const doneInput = form.querySelector("input[name=done]");
      const done = doneInput.value === "1";
      const text = form.querySelector(".step-text").textContent;
      const paint = (ticked) => {
        button.setAttribute("aria-pressed", String(ticked));
        button.textContent = ticked ? "☑" : "☐";
        button.setAttribute("aria-label", (ticked ? "Untick: " : "Tick: ") + text);
        doneInput.value = ticked ? "0" : "1";
      };
      paint(done); // at once, so a quick second click acts on the next step
      const call = fetch("/api/v1/incidents/" + id + "/check/", {
        method: "POST",
        credentials: "same-origin",
        headers: { "X-CSRFToken": AlertStream.csrfToken(), "Content-Type": "application/json", Accept: "application/json" },
        body: JSON.stringify({ step: Number(form.dataset.step), done: done }),
      }).then(async (response) => {
        const body = await response.json().catch(() => ({}));
        if (!response.ok) {
          paint(!done);
          tell([(body.detail || body.step || "The step could not be changed") + ""]);
          return;
        }
        const now = new Date().toTimeString().slice(0, 5);
        form.querySelector(".tick-by").textContent = done ? "— " + me + ", " + now : "";
        const entry = document.createElement("li");
        entry.dataset.kind = "checked";
        const when = document.createElement("time");
        when.textContent = new Date().toISOString().replace("T", " ").slice(0, 19);
        entry.append(when, " checklist step by " + me + ": " + text + (done ? " ticked" : " unticked"));
        document.getElementById("timeline").append(entry);
      }).catch(() => { paint(!done); tell(["Offline: the step was not changed."]); })
        .finally(() => pending.delete(call));
      pending.add(call);
    });
  }
  const resolveForm = document.getElementById("resolve-form");
  if (resolveForm) {
    resolveForm.addEventListener("submit", (event) => {
      if (!pending.size) return;
      event.preventDefault();
      Promise.allSettled(Array.from(pending)).then(() => resolveForm.submit());
    });
  }

  // ---- the frame, enlarged -------------------------------------------------------------------
  const zoomOpen = document.getElementById("zoom-open");
  const zoom = document.getElementById("zoom");
  if (zoomOpen && zoom && zoom.showModal) {
    const image = document.getElementById("zoom-image");
    zoomOpen.addEventListener("click", () => {
      // The same URL as the page's image: the browser reuses it, no second download.
      if (!image.src) image.src = zoomOpen.dataset.full;
      zoom.classList.remove("actual");
      zoom.showModal();
    });
    image.addEventListener("click", () => zoom.classList.toggle("actual"));
    zoom.addEventListener("click", (event) => { if (event.target === zoom) zoom.close(); });
  }

  // ---- keys ------------------------------------------------------------------------------
  document.addEventListener("keydown", (event) => {
    const target = event.target;
    if (target instanceof HTMLInputElement || target instanceof HTMLTextAreaElement || target instanceof HTMLSelectElement) return;
    if (event.ctrlKey || event.metaKey || event.altKey) return;
    const next = document.getElementById("next-incident");
    if (event.key === "n" && next) location.href = next.href;
  });
})();
