// Training runs. On the run page: follows /ws/training/<id>/ while the run is queued or
// running, updates status, progress, loss, ETA and the epoch table from each {"type":"run"}
// message (the whole run every time), and draws the loss curve from the points seen so far.
// After a drop it reconnects with backoff; the server's snapshot on connect re-renders the
// page. When the run ends it stops and reloads once, so the server-rendered scores appear.
// On the list page: the base-model choice only offers models of the chosen dataset's task.
(function () {
  "use strict";

  // --- list page: base models of the dataset's task --------------------------------------
  const datasetSelect = document.getElementById("run-dataset");
  const baseSelect = document.getElementById("run-base");
  if (datasetSelect && baseSelect) {
    const matchBase = function () {
      const chosen = datasetSelect.selectedOptions[0];
      const task = chosen ? chosen.dataset.task : "";
      Array.prototype.forEach.call(baseSelect.querySelectorAll("option[data-task]"), function (o) {
        o.disabled = Boolean(task) && o.dataset.task !== task;
        if (o.disabled && o.selected) baseSelect.value = "";
      });
    };
    datasetSelect.addEventListener("change", matchBase);
    matchBase();
  }

  // --- run page ---------------------------------------------------------------------------
  const article = document.getElementById("run");
  const snapshotEl = document.getElementById("run-snapshot");
  if (!article || !snapshotEl) return;
  const ACTIVE = ["queued", "running"];
  const STATUS_TEXT = { queued: "Queued", running: "Running", succeeded: "Succeeded", failed: "Failed", cancelled: "Cancelled" };
  const SVG = "http://www.w3.org/2000/svg";
  const runId = article.dataset.runId;
  const $ = function (id) { return document.getElementById(id); };
  const baseTitle = document.title;
  let train = []; // [epoch position, loss]: the running mean of each report
  let validation = []; // [epoch, validation loss]
  let epochs = 1;
  let attempt = 0;
  let finished = false;

  function num(value) { return typeof value === "number" && isFinite(value) ? value : null; }
  function fixed(value, digits) { return num(value) === null ? "—" : value.toFixed(digits); }
  function percent(value) { return num(value) === null ? "—" : (value * 100).toFixed(1) + " %"; }

  function etaText(seconds) { // as ml_metrics.eta_text
    if (num(seconds) === null || seconds < 0) return "estimating…";
    if (seconds < 60) return "less than a minute left";
    let minutes = Math.round(seconds / 60);
    if (minutes < 60) return "about " + minutes + " min left";
    const hours = Math.floor(minutes / 60);
    minutes -= hours * 60;
    return "about " + hours + " h" + (minutes ? " " + minutes + " min" : "") + " left";
  }

  function elapsedText(seconds) { // as ml_metrics.elapsed_text
    if (num(seconds) === null || seconds < 0) return "—";
    const total = Math.floor(seconds);
    if (total < 1) return "under 1 s";
    if (total < 60) return total + " s";
    const minutes = Math.floor(total / 60);
    const pad = function (n) { return (n < 10 ? "0" : "") + n; };
    if (minutes < 60) return minutes + " min " + pad(total % 60) + " s";
    return Math.floor(minutes / 60) + " h " + pad(minutes % 60) + " min";
  }

  function phaseText(run) { // as run_views._phase_text
    const p = run.progress || {};
    if (run.status === "queued") return "waiting for a training worker";
    if (run.status !== "running") return (STATUS_TEXT[run.status] || run.status).toLowerCase();
    if (run.cancel_requested) return "stopping: cancel requested";
    if (p.phase === "extracting") return "computing the frozen backbone's features";
    if (p.phase === "epoch_end") return "epoch " + p.epoch + " validated";
    if (p.phase === "training") return "training";
    return "starting";
  }

  function setConn(state, text) {
    const conn = $("conn");
    if (!conn) return;
    conn.className = "conn conn-" + state;
    conn.textContent = text;
    document.body.dataset.connection = state;
  }

  // --- the points of the loss curve ---

  function upsert(list, x, y) {
    // A report resent (a snapshot after a reconnect) replaces the point at its place.
    while (list.length && list[list.length - 1][0] >= x) list.pop();
    list.push([x, y]);
  }

  function fromHistory(history) {
    train = [];
    validation = [];
    history.forEach(function (h) {
      if (num(h.train_loss) !== null) train.push([h.epoch, h.train_loss]);
      if (num(h.validation_loss) !== null) validation.push([h.epoch, h.validation_loss]);
    });
  }

  function addReport(p) {
    if (!p || !p.steps) return;
    if (num(p.epochs)) epochs = p.epochs;
    if (p.phase !== "extracting" && num(p.loss) !== null) upsert(train, p.epochs * p.step / p.steps, p.loss);
    if (p.phase === "epoch_end") {
      const v = p.validation || {};
      if (num(v.loss) !== null) upsert(validation, p.epoch, v.loss);
      epochRow({
        epoch: p.epoch, train_loss: p.loss, validation_loss: v.loss,
        validation_accuracy: v.accuracy, validation_macro_f1: v.macro_f1,
      });
    }
  }

  // --- drawing ---

  function niceCeiling(value) { // as ml_metrics._nice_ceiling
    if (value <= 0) return 1;
    const magnitude = Math.pow(10, Math.floor(Math.log10(value)));
    const steps = [1, 2, 4, 6, 8, 10];
    for (let i = 0; i < steps.length; i++) if (value <= steps[i] * magnitude) return steps[i] * magnitude;
    return 10 * magnitude;
  }

  function svg(tag, attrs, text) {
    const node = document.createElementNS(SVG, tag);
    Object.keys(attrs).forEach(function (k) { node.setAttribute(k, attrs[k]); });
    if (text !== undefined) node.textContent = text;
    return node;
  }

  function drawChart() {
    const chart = $("loss-chart");
    if (!chart) return;
    const box = chart.viewBox.baseVal;
    const W = box.width, H = box.height, L = 48, R = W - 16, T = 14, B = H - 32;
    const all = train.concat(validation);
    const xMax = Math.max(epochs, 1, ...all.map(function (p) { return p[0]; }));
    const yMax = niceCeiling((all.length ? Math.max(...all.map(function (p) { return p[1]; })) : 1) * 1.05);
    const at = function (x, y) {
      return [+(L + (R - L) * x / xMax).toFixed(1), +(T + (B - T) * (1 - y / yMax)).toFixed(1)];
    };
    const axes = svg("g", { class: "axes" });
    for (let i = 0; i <= 4; i++) {
      const y = at(0, yMax * i / 4)[1];
      axes.appendChild(svg("line", { x1: L, y1: y, x2: R, y2: y }));
      axes.appendChild(svg("text", { x: L - 6, y: y, dy: 4, "text-anchor": "end" }, String(+(yMax * i / 4).toPrecision(3))));
    }
    const every = Math.max(1, Math.ceil(xMax / 10));
    for (let e = 0; e <= Math.ceil(xMax); e += every) {
      axes.appendChild(svg("text", { x: at(e, 0)[0], y: B, dy: 18, "text-anchor": "middle" }, String(e)));
    }
    axes.appendChild(svg("text", { x: R, y: H, dy: -2, "text-anchor": "end", class: "axis-name" }, "epoch"));
    const series = svg("g", { class: "series" });
    [["train", train], ["val", validation]].forEach(function (s) {
      if (!s[1].length) return;
      const drawn = s[1].map(function (p) { return at(p[0], p[1]); });
      series.appendChild(svg("polyline", { class: "line " + s[0], points: drawn.map(function (d) { return d.join(","); }).join(" ") }));
      s[1].forEach(function (p, i) {
        // Dots at whole epochs only: the live reports in between make the line.
        if (Number.isInteger(p[0])) series.appendChild(svg("circle", { class: "dot " + s[0], cx: drawn[i][0], cy: drawn[i][1], r: 3 }));
      });
    });
    Array.prototype.slice.call(chart.querySelectorAll("g, .empty-note")).forEach(function (n) { n.remove(); });
    chart.appendChild(axes);
    chart.appendChild(series);
    if (!all.length) chart.appendChild(svg("text", { class: "empty-note", x: (L + R) / 2, y: (T + B) / 2, "text-anchor": "middle" }, "No loss reported yet"));
    const desc = $("loss-desc");
    if (desc && train.length) {
      desc.textContent = "Loss per epoch over " + xMax + " epochs; latest training loss " + train[train.length - 1][1].toFixed(3) +
        (validation.length ? ", latest validation loss " + validation[validation.length - 1][1].toFixed(3) : "");
    }
  }

  function epochRow(e) {
    const body = $("epochs") && $("epochs").tBodies[0];
    if (!body || e.epoch == null) return;
    const placeholder = body.querySelector("tr.placeholder");
    if (placeholder) placeholder.remove();
    let row = body.querySelector('tr[data-epoch="' + e.epoch + '"]');
    if (!row) {
      row = document.createElement("tr");
      row.dataset.epoch = e.epoch;
      body.appendChild(row);
    }
    row.textContent = "";
    [String(e.epoch), fixed(e.train_loss, 4), fixed(e.validation_loss, 4), percent(e.validation_accuracy),
      percent(e.validation_macro_f1), elapsedText(e.seconds)].forEach(function (text) {
      const td = document.createElement("td");
      td.className = "num";
      td.textContent = text;
      row.appendChild(td);
    });
  }

  function render(run, live) {
    const p = run.progress || {};
    const active = ACTIVE.indexOf(run.status) >= 0;
    article.dataset.status = run.status;
    const status = $("status");
    status.textContent = STATUS_TEXT[run.status] || run.status;
    status.className = "badge run-" + run.status;
    $("phase").textContent = phaseText(run);
    const bar = $("progress-bar");
    if (p.steps) {
      bar.max = p.steps;
      bar.value = run.status === "succeeded" ? p.steps : p.step || 0;
      $("progress-text").textContent = p.phase === "extracting"
        ? "features: batch " + p.step + " of " + p.steps
        : "epoch " + p.epoch + " of " + p.epochs + " · step " + p.step + " of " + p.steps;
      if (active) document.title = "[" + Math.round(100 * (p.step || 0) / p.steps) + " %] " + baseTitle;
    }
    $("loss").textContent = fixed(p.loss, 4);
    $("eta").textContent = active ? etaText(p.eta_s) : "—";
    $("elapsed").textContent = elapsedText(p.elapsed_s);
    const cancel = $("cancel");
    if (cancel) cancel.hidden = !active || run.cancel_requested;
    const note = $("cancel-note");
    if (note) note.hidden = !(active && run.cancel_requested);
    const metrics = run.metrics || {};
    if (metrics.history && metrics.history.length) {
      fromHistory(metrics.history);
      if (live) metrics.history.forEach(epochRow); // else the server drew them, best epoch marked
    } else {
      addReport(p);
    }
    drawChart();
  }

  function finish() {
    finished = true;
    setConn("live", "finished");
    document.title = baseTitle;
    // Once: the page loaded while active; after the reload it is ended and does not connect.
    setTimeout(function () { location.reload(); }, 800);
  }

  function connect() {
    const scheme = location.protocol === "https:" ? "wss://" : "ws://";
    const ws = new WebSocket(scheme + location.host + "/ws/training/" + runId + "/");
    setConn("connecting", attempt ? "reconnecting…" : "connecting…");
    let opened = false;
    ws.onopen = function () { opened = true; attempt = 0; setConn("live", "live"); };
    ws.onmessage = function (event) {
      let msg;
      try { msg = JSON.parse(event.data); } catch (e) { return; }
      if (msg.type !== "run" || !msg.run || finished) return;
      render(msg.run, true);
      if (ACTIVE.indexOf(msg.run.status) < 0) {
        ws.close(1000);
        finish();
      }
    };
    ws.onclose = function (event) {
      if (finished) return;
      if (event.code === 4401 || event.code === 4403) {
        setConn("down", "signed out");
        location.reload(); // the login page, or the refusal, takes over
        return;
      }
      if (event.code === 4404) {
        setConn("down", "run not found");
        return;
      }
      if (!opened && attempt >= 2) {
        // A refused handshake reads as a plain drop (1006): ask the page itself whether we
        // are still signed in as an admin; if not, reloading shows the login or the refusal.
        fetch(location.href, { method: "HEAD", credentials: "same-origin", redirect: "follow" })
          .then(function (r) { if (r.redirected || r.status === 403 || r.status === 404) location.reload(); })
          .catch(function () { /* the network is down: keep retrying */ });
      }
      const delay = Math.min(30000, 500 * Math.pow(2, attempt)) * (0.5 + Math.random() / 2);
      attempt += 1;
      setConn("down", "offline — retrying in " + Math.ceil(delay / 1000) + " s");
      setTimeout(connect, delay);
    };
  }

  const snapshot = JSON.parse(snapshotEl.textContent);
  epochs = (snapshot.progress && snapshot.progress.epochs) || (snapshot.hyperparameters || {}).epochs || 1;
  render(snapshot, false);
  if (ACTIVE.indexOf(snapshot.status) >= 0) connect();
})();
