// The statistics period form: a day the browser could not read (a half-typed date) would be
// sent empty and silently become the default period, and a reversed pair would cost a round
// trip; both are said at the form instead, and nothing is sent until they are fixed.
(function () {
  "use strict";
  const form = document.getElementById("period-form");
  const problem = document.getElementById("period-problem");
  if (!form || !problem) return;

  function say(lines) {
    problem.textContent = "";
    const list = document.createElement("ul");
    list.className = "flash";
    lines.forEach(function (text) {
      const item = document.createElement("li");
      item.className = "error";
      item.textContent = text;
      list.appendChild(item);
    });
    problem.appendChild(list);
    problem.hidden = false;
  }

  function labelOf(input) {
    const label = input.closest("label");
    return label ? label.firstChild.textContent.trim() : input.name;
  }

  form.addEventListener("submit", function (event) {
    const days = Array.prototype.slice.call(form.querySelectorAll("input[type=date]"));
    const lines = days
      .filter(function (input) { return input.validity && input.validity.badInput; })
      .map(function (input) { return labelOf(input) + ": this is not a whole date; enter day, month and year."; });
    const start = form.elements.start, end = form.elements.end;
    if (!lines.length && start && end && start.value && end.value && start.value > end.value) {
      lines.push("The first day (" + start.value + ") is after the last day (" + end.value + "): swap them.");
    }
    days.forEach(function (input) { input.removeAttribute("aria-invalid"); });
    if (lines.length) {
      event.preventDefault();
      days.filter(function (input) { return input.validity.badInput; })
        .forEach(function (input) { input.setAttribute("aria-invalid", "true"); });
      say(lines);
    }
  });
})();
