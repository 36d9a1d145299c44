// The live access-event stream (/ws/access/) on the door board and the door and person
// pages. The pages are complete without it; with it, new events appear on top of the events
// table (#access-events: only this door's or this person's when the table says so) and in
// each door's "last event" cell on the board. On connect the server sends a backlog of the
// newest events, so a reconnect fills what was missed; rows already shown are skipped by id.
// After a drop it reconnects with backoff.
(function () {
  "use strict";

  const table = document.getElementById("access-events");
  const board = document.querySelector(".door-board");
  const statusEl = document.getElementById("access-conn");
  if (!table && !board) return;
  // Older pages of events stay as they were rendered.
  const firstPage = !/[?&]page=(?!1(&|$))/.test(location.search);
  const doorId = table && table.dataset.door ? Number(table.dataset.door) : null;
  const personId = table && table.dataset.person ? Number(table.dataset.person) : null;
  const ROWS_MAX = 100;
  let attempt = 0;

  function setStatus(state, text) {
    if (!statusEl) return;
    statusEl.hidden = false;
    statusEl.className = "conn conn-" + state;
    statusEl.textContent = text;
  }

  function cell(content) {
    const td = document.createElement("td");
    if (content !== undefined) td.append(content);
    return td;
  }

  function link(ref) {
    const a = document.createElement("a");
    a.href = ref.url;
    a.textContent = ref.name;
    return a;
  }

  function badge(msg) {
    const span = document.createElement("span");
    span.className = "badge ev-" + msg.kind;
    span.textContent = msg.kind_label;
    return span;
  }

  function when(iso) {
    const t = document.createElement("time");
    t.dateTime = iso;
    const d = new Date(iso);
    const pad = function (n) { return String(n).padStart(2, "0"); };
    t.textContent = d.getFullYear() + "-" + pad(d.getMonth() + 1) + "-" + pad(d.getDate()) + " " +
      pad(d.getHours()) + ":" + pad(d.getMinutes()) + ":" + pad(d.getSeconds());
    return t;
  }

  function ago(iso) {
    const seconds = Math.max(0, (Date.now() - new Date(iso).getTime()) / 1000);
    if (seconds < 60) return "just now";
    if (seconds < 3600) return Math.floor(seconds / 60) + " min ago";
    return Math.floor(seconds / 3600) + " h ago";
  }

  function addRow(msg) {
    if (!table || !firstPage) return;
    if (doorId !== null && (!msg.door || msg.door.id !== doorId)) return;
    if (personId !== null && (!msg.person || msg.person.id !== personId)) return;
    const body = table.tBodies[0];
    if (body.querySelector('tr[data-event-id="' + msg.id + '"]')) return;
    const empty = body.querySelector(".no-events");
    if (empty) empty.remove();
    const tr = document.createElement("tr");
    tr.dataset.eventId = String(msg.id);
    tr.className = "ev-" + msg.kind + " ev-new";
    tr.append(cell(when(msg.occurred_at)), cell(badge(msg)));
    if (doorId === null) {
      const where = cell(msg.door ? link(msg.door) : "—");
      const zone = document.createElement("span");
      zone.className = "muted";
      zone.textContent = " " + msg.zone;
      where.append(zone);
      tr.append(where);
    }
    if (personId === null) tr.append(cell(msg.person ? link(msg.person) : "—"));
    const reason = cell(msg.reason ? msg.reason_label : "");
    reason.className = "hide-phone";
    tr.append(reason);
    // Newest on top, by event time (a late event goes below newer ones).
    let before = body.firstElementChild;
    while (before && before.querySelector("time") &&
           new Date(before.querySelector("time").dateTime) > new Date(msg.occurred_at)) {
      before = before.nextElementSibling;
    }
    body.insertBefore(tr, before);
    while (body.rows.length > ROWS_MAX) body.deleteRow(body.rows.length - 1);
  }

  function updateBoard(msg) {
    if (!board || !msg.door) return;
    const row = document.querySelector('.door-board tr[data-door-id="' + msg.door.id + '"]');
    const last = row && row.querySelector(".last-event");
    if (!last) return;
    const shown = last.querySelector("time");
    // The backlog repeats what the page was rendered with: only a newer event changes it.
    if (shown && new Date(shown.dateTime) >= new Date(msg.occurred_at)) return;
    const t = when(msg.occurred_at);
    t.textContent = ago(msg.occurred_at);
    last.replaceChildren(badge(msg), " ", t);
    row.classList.remove("ev-new");
    void row.offsetWidth; // restart the highlight
    row.classList.add("ev-new");
  }

  function handle(msg) {
    addRow(msg);
    updateBoard(msg);
  }

  function connect() {
    const scheme = location.protocol === "https:" ? "wss://" : "ws://";
    const socket = new WebSocket(scheme + location.host + "/ws/access/");
    setStatus("connecting", attempt ? "reconnecting…" : "connecting…");
    socket.onmessage = function (event) {
      let msg;
      try { msg = JSON.parse(event.data); } catch (e) { return; }
      if (msg.type === "backlog") {
        attempt = 0;
        setStatus("live", "live");
        (msg.events || []).forEach(handle);
      } else if (msg.type === "access_event") {
        handle(msg);
      }
    };
    socket.onclose = function (event) {
      if (event.code === 4401 || event.code === 4403) {
        setStatus("down", "signed out: reload the page");
        return;
      }
      attempt += 1;
      const delay = Math.min(30000, 1000 * Math.pow(2, attempt - 1)) * (0.5 + Math.random() / 2);
      setStatus("down", "offline — retrying");
      setTimeout(connect, delay);
    };
  }

  connect();
})();
