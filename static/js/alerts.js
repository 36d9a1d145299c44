// Alert wall: every open critical and high incident as a card, medium and low ones as compact
// rows (the newest few; the rest behind "N more low — show", read from the incident list API),
// kept live from the alert stream (alertstream.js). An alert changes one card and the
// counters in place; only a new or escalated incident is highlighted and sounded, never a
// count going up. The counters come from every open incident the viewer may see, so they
// stay exact whatever is drawn.
(function () {
  "use strict";
  const wall = document.getElementById("wall");
  if (!wall) return;
  const SEVERITIES = ["critical", "high", "medium", "low"];
  const ALWAYS = ["critical", "high"];
  const STATUS_NAMES = { new: "New", acknowledged: "Acknowledged", investigating: "Investigating" };
  const OPEN = Object.keys(STATUS_NAMES);
  const FIELDS = ["id", "kind", "title", "status", "severity", "zone", "camera", "label", "score",
    "count", "assignee", "opened_at", "last_seen_at", "thumbnail_url", "url"];
  const lowerShown = Number(wall.dataset.lowerShown) || 25;
  const me = wall.dataset.username;
  const messageEl = document.getElementById("wall-message");
  const emptyEl = document.getElementById("empty");
  const baseTitle = document.title;

  // Every open incident the viewer may see, id -> {severity, status}: the counters' source.
  const open = new Map();
  // The incidents drawn, id -> {node, data}.
  const drawn = new Map();
  // How many rows a band draws ("show" raises it), the API's next page once shown, and
  // whether the operator has shown more of it: an expanded band grows with a live insert
  // rather than dropping its oldest row, which no later page would bring back.
  const limit = {};
  const nextPage = {};
  const expanded = {};
  // While "show more" reads a page, the latest state the stream brought of each incident:
  // newer than (or as new as) the page's.
  let reading = 0;
  const streamed = new Map();
  SEVERITIES.forEach(function (s) { limit[s] = ALWAYS.includes(s) ? Infinity : lowerShown; });
  let current = null; // the card with the keyboard focus

  function el(tag, cls, text) {
    const node = document.createElement(tag);
    if (cls) node.className = cls;
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  }
  function titleCase(word) { return word.charAt(0).toUpperCase() + word.slice(1); }
  function timeText(iso) {
    return new Date(iso).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit", second: "2-digit", hour12: false });
  }
  function list(severity) { return document.getElementById("list-" + severity); }
  function idOf(node) { return Number(node.dataset.incidentId); }
  function say(text, isError) {
    messageEl.textContent = text;
    messageEl.className = "wall-message" + (isError ? " error" : "");
  }

  // --- one card -------------------------------------------------------------------------

  function build(incident) {
    const big = ALWAYS.includes(incident.severity);
    const li = el("li", "card " + (big ? "card-big" : "card-row"));
    li.tabIndex = -1;
    li.dataset.incidentId = incident.id;
    const parts = {
      tag: el("span", "sev-tag"),
      title: el("span", "title"),
      count: el("span", "count"),
      where: el("span", "where"),
      when: el("time", "when"),
      status: el("span", "status"),
      assignee: el("span", "assignee"),
    };
    const actions = el("div", "actions");
    const ack = el("button", "act act-ack", "Acknowledge");
    ack.type = "button";
    ack.dataset.act = "acknowledge";
    const take = el("button", "act act-take", "Take");
    take.type = "button";
    take.dataset.act = "assign";
    take.title = "Assign to me";
    const openLink = el("a", "act act-open", "Open");
    actions.append(ack, take, openLink);
    if (big) {
      const thumb = el("div", "thumb thumb-none", "no frame");
      const main = el("div", "card-main");
      const line1 = el("div", "line");
      line1.append(parts.tag, parts.title, parts.count);
      const line2 = el("div", "line meta");
      line2.append(parts.where, parts.when);
      const line3 = el("div", "line meta");
      line3.append(parts.status, parts.assignee);
      main.append(line1, line2, line3, actions);
      li.append(thumb, main);
    } else {
      li.append(parts.tag, parts.when, parts.title, parts.count, parts.where, parts.status, parts.assignee, actions);
    }
    fill(li, incident);
    return li;
  }

  function fill(li, incident) {
    SEVERITIES.forEach(function (s) { li.classList.toggle("sev-" + s, s === incident.severity); });
    OPEN.forEach(function (s) { li.classList.toggle("status-" + s, s === incident.status); });
    li.dataset.status = incident.status;
    li.dataset.count = incident.count;
    const q = function (cls) { return li.querySelector("." + cls); };
    q("sev-tag").textContent = titleCase(incident.severity);
    q("title").textContent = incident.title;
    q("count").textContent = incident.count > 1 ? "×" + incident.count : "";
    const camera = incident.camera;
    const zone = incident.zone || (camera && camera.zone) || "";
    q("where").textContent = camera ? camera.name + (zone ? " · " + zone : "") : (zone || incident.kind.replace(/_/g, " "));
    const when = q("when");
    when.textContent = timeText(incident.last_seen_at);
    when.dateTime = incident.last_seen_at;
    when.title = "opened " + timeText(incident.opened_at) + ", last seen " + timeText(incident.last_seen_at);
    q("status").textContent = STATUS_NAMES[incident.status] || incident.status;
    q("assignee").textContent = incident.assignee ? "→ " + incident.assignee : "unassigned";
    q("assignee").classList.toggle("is-mine", incident.assignee === me);
    q("act-ack").disabled = incident.status !== "new";
    q("act-take").disabled = incident.assignee === me;
    q("act-open").href = incident.url || "/incidents/" + incident.id + "/";
    li.setAttribute("aria-label", titleCase(incident.severity) + ": " + incident.title + ", " + q("status").textContent);
    const thumb = q("thumb");
    if (thumb && incident.thumbnail_url && thumb.getAttribute("src") !== incident.thumbnail_url) {
      const img = el("img", "thumb");
      img.alt = "";
      img.loading = "lazy";
      img.src = incident.thumbnail_url;
      thumb.replaceWith(img);
    }
  }

  // --- the wall's state ---------------------------------------------------------------------

  function pick(incident) {
    const data = {};
    FIELDS.forEach(function (f) { if (incident[f] !== undefined) data[f] = incident[f]; });
    return data;
  }

  function place(node, severity) {
    const ol = list(severity);
    const id = idOf(node);
    let before = null;
    // Newest first; a new incident is nearly always the newest, so look at the ends first.
    if (ol.lastElementChild && idOf(ol.lastElementChild) < id) {
      before = Array.prototype.find.call(ol.children, function (c) { return idOf(c) < id; });
    }
    ol.insertBefore(node, before);
  }

  function undraw(id) {
    const had = drawn.get(id);
    if (!had) return;
    drawn.delete(id);
    if (had.node === current) {
      const next = had.node.nextElementSibling || had.node.previousElementSibling;
      current = null;
      if (next && document.activeElement === had.node) focusCard(next);
    }
    had.node.remove();
  }

  function trim(severity) {
    const ol = list(severity);
    while (ol.children.length > limit[severity]) undraw(idOf(ol.lastElementChild));
  }

  // Apply an incident's latest state (from an alert or a page of the list): the counters'
  // source, then its one card, in place. Returns the card, if drawn.
  function apply(incident, options) {
    const id = incident.id;
    if (!SEVERITIES.includes(incident.severity)) return null;
    if (!OPEN.includes(incident.status)) {
      open.delete(id);
      undraw(id);
      if (!options || !options.quiet) counters();
      return null;
    }
    open.set(id, { severity: incident.severity, status: incident.status });
    const had = drawn.get(id);
    const data = had ? Object.assign({}, had.data, pick(incident)) : pick(incident);
    let node = null;
    if (had && had.data.severity === data.severity) {
      fill(had.node, data);
      had.data = data;
      node = had.node;
    } else {
      const wasCurrent = had && had.node === current;
      undraw(id);
      const severity = data.severity;
      const ol = list(severity);
      const last = ol.lastElementChild;
      const room = ol.children.length < limit[severity];
      const newer = last && idOf(last) < id;
      // An expanded band draws every incident the stream brings it, in its place: a page
      // read later skips those drawn already.
      if (room || newer || expanded[severity]) {
        node = build(data);
        place(node, severity);
        drawn.set(id, { node: node, data: data });
        if (expanded[severity]) limit[severity] = Math.max(limit[severity], ol.children.length);
        else trim(severity);
        if (!drawn.has(id)) node = null;
        if (node && wasCurrent) focusCard(node);
      }
    }
    if (!options || !options.quiet) counters();
    return node;
  }

  function counters() {
    const counts = { critical: 0, high: 0, medium: 0, low: 0 };
    let unacknowledged = 0;
    open.forEach(function (v) {
      counts[v.severity] += 1;
      if (v.status === "new") unacknowledged += 1;
    });
    SEVERITIES.forEach(function (s) {
      const n = counts[s];
      const counter = document.getElementById("count-" + s);
      counter.textContent = n;
      counter.parentElement.classList.toggle("is-zero", n === 0);
      const band = wall.querySelector('.band[data-severity="' + s + '"]');
      band.hidden = n === 0 && list(s).children.length === 0;
      const head = band.querySelector("[data-band-count]");
      if (head) head.textContent = n;
      const more = band.querySelector("button.more");
      if (more) {
        const hidden = n - list(s).children.length;
        more.hidden = hidden <= 0;
        more.textContent = hidden + " more " + s + " — show";
      }
    });
    const unack = document.getElementById("count-new");
    unack.textContent = unacknowledged;
    unack.parentElement.classList.toggle("is-zero", unacknowledged === 0);
    // The tab counts incidents nobody has acknowledged, not pushes.
    document.title = unacknowledged ? "(" + unacknowledged + ") " + baseTitle : baseTitle;
    emptyEl.hidden = open.size > 0;
  }

  // --- showing more of a lower band -------------------------------------------------------

  async function showMore(severity, button) {
    let url = nextPage[severity];
    if (!url) {
      // The first page holds the rows drawn already: ask for as many more, so "show"
      // always reveals up to 100 new ones (the API gives at most 200 a page).
      const size = Math.min(200, list(severity).children.length + 100);
      url = "/api/v1/incidents/?" + OPEN.map(function (s) { return "status=" + s; }).join("&") +
        "&severity=" + severity + "&page_size=" + size;
    }
    button.disabled = true;
    reading += 1;
    try {
      const response = await fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } });
      if (!response.ok) {
        say("Could not read more " + severity + " incidents (" + response.status + ").", true);
        return;
      }
      const body = await response.json();
      nextPage[severity] = body.next;
      expanded[severity] = true;
      // The wall's `open` (the page's state plus every alert since) is newer than the page
      // read: draw only what it still has open in this band, as the stream last told it.
      const fresh = body.results.map(function (i) { return streamed.get(i.id) || i; }).filter(function (i) {
        const known = open.get(i.id);
        return !drawn.has(i.id) && known && known.severity === severity && i.severity === severity && OPEN.includes(i.status);
      });
      limit[severity] = list(severity).children.length + fresh.length;
      fresh.forEach(function (incident) { apply(incident, { quiet: true }); });
      counters();
    } catch (e) {
      say("Could not read more " + severity + " incidents: the network is down.", true);
    } finally {
      reading -= 1;
      if (!reading) streamed.clear();
      button.disabled = false;
    }
  }

  // --- actions: acknowledge, take, open -----------------------------------------------------

  function refusal(body) {
    if (body.detail) return body.detail;
    const first = Object.keys(body)[0];
    return first ? first + ": " + [].concat(body[first]).join(" ") : "";
  }

  async function act(card, action) {
    const id = idOf(card);
    const data = drawn.get(id) && drawn.get(id).data;
    if (!data) return;
    if (action === "acknowledge" && data.status !== "new") {
      say("#" + id + " is already " + (STATUS_NAMES[data.status] || data.status).toLowerCase() + ".", true);
      return;
    }
    if (action === "assign" && data.assignee === me) {
      say("#" + id + " is already yours.", false);
      return;
    }
    const headers = { "X-CSRFToken": AlertStream.csrfToken(), Accept: "application/json" };
    const init = { method: "POST", credentials: "same-origin", headers: headers };
    if (action === "assign") {
      headers["Content-Type"] = "application/json";
      init.body = JSON.stringify({ assignee: me });
    }
    let response, body;
    try {
      response = await fetch("/api/v1/incidents/" + id + "/" + action + "/", init);
      body = await response.json().catch(function () { return {}; });
    } catch (e) {
      say("#" + id + ": not sent, the network is down.", true);
      return;
    }
    if (!response.ok) {
      say("#" + id + ": " + (refusal(body) || "refused (" + response.status + ")"), true);
      return;
    }
    // Only the outcome is taken from the answer: the card's state comes from the stream, which
    // may already carry a newer one (someone else resolving it meanwhile).
    say("#" + id + (action === "assign" ? " is yours." : " acknowledged."), false);
  }

  // --- keyboard -------------------------------------------------------------------------------

  function cards() { return Array.from(wall.querySelectorAll("li.card")); }

  function focusCard(node) {
    if (current && current !== node) {
      current.classList.remove("is-current");
      current.tabIndex = -1;
    }
    current = node;
    if (!node) return;
    node.classList.add("is-current");
    node.tabIndex = 0;
    if (document.activeElement !== node && !node.contains(document.activeElement)) node.focus({ preventScroll: true });
    node.scrollIntoView({ block: "nearest" });
  }

  function move(step) {
    const all = cards();
    if (!all.length) return;
    let i = all.indexOf(current);
    i = i < 0 ? (step > 0 ? 0 : all.length - 1) : Math.max(0, Math.min(all.length - 1, i + step));
    focusCard(all[i]);
  }

  document.addEventListener("keydown", function (event) {
    const target = event.target;
    const typing = target instanceof HTMLInputElement || target instanceof HTMLTextAreaElement ||
      target instanceof HTMLSelectElement || target.isContentEditable;
    if (typing || event.ctrlKey || event.metaKey || event.altKey) return;
    const card = (target.closest && target.closest("#wall li.card")) || current;
    switch (event.key) {
      case "j": move(1); break;
      case "k": move(-1); break;
      case "a": if (card) act(card, "acknowledge"); break;
      case "t": if (card) act(card, "assign"); break;
      case "Enter":
        // A focused button or link does its own thing.
        if (target.closest && target.closest("button, a, summary")) return;
        if (!card) return;
        location.href = card.querySelector("a.act-open").href;
        break;
      default: return;
    }
    event.preventDefault();
  });

  wall.addEventListener("click", function (event) {
    const card = event.target.closest("li.card");
    if (card) {
      const button = event.target.closest("button[data-act]");
      focusCard(card);
      if (button) act(card, button.dataset.act);
      return;
    }
    const more = event.target.closest("button.more");
    if (more) showMore(more.dataset.more, more);
  });
  wall.addEventListener("focusin", function (event) {
    const card = event.target.closest("li.card");
    if (card && card !== current) focusCard(card);
  });

  // --- sound: per user, remembered, a tone per severity -----------------------------------

  const soundKey = "smartcampus.wall.sound." + (wall.dataset.userId || "anonymous");
  const DEFAULT_TONES = { critical: true, high: true, medium: true, low: false };
  // [frequency Hz, start s, length s]: critical a repeated high two-tone, high two beeps,
  // medium one, low one soft low beep (off unless chosen).
  const TONES = {
    critical: [[1318, 0, 0.15], [988, 0.17, 0.15], [1318, 0.34, 0.15], [988, 0.51, 0.15], [1318, 0.68, 0.15], [988, 0.85, 0.15]],
    high: [[880, 0, 0.14], [880, 0.24, 0.14]],
    medium: [[660, 0, 0.22]],
    low: [[440, 0, 0.18]],
  };
  const sound = (function load() {
    try {
      const saved = JSON.parse(localStorage.getItem(soundKey) || "null");
      if (saved && saved.tones) {
        return { muted: Boolean(saved.muted), tones: Object.assign({}, DEFAULT_TONES, saved.tones) };
      }
    } catch (e) { /* unreadable: the defaults */ }
    return { muted: false, tones: Object.assign({}, DEFAULT_TONES) };
  })();
  let audio = null;

  function soundSave() {
    try { localStorage.setItem(soundKey, JSON.stringify(sound)); } catch (e) { /* private mode */ }
  }

  function audioReady() {
    try {
      audio = audio || new AudioContext();
      if (audio.state === "suspended") audio.resume();
    } catch (e) { audio = null; }
    return audio;
  }

  function play(severity) {
    const ctx = audioReady();
    if (!ctx) return;
    const t0 = ctx.currentTime + 0.02;
    TONES[severity].forEach(function (tone) {
      const osc = ctx.createOscillator();
      const gain = ctx.createGain();
      osc.frequency.value = tone[0];
      gain.gain.setValueAtTime(0.0001, t0 + tone[1]);
      gain.gain.exponentialRampToValueAtTime(severity === "low" ? 0.06 : 0.18, t0 + tone[1] + 0.01);
      gain.gain.exponentialRampToValueAtTime(0.0001, t0 + tone[1] + tone[2]);
      osc.connect(gain).connect(ctx.destination);
      osc.start(t0 + tone[1]);
      osc.stop(t0 + tone[1] + tone[2] + 0.02);
    });
  }

  const soundButton = document.getElementById("sound");
  function soundShow() {
    soundButton.setAttribute("aria-pressed", String(!sound.muted));
    soundButton.textContent = sound.muted ? "Muted" : "Sound on";
    soundButton.classList.toggle("is-muted", sound.muted);
    document.querySelectorAll("#sound-settings input[name=tone]").forEach(function (box) {
      box.checked = Boolean(sound.tones[box.value]);
    });
  }
  soundButton.addEventListener("click", function () {
    sound.muted = !sound.muted;
    soundSave();
    soundShow();
  });
  document.getElementById("sound-settings").addEventListener("change", function (event) {
    if (event.target.name !== "tone") return;
    sound.tones[event.target.value] = event.target.checked;
    soundSave();
  });
  document.getElementById("sound-settings").addEventListener("click", function (event) {
    const test = event.target.closest("[data-test-tone]");
    if (test) play(test.dataset.testTone);
  });
  // Browsers start audio only after a gesture on the page: the first click or key opens it.
  document.addEventListener("pointerdown", audioReady, { once: true });
  document.addEventListener("keydown", audioReady, { once: true });
  soundShow();

  // --- cues and the stream --------------------------------------------------------------------

  function cue(node, severity) {
    wall.dataset.cues = Number(wall.dataset.cues || 0) + 1;
    if (node) {
      node.dataset.cues = Number(node.dataset.cues || 0) + 1;
      node.classList.remove("is-new");
      void node.offsetWidth; // restart the animation for a second cue on the same card
      node.classList.add("is-new");
      setTimeout(function () { node.classList.remove("is-new"); }, 10000);
    }
    if (!sound.muted && sound.tones[severity]) play(severity);
  }

  function onAlert(msg) {
    wall.dataset.lastAlertId = msg.id;
    if (reading) streamed.set(msg.incident.id, msg.incident);
    const node = apply(msg.incident);
    // Only a new incident or an escalation asks for attention; a count going up does not.
    const fresh = msg.kind === "incident.opened" || msg.kind === "incident.escalated";
    if (fresh && OPEN.includes(msg.incident.status)) cue(node, msg.incident.severity);
  }

  const state = JSON.parse(document.getElementById("wall-state").textContent);
  const unacknowledged = new Set(state.new);
  Object.keys(state.ids).forEach(function (severity) {
    state.ids[severity].forEach(function (id) {
      open.set(id, { severity: severity, status: unacknowledged.has(id) ? "new" : "open" });
    });
  });
  JSON.parse(document.getElementById("initial-incidents").textContent).forEach(function (incident) {
    apply(incident, { quiet: true });
  });
  counters();
  AlertStream.open({ lastId: Number(wall.dataset.lastAlertId) || 0, status: document.getElementById("conn"), onAlert: onAlert });
})();
