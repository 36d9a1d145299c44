// Incident queue: keyboard shortcuts, bulk actions and live updates.
//
// Keys: j/k move, x selects the focused row, Enter or o opens, a acknowledges (through the
// API, with the session's CSRF token), r opens the incident at its resolve form, / searches.
// Shift-click on a checkbox selects the range from the last one clicked.
//
// Bulk: POST /api/v1/incidents/bulk/ acts on every selected incident, each on its own; the
// answer's summary ("3 resolved, 1 refused: #41 …") is shown and refused rows stay selected
// and marked with their reason.
//
// Live, from the alert stream (alertstream.js): a row whose incident changed gets its
// status, assignee, count and severity at once from the alert, and leaves the page when its
// new status is not one the page shows (resolved rows leave the open view). Then, a moment
// later, the page asks the server for the same URL and takes from it the counts per status
// and, on the first page, the rows that now match: the server applies every filter (words,
// dates, zone…) exactly, so nothing is guessed here. A later page only says "N new —
// refresh", as new rows belong at the top.
(function () {
  "use strict";
  const table = document.getElementById("queue");
  if (!table) return;
  const tbody = table.tBodies[0];
  const message = document.getElementById("queue-message");
  const search = document.getElementById("q");
  const empty = document.getElementById("queue-empty");
  const bulk = document.getElementById("bulk");
  const bulkCount = document.getElementById("bulk-count");
  const pickAll = document.getElementById("pick-all");
  const newBar = document.getElementById("new-bar");
  const newCount = document.getElementById("new-count");
  const statusNames = JSON.parse(document.getElementById("status-names").textContent);
  const laterPage = table.dataset.laterPage === "1";
  const shownStatuses = new URLSearchParams(location.search).getAll("status");
  const OPEN = ["new", "acknowledged", "investigating"];
  const statuses = shownStatuses.length ? shownStatuses : OPEN;
  const severities = new URLSearchParams(location.search).getAll("severity");
  let current = -1;
  let lastPicked = -1;
  let newSeen = 0;
  let connected = false;

  const rows = () => Array.from(tbody.rows);
  const rowOf = (id) => tbody.querySelector('tr[data-id="' + id + '"]');
  const box = (row) => row.querySelector("input.pick-one");

  function say(text, isError) {
    message.textContent = text;
    message.className = isError ? "error" : "muted";
  }

  // ---- focus and selection -------------------------------------------------------------
  function focusRow(index) {
    const all = rows();
    if (!all.length) return;
    current = Math.max(0, Math.min(all.length - 1, index));
    all.forEach((row, i) => row.classList.toggle("selected", i === current));
    all[current].focus();
    all[current].scrollIntoView({ block: "nearest" });
  }

  function picked() {
    return rows().filter((row) => box(row).checked).map((row) => Number(row.dataset.id));
  }

  function pickedChanged() {
    const n = picked().length;
    const all = rows();
    bulk.hidden = false;
    bulk.classList.toggle("idle", n === 0);
    bulkCount.textContent = n ? n + " selected" : "Select incidents to act on many";
    bulk.querySelectorAll("button, select, input").forEach((el) => { el.disabled = n === 0; });
    pickAll.checked = n > 0 && n === all.length;
    pickAll.indeterminate = n > 0 && n < all.length;
    all.forEach((row) => row.classList.toggle("picked", box(row).checked));
  }

  function wire(row) {
    row.addEventListener("click", (event) => {
      const i = rows().indexOf(row);
      if (event.target.closest("a")) return;
      if (event.target.classList.contains("pick-one")) {
        if (event.shiftKey && lastPicked >= 0) {
          const [from, to] = [Math.min(lastPicked, i), Math.max(lastPicked, i)];
          rows().slice(from, to + 1).forEach((r) => { box(r).checked = event.target.checked; });
        }
        lastPicked = i;
        pickedChanged();
      }
      focusRow(i);
    });
  }

  pickAll.addEventListener("change", () => {
    rows().forEach((row) => { box(row).checked = pickAll.checked; });
    pickedChanged();
  });

  // ---- one incident by key ---------------------------------------------------------------
  async function post(url, body) {
    const response = await fetch(url, {
      method: "POST",
      credentials: "same-origin",
      headers: { "X-CSRFToken": AlertStream.csrfToken(), Accept: "application/json", "Content-Type": "application/json" },
      body: body ? JSON.stringify(body) : undefined,
    });
    const answer = await response.json().catch(() => ({}));
    return { ok: response.ok, status: response.status, body: answer };
  }

  async function acknowledge(row) {
    if (row.dataset.status !== "new") {
      say("#" + row.dataset.id + " is already " + row.dataset.status + ".", true);
      return;
    }
    const done = await post("/api/v1/incidents/" + row.dataset.id + "/acknowledge/");
    if (!done.ok) {
      say("#" + row.dataset.id + ": " + (done.body.detail || "could not acknowledge (" + done.status + ")"), true);
      return;
    }
    update(row, done.body);
    say("#" + row.dataset.id + " acknowledged.", false);
    sync();
  }

  // ---- bulk ------------------------------------------------------------------------------
  function firstError(body) {
    for (const key of Object.keys(body)) {
      const value = body[key];
      const text = Array.isArray(value) ? value.join(" ") : typeof value === "object" ? JSON.stringify(value) : value;
      return (key === "detail" ? "" : key + ": ") + text;
    }
    return "";
  }

  async function bulkAct(kind) {
    const ids = picked();
    if (!ids.length) return;
    const request = { ids: ids };
    if (kind === "acknowledge") request.action = "acknowledge";
    if (kind === "assign-me" || kind === "assign") {
      request.action = "assign";
      request.assignee = kind === "assign" ? document.getElementById("bulk-assignee").value : bulk.dataset.me;
    }
    if (kind === "resolve") {
      request.action = "resolve";
      request.verdict = document.getElementById("bulk-verdict").value;
      request.label = document.getElementById("bulk-label").value;
      request.note = document.getElementById("bulk-note").value;
      request.reason = document.getElementById("bulk-reason").value;
      if (!request.verdict) {
        say("Choose a verdict to resolve with.", true);
        document.getElementById("bulk-verdict").focus();
        return;
      }
    }
    bulk.setAttribute("aria-busy", "true");
    let done;
    try {
      done = await post("/api/v1/incidents/bulk/", request);
    } catch (e) {
      done = { ok: false, status: 0, body: {} };
    } finally {
      bulk.removeAttribute("aria-busy");
    }
    if (done.status === 400) {
      // Bad input is refused before anything is done.
      say("Nothing was done: " + (firstError(done.body) || "the request was refused"), true);
      return;
    }
    if (!done.ok) {
      // The server may have done part of it before failing: the list is read again to say what.
      const why = firstError(done.body) || (done.status ? "error " + done.status : "the network is down");
      say("The request failed (" + why + "); the list is refreshed to show what was done.", true);
      sync();
      return;
    }
    const result = done.body;
    rows().forEach((row) => {
      row.classList.remove("refused");
      row.removeAttribute("title");
    });
    result.done.forEach((id) => {
      const row = rowOf(id);
      if (row) box(row).checked = false;
    });
    result.refused.forEach((outcome) => {
      const row = rowOf(outcome.id);
      if (!row) return;
      row.classList.add("refused");
      row.title = outcome.detail;
    });
    say(result.summary.charAt(0).toUpperCase() + result.summary.slice(1) + ".", result.refused.length > 0 || result.not_found.length > 0);
    if (result.action === "resolve" && !result.refused.length) {
      document.getElementById("bulk-resolve").open = false;
    }
    pickedChanged();
    sync();
  }

  bulk.addEventListener("click", (event) => {
    const button = event.target.closest("button[data-bulk]");
    if (button) bulkAct(button.dataset.bulk);
  });
  bulk.addEventListener("submit", (event) => event.preventDefault());
  document.getElementById("bulk-verdict").addEventListener("change", (event) => {
    document.getElementById("bulk-label-field").hidden = event.target.value !== "wrong_class";
  });

  // ---- live ------------------------------------------------------------------------------
  function setText(row, cls, text) {
    const cell = row.querySelector("." + cls);
    if (cell) cell.textContent = text;
  }

  // An incident as the alert (or the API) describes it, written into its row.
  function update(row, incident) {
    row.dataset.status = incident.status;
    setText(row, "status", statusNames[incident.status] || incident.status);
    setText(row, "assignee", incident.assignee || "—");
    row.querySelector(".assignee").classList.toggle("nobody", !incident.assignee);
    setText(row, "count", incident.count);
    row.className = row.className.replace(/\bsev-\w+/, "sev-" + incident.severity);
    const badge = row.querySelector(".sev .badge");
    if (badge) {
      badge.className = "badge sev-" + incident.severity;
      badge.textContent = incident.severity.charAt(0).toUpperCase() + incident.severity.slice(1);
    }
  }

  function leave(row, why) {
    if (rows().indexOf(row) <= current) current -= 1;
    row.remove();
    empty.hidden = rows().length > 0;
    if (why) say(why, false);
    pickedChanged();
  }

  function onAlert(msg) {
    const incident = msg.incident;
    const row = rowOf(incident.id);
    if (row) {
      update(row, incident);
      row.classList.add("changed");
      setTimeout(() => row.classList.remove("changed"), 2500);
      if (statuses.indexOf(incident.status) < 0) {
        leave(row, "#" + incident.id + " is now " + (statusNames[incident.status] || incident.status).toLowerCase() + " and left this view.");
      }
    } else if (laterPage && msg.kind === "incident.opened" && statuses.indexOf(incident.status) >= 0
               && (!severities.length || severities.indexOf(incident.severity) >= 0)) {
      newSeen += 1;
      newCount.textContent = newSeen;
      newBar.hidden = false;
    }
    sync();
  }

  // The same URL from the server, read for its counts and (first page) its rows; at most
  // one request in flight, and at most one every 400 ms: a burst of alerts is read in one
  // request per 400 ms, so the counts keep moving during a long burst.
  let syncTimer = null;
  let syncing = false;
  let again = false;

  function sync() {
    if (syncTimer) return;
    syncTimer = setTimeout(() => { syncTimer = null; syncNow(); }, 400);
  }

  async function syncNow() {
    if (syncing) { again = true; return; }
    syncing = true;
    try {
      const response = await fetch(location.href, { credentials: "same-origin", headers: { Accept: "text/html" } });
      if (response.ok) merge(new DOMParser().parseFromString(await response.text(), "text/html"));
    } catch (e) { /* offline: the stream's status says so, and the next alert tries again */ }
    syncing = false;
    if (again) { again = false; sync(); }
  }

  function merge(fresh) {
    fresh.querySelectorAll("#status-tabs .badge").forEach((badge) => {
      const mine = document.getElementById(badge.id);
      if (mine) mine.textContent = badge.textContent;
    });
    if (laterPage) return;
    const freshTable = fresh.getElementById("queue");
    if (!freshTable) return;
    const wanted = Array.from(freshTable.tBodies[0].rows);
    const wantedIds = new Set(wanted.map((r) => r.dataset.id));
    rows().forEach((row) => {
      if (!wantedIds.has(row.dataset.id)) leave(row, "");
    });
    // Walk the server's order: a row we have is refreshed in place (its selection kept); a
    // row we lack is put where the server has it.
    let before = null;
    for (let i = wanted.length - 1; i >= 0; i--) {
      const theirs = wanted[i];
      let row = rowOf(theirs.dataset.id);
      if (row) {
        ["sev", "status", "assignee", "count"].forEach((cls) => {
          const cell = theirs.querySelector("." + cls);
          if (cell) {
            row.querySelector("." + cls).innerHTML = cell.innerHTML;
            row.querySelector("." + cls).className = cell.className;
          }
        });
        row.dataset.status = theirs.dataset.status;
        row.className = row.className.replace(/\bsev-\w+/, theirs.className.match(/\bsev-\w+/)[0]);
      } else {
        row = document.importNode(theirs, true);
        row.classList.add("is-new");
        setTimeout(() => row.classList.remove("is-new"), 4000);
        wire(row);
      }
      if (row.nextElementSibling !== before || row.parentNode !== tbody) tbody.insertBefore(row, before);
      before = row;
    }
    const pager = fresh.getElementById("pager");
    if (pager) document.getElementById("pager").innerHTML = pager.innerHTML;
    empty.hidden = rows().length > 0;
    const selected = rows().findIndex((row) => row.classList.contains("selected"));
    current = selected;
    pickedChanged();
  }

  // ---- filters behind a button on a phone ----------------------------------------------
  const filters = document.getElementById("filters");
  const toggle = document.getElementById("filters-toggle");
  const active = ["q", "severity", "kind", "camera", "zone", "mine", "opened_after", "opened_before"]
    .filter((key) => new URLSearchParams(location.search).getAll(key).some((v) => v));
  toggle.hidden = false;
  toggle.textContent = active.length ? "Filters (" + active.length + ")" : "Filters";
  filters.classList.add("collapsible");
  toggle.addEventListener("click", () => {
    const open = !filters.classList.contains("open");
    filters.classList.toggle("open", open);
    toggle.setAttribute("aria-expanded", String(open));
  });

  // ---- keys ------------------------------------------------------------------------------
  rows().forEach(wire);
  pickedChanged();

  document.addEventListener("keydown", (event) => {
    const target = event.target;
    const typing = target instanceof HTMLInputElement && target.type !== "checkbox"
      || target instanceof HTMLTextAreaElement || target instanceof HTMLSelectElement;
    if (typing || event.ctrlKey || event.metaKey || event.altKey) return;
    const row = rows()[current];
    switch (event.key) {
      case "j": focusRow(current + 1); break;
      case "k": focusRow(current - 1); break;
      case "x":
        if (row) {
          box(row).checked = !box(row).checked;
          lastPicked = current;
          pickedChanged();
        }
        break;
      case "/": if (search) { event.preventDefault(); search.focus(); } break;
      case "Enter": case "o":
        // Enter on a link or button keeps its own meaning.
        if (row && (target === row || target === document.body)) window.location.href = row.dataset.url;
        break;
      case "a": if (row) acknowledge(row); break;
      case "r": if (row) window.location.href = row.dataset.url + "#resolve-form"; break;
      default: return;
    }
  });

  AlertStream.open({
    lastId: table.dataset.lastAlertId,
    status: document.getElementById("conn"),
    onAlert: onAlert,
    // A reconnect after the first: what changed meanwhile is replayed, but the counts and
    // order are read again too.
    onLive: () => { if (connected) sync(); connected = true; },
  });
})();
