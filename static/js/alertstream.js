// The operators' alert stream over /ws/alerts/, shared by the wall, the queue and the
// incident page. After any drop it reconnects with backoff, counting down in the status
// element with a "Retry now" button, then sends {"type":"resume","after":lastId} so the
// server replays what was missed, in order; ids already seen are dropped here. When the
// operator's zones change the server says {"type":"zones_changed"}: the page's counts and
// lists depend on the zones, so onZonesChanged() is called, or else the page reloads.
//
//   AlertStream.open({ lastId, status: element, onAlert(msg), onLive(), onZonesChanged() })
//   AlertStream.csrfToken()  (the session's CSRF token, for the pages' POSTs)
(function () {
  "use strict";

  function open(options) {
    const statusEl = options.status;
    let lastId = Number(options.lastId) || 0;
    let attempt = 0;
    let timer = null;
    let socket = null;

    const label = document.createElement("span");
    const retry = document.createElement("button");
    retry.type = "button";
    retry.className = "link-button";
    retry.textContent = "Retry now";
    retry.hidden = true;
    retry.addEventListener("click", function () { clearInterval(timer); connect(); });
    if (statusEl) {
      statusEl.textContent = "";
      statusEl.append(label, " ", retry);
    }

    function setStatus(state, text) {
      document.body.dataset.connection = state;
      if (!statusEl) return;
      statusEl.className = "conn conn-" + state;
      label.textContent = text;
      retry.hidden = state !== "down";
    }

    function countDown(delayMs) {
      let left = Math.ceil(delayMs / 1000);
      setStatus("down", "offline — retrying in " + left + " s");
      timer = setInterval(function () {
        left -= 1;
        if (left <= 0) { clearInterval(timer); connect(); return; }
        setStatus("down", "offline — retrying in " + left + " s");
      }, 1000);
    }

    function connect() {
      const scheme = location.protocol === "https:" ? "wss://" : "ws://";
      socket = new WebSocket(scheme + location.host + "/ws/alerts/");
      setStatus("connecting", attempt ? "reconnecting…" : "connecting…");
      socket.onmessage = function (event) {
        let msg;
        try { msg = JSON.parse(event.data); } catch (e) { return; }
        if (msg.type === "ready") {
          socket.send(JSON.stringify({ type: "resume", after: lastId }));
        } else if (msg.type === "resumed") {
          attempt = 0;
          setStatus("live", "live");
          if (options.onLive) options.onLive();
        } else if (msg.type === "alert") {
          if (msg.id <= lastId) return; // replayed and live copies of the same alert
          lastId = msg.id;
          options.onAlert(msg);
        } else if (msg.type === "zones_changed") {
          if (options.onZonesChanged) options.onZonesChanged();
          else location.reload();
        }
      };
      socket.onclose = function (event) {
        if (event.code === 4401 || event.code === 4403) {
          setStatus("down", "signed out");
          location.reload(); // the login page takes over
          return;
        }
        const delay = Math.min(30000, 500 * Math.pow(2, attempt)) * (0.5 + Math.random() / 2);
        attempt += 1;
        countDown(delay);
      };
    }

    connect();
    return { lastId: function () { return lastId; } };
  }

  function csrfToken() {
    const match = document.cookie.match(/(?:^|;\s*)csrftoken=([^;]+)/);
    return match ? decodeURIComponent(match[1]) : "";
  }

  window.AlertStream = { open: open, csrfToken: csrfToken };
})();
