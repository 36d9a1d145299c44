// Room calendars and the booking form. The pages work without it (every open hour is a
// "Book" link, every series field is shown); with it, a click or tap on a bookable hour opens
// the booking form at the half hour clicked with an end one hour later, and the form shows
// only the series fields that apply.
(function () {
  "use strict";

  const pad = (n) => String(n).padStart(2, "0");

  // A wall-clock time on a day, from minutes after midnight, as datetime-local text. Plain
  // arithmetic on the date, so the browser's own time zone never shifts it.
  function localText(dateText, minutes) {
    const [y, m, d] = dateText.split("-").map(Number);
    const day = new Date(Date.UTC(y, m - 1, d) + Math.floor(minutes / 1440) * 86400000);
    const rest = ((minutes % 1440) + 1440) % 1440;
    return `${day.getUTCFullYear()}-${pad(day.getUTCMonth() + 1)}-${pad(day.getUTCDate())}` +
      `T${pad(Math.floor(rest / 60))}:${pad(rest % 60)}`;
  }

  function calendarClicks(cal) {
    const firstHour = Number(cal.dataset.firstHour);
    const rows = Number(cal.dataset.rows);
    const bookUrl = cal.dataset.bookUrl;
    cal.querySelectorAll(".cal-col .cal-body").forEach((body) => {
      // Only where booking is possible: a column with at least one "Book" hour.
      if (!body.querySelector(".cal-slot")) return;
      body.classList.add("clickable");
      body.addEventListener("click", (event) => {
        // Only a bookable hour (open, not past) is enhanced: its lower half starts at :30.
        if (!event.target.closest(".cal-slot")) return;
        const rect = body.getBoundingClientRect();
        const fraction = (event.clientY - rect.top) / rect.height;
        const minutes = firstHour * 60 + Math.floor((fraction * rows * 15) / 30) * 30;
        const query = new URLSearchParams({
          resource: body.dataset.resource,
          start: localText(body.dataset.date, minutes),
          end: localText(body.dataset.date, minutes + 60),
        });
        event.preventDefault();
        location.assign(`${bookUrl}?${query}`);
      });
    });
  }

  function seriesFields(form) {
    const repeat = form.querySelector("select[name=repeat]");
    const more = form.querySelector("[data-series-more]");
    if (!repeat || !more) return;
    const days = form.querySelector("[data-field=weekdays]");
    const count = form.querySelector("[data-field=count]");
    const until = form.querySelector("[data-field=until]");
    const update = () => {
      const ends = form.querySelector("input[name=ends]:checked");
      const byDate = ends && ends.value === "until";
      more.hidden = repeat.value === "none";
      if (days) days.hidden = repeat.value !== "weekly";
      if (count) count.hidden = byDate;
      if (until) until.hidden = !byDate;
    };
    form.addEventListener("change", update);
    update();
  }

  document.querySelectorAll("[data-calendar]").forEach(calendarClicks);
  document.querySelectorAll("form.book-form").forEach(seriesFields);
})();
