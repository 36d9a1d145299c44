// Alert wall: renders open incidents and keeps them live from the alert stream
// (alertstream.js: reconnects, replays what was missed, drops repeats).
(function () {
  "use strict";
  const wall = document.getElementById("wall");
  if (!wall) return;
  const connEl = document.getElementById("conn");
  const countEl = document.getElementById("open-count");
  const emptyEl = document.getElementById("empty");
  const soundBtn = document.getElementById("sound");
  const wallSize = Number(wall.dataset.wallSize) || 100;
  let lastId = Number(wall.dataset.lastAlertId) || 0;
  let unseen = 0;
  let soundOn = false;
  let audio = null;
  const baseTitle = document.title;

  function el(tag, cls, text) {
    const node = document.createElement(tag);
    if (cls) node.className = cls;
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  }

  function timeText(iso) {
    const d = new Date(iso);
    return d.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit", second: "2-digit" });
  }

  function card(incident) {
    const li = el("li", "card sev-" + incident.severity);
    li.dataset.incidentId = incident.id;
    const link = el("a", "card-link");
    link.href = incident.url;
    if (incident.thumbnail_url) {
      const img = el("img", "thumb");
      img.src = incident.thumbnail_url;
      img.alt = "";
      img.loading = "lazy";
      link.appendChild(img);
    } else {
      link.appendChild(el("div", "thumb thumb-none", "no frame"));
    }
    const body = el("div", "card-body");
    const title = el("div", "card-title", incident.title);
    if (incident.count > 1) title.appendChild(el("span", "badge count", "×" + incident.count));
    body.appendChild(title);
    const camera = incident.camera;
    const where = camera ? camera.name + (camera.zone ? " · " + camera.zone : "") : incident.kind;
    body.appendChild(el("div", "card-meta", where));
    const meta = el("div", "card-meta");
    meta.appendChild(el("span", "badge sev-" + incident.severity, incident.severity));
    meta.appendChild(el("span", null, " " + incident.label + (incident.score != null ? " " + Number(incident.score).toFixed(2) : "")));
    meta.appendChild(el("time", "when", timeText(incident.last_seen_at)));
    meta.lastChild.dateTime = incident.last_seen_at;
    body.appendChild(meta);
    link.appendChild(body);
    li.appendChild(link);
    return li;
  }

  const CLOSED = ["resolved", "merged"];

  function upsert(incident, fresh) {
    const existing = wall.querySelector('[data-incident-id="' + incident.id + '"]');
    if (existing) existing.remove();
    if (CLOSED.indexOf(incident.status) >= 0) {
      // The wall shows open incidents only; a closed one (a camera back online) leaves it.
      countEl.textContent = wall.children.length;
      emptyEl.hidden = wall.children.length > 0;
      return false;
    }
    const node = card(incident);
    wall.prepend(node);
    if (fresh) {
      node.classList.add("is-new");
      setTimeout(function () { node.classList.remove("is-new"); }, 4000);
    }
    while (wall.children.length > wallSize) wall.lastElementChild.remove();
    countEl.textContent = wall.children.length;
    emptyEl.hidden = wall.children.length > 0;
    return true;
  }

  function cue() {
    unseen += 1;
    document.title = "(" + unseen + ") " + baseTitle;
    if (!soundOn) return;
    try {
      audio = audio || new AudioContext();
      const osc = audio.createOscillator();
      const gain = audio.createGain();
      osc.frequency.value = 880;
      gain.gain.setValueAtTime(0.15, audio.currentTime);
      gain.gain.exponentialRampToValueAtTime(0.001, audio.currentTime + 0.4);
      osc.connect(gain).connect(audio.destination);
      osc.start();
      osc.stop(audio.currentTime + 0.4);
    } catch (e) { /* no audio device: the visual cue remains */ }
  }

  function onAlert(msg) {
    lastId = msg.id;
    wall.dataset.lastAlertId = lastId;
    if (upsert(msg.incident, true)) cue();
  }

  soundBtn.addEventListener("click", function () {
    soundOn = !soundOn;
    soundBtn.setAttribute("aria-pressed", String(soundOn));
    soundBtn.textContent = soundOn ? "Sound: on" : "Sound: off";
    if (soundOn && !audio) audio = new AudioContext();
  });
  document.addEventListener("visibilitychange", function () {
    if (!document.hidden) { unseen = 0; document.title = baseTitle; }
  });

  const initial = JSON.parse(document.getElementById("initial-incidents").textContent);
  for (let i = initial.length - 1; i >= 0; i--) upsert(initial[i], false);
  AlertStream.open({ lastId: lastId, status: connEl, onAlert: onAlert });
})();
