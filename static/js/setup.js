// Setup pages: copy buttons, the camera's "waiting for the first frame", confirmations,
// the notification rule form's channel sections and the checklist's step rows.
(function () {
  "use strict";

  function selectText(element) {
    const range = document.createRange();
    range.selectNodeContents(element);
    const selection = window.getSelection();
    selection.removeAllRanges();
    selection.addRange(range);
  }

  // Copy with the clipboard API where the page may use it (https or localhost); otherwise
  // select the text, so Ctrl+C (or the phone's Copy) takes it.
  document.querySelectorAll("[data-copy]").forEach(function (button) {
    const source = document.getElementById(button.dataset.copy);
    const note = button.parentElement.querySelector(".copied");
    function said(text) { if (note) note.textContent = text; }
    button.addEventListener("click", function () {
      const text = source.textContent;
      function fallback() {
        selectText(source);
        let copied = false;
        try { copied = document.execCommand("copy"); } catch (error) { copied = false; }
        said(copied ? "Copied." : "Selected: press Ctrl+C (or Copy) to copy.");
      }
      if (navigator.clipboard && window.isSecureContext) {
        navigator.clipboard.writeText(text).then(function () { said("Copied."); }, fallback);
      } else {
        fallback();
      }
    });
  });

  // After adding a camera (or issuing a new key): poll the camera until a frame arrives.
  const waiting = document.getElementById("first-frame");
  if (waiting) {
    const text = document.getElementById("first-frame-text");
    const since = waiting.dataset.since || null;
    let delay = 2000;
    function poll() {
      fetch(waiting.dataset.statusUrl, {credentials: "same-origin", headers: {Accept: "application/json"}})
        .then(function (response) { return response.ok ? response.json() : null; })
        .then(function (camera) {
          const last = camera && camera.last_frame_at;
          if (last && (!since || new Date(last) > new Date(since))) {
            waiting.classList.add("received");
            text.textContent = "First frame received at " + new Date(last).toLocaleTimeString() + ".";
            return;
          }
          delay = Math.min(delay * 1.2, 10000);
          setTimeout(poll, delay);
        })
        .catch(function () { setTimeout(poll, 10000); });
    }
    setTimeout(poll, delay);
  }

  document.querySelectorAll("form[data-confirm]").forEach(function (form) {
    form.addEventListener("submit", function (event) {
      if (!window.confirm(form.dataset.confirm)) event.preventDefault();
    });
  });

  // Notification rule form: show the fields of the chosen channel only.
  const channels = document.querySelectorAll("input[name=channel]");
  if (channels.length) {
    function showChannel() {
      const picked = document.querySelector("input[name=channel]:checked");
      document.querySelectorAll("[data-channel]").forEach(function (section) {
        section.hidden = !!picked && section.dataset.channel !== picked.value;
      });
    }
    channels.forEach(function (radio) { radio.addEventListener("change", showChannel); });
    showChannel();
  }

  // Checklist steps: add, remove and move rows; names are renumbered so the order posted
  // is the order shown.
  const steps = document.getElementById("steps");
  if (steps) {
    const template = document.getElementById("step-template");
    function renumber() {
      steps.querySelectorAll(".step-row").forEach(function (row, index) {
        row.querySelectorAll("[data-name]").forEach(function (input) {
          input.name = "step-" + index + "-" + input.dataset.name;
          if (input.dataset.name === "text") input.setAttribute("aria-label", "Step " + (index + 1));
        });
      });
      document.getElementById("id_step_count").value = steps.querySelectorAll(".step-row").length;
    }
    steps.addEventListener("click", function (event) {
      const button = event.target.closest("button[data-step]");
      if (!button) return;
      const row = button.closest(".step-row");
      if (button.dataset.step === "up" && row.previousElementSibling) {
        steps.insertBefore(row, row.previousElementSibling);
      } else if (button.dataset.step === "down" && row.nextElementSibling) {
        steps.insertBefore(row.nextElementSibling, row);
      } else if (button.dataset.step === "remove") {
        row.remove();
      }
      renumber();
      button.focus();
    });
    document.getElementById("step-add").addEventListener("click", function () {
      const row = template.content.firstElementChild.cloneNode(true);
      steps.appendChild(row);
      renumber();
      row.querySelector("input[type=text]").focus();
    });
    renumber();
  }
})();
