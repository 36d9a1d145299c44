// A roster run's page while it is queued or running: poll its progress every second and
// show the solver's figures; reload once the run is done or failed, to show the roster.
(function () {
  "use strict";

  const box = document.getElementById("progress");
  if (!box) return;
  const url = box.dataset.url;
  const fields = {
    phase: document.getElementById("progress-phase"),
    solutions: document.getElementById("progress-solutions"),
    objective: document.getElementById("progress-objective"),
    bound: document.getElementById("progress-bound"),
    elapsed: document.getElementById("progress-elapsed"),
  };
  const status = document.getElementById("run-status");
  const number = new Intl.NumberFormat(undefined, { maximumFractionDigits: 0 });
  let failures = 0;

  function show(data) {
    const p = data.progress;
    if (status) status.textContent = data.status.charAt(0).toUpperCase() + data.status.slice(1);
    if (data.status === "queued") {
      fields.phase.textContent = "Waiting for a worker to take the run…";
    } else if (!p) {
      fields.phase.textContent = "Running: building the problem…";
    } else {
      fields.phase.textContent = p.phase === "building"
        ? "Running: building the model…"
        : (p.solutions ? "Searching for a better roster…" : "Searching for a first roster…");
      fields.solutions.textContent = String(p.solutions);
      fields.objective.textContent = p.objective === null ? "—" : number.format(p.objective);
      fields.bound.textContent = p.bound === null ? "—" : number.format(p.bound);
      fields.elapsed.textContent = p.elapsed_s.toFixed(1) + " s";
    }
  }

  function poll() {
    fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (response) {
        if (!response.ok) throw new Error("HTTP " + response.status);
        return response.json();
      })
      .then(function (data) {
        failures = 0;
        if (data.status === "done" || data.status === "failed") {
          window.location.reload();
          return;
        }
        show(data);
        window.setTimeout(poll, 1000);
      })
      .catch(function () {
        // A dropped request or a restarting server: say so, keep trying, more slowly.
        failures += 1;
        fields.phase.textContent = "Progress unavailable; retrying…";
        window.setTimeout(poll, Math.min(1000 * (failures + 1), 10000));
      });
  }

  window.setTimeout(poll, 1000);
})();
