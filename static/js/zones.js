// Zone editor: draw a rule's polygon on the camera's latest frame, stored 0..1.
// On the camera page it saves one rule's zone through the rules API; in the rule form
// (config.input) it writes the points into the form's hidden field, saved with the rule.
(function () {
  "use strict";
  // The page's settings are data- attributes of this script's own tag (no inline script).
  const data = document.currentScript.dataset;
  const config = {
    input: data.input,
    readOnly: data.readOnly === "true",
    rulesUrl: data.rulesUrl,
    csrf: data.csrf,
  };
  const img = document.getElementById("snapshot");
  const canvas = document.getElementById("zone-canvas");
  const message = document.getElementById("zone-message");
  const countEl = document.getElementById("zone-count");
  const HANDLE = 8;
  let ruleId = null;
  let points = [];
  let dragging = -1;

  function size() {
    canvas.width = img.clientWidth;
    canvas.height = img.clientHeight;
  }

  function draw() {
    const ctx = canvas.getContext("2d");
    ctx.clearRect(0, 0, canvas.width, canvas.height);
    countEl.textContent = points.length;
    if (config.input) document.getElementById(config.input).value = JSON.stringify(points);
    if (!points.length) return;
    ctx.lineWidth = 2;
    ctx.strokeStyle = "#50a0ff";
    ctx.fillStyle = "rgba(80, 160, 255, 0.2)";
    ctx.beginPath();
    points.forEach(function (p, i) {
      const x = p[0] * canvas.width, y = p[1] * canvas.height;
      if (i === 0) ctx.moveTo(x, y); else ctx.lineTo(x, y);
    });
    ctx.closePath();
    if (points.length >= 3) ctx.fill();
    ctx.stroke();
    ctx.fillStyle = "#ffffff";
    points.forEach(function (p) {
      ctx.fillRect(p[0] * canvas.width - HANDLE / 2, p[1] * canvas.height - HANDLE / 2, HANDLE, HANDLE);
    });
  }

  function at(event) {
    const rect = canvas.getBoundingClientRect();
    const clamp = function (v) { return Math.min(1, Math.max(0, v)); };
    return [clamp((event.clientX - rect.left) / rect.width), clamp((event.clientY - rect.top) / rect.height)];
  }

  function near(point) {
    for (let i = 0; i < points.length; i++) {
      const dx = (points[i][0] - point[0]) * canvas.width;
      const dy = (points[i][1] - point[1]) * canvas.height;
      if (dx * dx + dy * dy <= HANDLE * HANDLE) return i;
    }
    return -1;
  }

  canvas.addEventListener("pointerdown", function (event) {
    if (config.readOnly) return;
    const point = at(event);
    dragging = near(point);
    if (dragging < 0) {
      points.push(point);
      draw();
    }
  });
  canvas.addEventListener("pointermove", function (event) {
    if (dragging < 0) return;
    points[dragging] = at(event);
    draw();
  });
  window.addEventListener("pointerup", function () { dragging = -1; });
  window.addEventListener("resize", function () { if (!canvas.hidden) { size(); draw(); } });

  function formMode() {
    const input = document.getElementById(config.input);
    try {
      points = JSON.parse(input.value || "[]");
    } catch (error) {
      points = [];
    }
    function show() {
      canvas.hidden = false;
      size();
      draw();
    }
    if (img.complete && img.naturalWidth) show(); else img.addEventListener("load", show);
    const undo = document.getElementById("zone-undo");
    if (undo) undo.addEventListener("click", function () { points.pop(); draw(); });
    const clear = document.getElementById("zone-clear");
    if (clear) clear.addEventListener("click", function () { points = []; draw(); });
    input.form.addEventListener("submit", function (event) {
      if (points.length > 0 && points.length < 3) {
        event.preventDefault();
        message.textContent = "A zone needs at least 3 points (or none for the whole frame).";
        canvas.scrollIntoView({block: "center"});
      }
    });
  }

  function pageMode() {
    const tools = document.getElementById("zone-tools");
    const zones = JSON.parse(document.getElementById("rule-zones").textContent);

    function open(id, name) {
      ruleId = id;
      document.getElementById("zone-rule").textContent = name;
      points = (zones[id] || []).map(function (p) { return [p[0], p[1]]; });
      canvas.hidden = false;
      tools.hidden = false;
      message.textContent = "";
      size();
      draw();
    }

    function close() {
      ruleId = null;
      canvas.hidden = true;
      tools.hidden = true;
    }

    document.querySelectorAll(".zone-edit").forEach(function (button) {
      button.addEventListener("click", function () {
        const item = button.closest("[data-rule-id]");
        open(item.dataset.ruleId, item.querySelector("strong").textContent);
      });
    });
    document.getElementById("zone-undo").addEventListener("click", function () { points.pop(); draw(); });
    document.getElementById("zone-clear").addEventListener("click", function () { points = []; draw(); });
    document.getElementById("zone-cancel").addEventListener("click", close);
    document.getElementById("zone-save").addEventListener("click", function () {
      if (points.length > 0 && points.length < 3) {
        message.textContent = "A zone needs at least 3 points (or none for the whole frame).";
        return;
      }
      fetch(config.rulesUrl + ruleId + "/", {
        method: "PATCH",
        credentials: "same-origin",
        headers: {"Content-Type": "application/json", "X-CSRFToken": config.csrf},
        body: JSON.stringify({zone: points}),
      }).then(function (response) {
        return response.json().then(function (body) { return {ok: response.ok, body: body}; });
      }).then(function (result) {
        if (result.ok) {
          message.textContent = "Saved.";
          window.location.reload();
        } else {
          const problems = result.body.zone || result.body.detail || JSON.stringify(result.body);
          message.textContent = "Not saved: " + problems;
        }
      }).catch(function () {
        message.textContent = "Not saved: the server could not be reached.";
      });
    });
  }

  if (config.input) formMode(); else pageMode();
})();
