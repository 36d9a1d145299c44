"""Chart geometry for server-drawn SVG: numbers in, shapes out; templates do the escaping."""

import math
from dataclasses import dataclass, field
from datetime import timedelta

from apps.incidents.choices import Kind

from .selectors import DailyKinds, FalseAlarms, ResponseTimes, kind_label

# Colours that read on the dark panel.
PALETTE = ["#4ea1ff", "#f0883e", "#3fb950", "#d2a8ff", "#e3b341", "#ff7b72", "#39c5cf", "#db61a2"]
ACKNOWLEDGE_COLOUR, RESOLVE_COLOUR = PALETTE[0], PALETTE[1]
RATE_COLOUR = "#f85149"


class _Rounded:
    """Coordinates to a tenth of a unit: finer only makes the page longer."""

    def __post_init__(self) -> None:
        for name, value in vars(self).items():
            if isinstance(value, float):
                setattr(self, name, round(value, 1))


@dataclass
class Rect(_Rounded):
    x: float
    y: float
    width: float
    height: float
    colour: str
    tip: str  # the <title> a pointer shows; also what a screen reader can reach


@dataclass
class Label(_Rounded):
    x: float
    y: float
    text: str
    anchor: str = "middle"
    css: str = "axis"


@dataclass
class Rule(_Rounded):
    """A horizontal or vertical grid line."""

    x1: float
    y1: float
    x2: float
    y2: float


@dataclass(frozen=True)
class LegendItem:
    colour: str
    text: str


@dataclass
class Chart:
    id: str
    title: str
    desc: str
    width: int
    height: int
    rects: list[Rect] = field(default_factory=list)
    labels: list[Label] = field(default_factory=list)
    rules: list[Rule] = field(default_factory=list)
    legend: list[LegendItem] = field(default_factory=list)


def kind_colour(kind: str) -> str:
    """A kind's colour by its place among the declared kinds, the same in every period."""
    known = Kind.values
    place = known.index(kind) if kind in known else len(known) + sum(map(ord, kind))
    return PALETTE[place % len(PALETTE)]


def nice_ticks(top: float, count: int = 4, *, whole: bool = False) -> list[float]:
    """Axis ticks from 0 to at least `top`, steps of 1, 2 or 5 times a power of ten."""
    if top <= 0:
        return [float(n) for n in range(count + 1)] if whole else [0, 0.25, 0.5, 0.75, 1.0]
    raw = top / count
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 5, 10) if m * magnitude >= raw)
    if whole:
        step = max(1, round(step))
    return [step * n for n in range(math.ceil(top / step - 1e-9) + 1)]


def number_text(value: float) -> str:
    return f"{value:.0f}" if value == int(value) else f"{value:.1f}"


def percent(share: float) -> str:
    return f"{share * 100:.0f} %"


def short(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


# Left, right, top and bottom margins around the plot, in SVG units.
MARGIN = (44, 12, 14, 36)


def daily_kinds_chart(daily: DailyKinds) -> Chart:
    """Stacked bars: one per day, a segment per incident kind."""
    width, height = 960, 280
    left, right, top, bottom = MARGIN
    plot_w, plot_h = width - left - right, height - top - bottom
    first, last = daily.days[0].day, daily.days[-1].day
    chart = Chart(
        id="chart-per-day",
        title="Incidents opened per day, by kind",
        desc=(
            f"Stacked bars from {first:%d %b %Y} to {last:%d %b %Y}: {daily.total} incidents "
            f"in {len(daily.days)} days; the busiest day had "
            f"{max((d.total for d in daily.days), default=0)}."
        ),
        width=width,
        height=height,
    )
    colours = {kind: kind_colour(kind) for kind in daily.kinds}
    chart.legend = [LegendItem(colours[k], kind_label(k)) for k in daily.kinds]
    ticks = nice_ticks(max((d.total for d in daily.days), default=0), whole=True)
    scale = plot_h / ticks[-1]
    for tick in ticks:
        y = top + plot_h - tick * scale
        chart.rules.append(Rule(left, y, left + plot_w, y))
        chart.labels.append(Label(left - 6, y + 4, number_text(tick), anchor="end"))
    slot = plot_w / len(daily.days)
    bar = max(1.0, slot * 0.78)
    label_every = math.ceil(len(daily.days) / 12)
    for i, day in enumerate(daily.days):
        x = left + i * slot + (slot - bar) / 2
        base = top + plot_h
        for kind in daily.kinds:
            n = day.by_kind[kind]
            if n:
                base -= n * scale
                chart.rects.append(
                    Rect(
                        x,
                        base,
                        bar,
                        n * scale,
                        colours[kind],
                        f"{day.day:%a %d %b}: {n} {kind_label(kind).lower()}",
                    )
                )
        if i % label_every == 0:
            chart.labels.append(
                Label(x + bar / 2, height - bottom + 16, f"{day.day.day} {day.day:%b}")
            )
    return chart


# (seconds in the unit, its name): the largest unit that keeps figures readable.
UNITS = [(86400, "days"), (3600, "hours"), (60, "minutes"), (1, "seconds")]


def duration_unit(longest: timedelta | None) -> tuple[int, str]:
    seconds = longest.total_seconds() if longest else 0
    return next(((s, name) for s, name in UNITS if seconds >= 2 * s), UNITS[-1])


def duration_text(value: timedelta | None) -> str:
    """Two units at most: "45 s", "12 min 5 s", "3 h 20 min", "2 d 4 h"; "—" for none."""
    if value is None:
        return "—"
    seconds = round(value.total_seconds())
    parts = []
    for size, unit in ((86400, "d"), (3600, "h"), (60, "min"), (1, "s")):
        if seconds >= size or (size == 1 and not parts):
            parts.append(f"{seconds // size} {unit}")
            seconds %= size
    return " ".join(parts[:2])


def response_times_chart(rows: list[ResponseTimes]) -> Chart:
    """Grouped bars: mean time to acknowledge and to resolve, overall and per severity."""
    width, height = 960, 260
    left, right, top, bottom = MARGIN
    left += 16  # room for the unit
    plot_w, plot_h = width - left - right, height - top - bottom
    means = [d for r in rows for d in (r.acknowledge.mean, r.resolve.mean) if d is not None]
    unit_seconds, unit = duration_unit(max(means, default=None))
    chart = Chart(
        id="chart-response",
        title="Mean time to acknowledge and to resolve, by severity",
        desc=(
            f"Bars in {unit}. Overall: acknowledged in {duration_text(rows[0].acknowledge.mean)}"
            f" on average, resolved in {duration_text(rows[0].resolve.mean)}."
        ),
        width=width,
        height=height,
        legend=[
            LegendItem(ACKNOWLEDGE_COLOUR, "Mean time to acknowledge"),
            LegendItem(RESOLVE_COLOUR, "Mean time to resolve"),
        ],
    )
    ticks = nice_ticks(max((m.total_seconds() / unit_seconds for m in means), default=0))
    scale = plot_h / ticks[-1]
    for tick in ticks:
        y = top + plot_h - tick * scale
        chart.rules.append(Rule(left, y, left + plot_w, y))
        chart.labels.append(Label(left - 6, y + 4, number_text(tick), anchor="end"))
    chart.labels.append(Label(14, top + plot_h / 2, unit, css="axis unit"))
    slot = plot_w / len(rows)
    bar = slot * 0.3
    for i, row in enumerate(rows):
        centre = left + i * slot + slot / 2
        for offset, step, colour, verb in (
            (-bar, row.acknowledge, ACKNOWLEDGE_COLOUR, "acknowledge"),
            (0.0, row.resolve, RESOLVE_COLOUR, "resolve"),
        ):
            x = centre + offset
            if step.mean is None:
                chart.labels.append(Label(x + bar / 2, top + plot_h - 4, "—"))
                continue
            h = step.mean.total_seconds() / unit_seconds * scale
            tip = f"{row.label}: mean time to {verb} {duration_text(step.mean)} over {step.count}"
            chart.rects.append(Rect(x, top + plot_h - h, bar, h, colour, tip))
            chart.labels.append(
                Label(x + bar / 2, top + plot_h - h - 4, duration_text(step.mean), css="value")
            )
        chart.labels.append(Label(centre, height - bottom + 16, row.label))
    return chart


def false_alarm_chart(rows: list[FalseAlarms], *, id: str, title: str, what: str) -> Chart:
    """Horizontal bars: the share of judged incidents that were false alarms, 0 to 100 %."""
    row_h, name_w = 28, 270
    left, right, top, bottom = name_w, 140, 8, 24
    width = 960
    plot_w = width - left - right
    height = top + bottom + row_h * max(1, len(rows))
    worst = rows[0] if rows else None
    chart = Chart(
        id=id,
        title=title,
        desc=(
            f"False-alarm rate for {len(rows)} {what}; the highest is {worst.name} at "
            f"{percent(worst.counts.rate or 0)} of {worst.counts.verdicts} verdicts."
            if worst
            else f"No {what} had a verdict in this period."
        ),
        width=width,
        height=height,
    )
    for pct in (0, 25, 50, 75, 100):
        x = left + plot_w * pct / 100
        chart.rules.append(Rule(x, top, x, height - bottom))
        chart.labels.append(Label(x, height - bottom + 16, f"{pct} %"))
    for i, row in enumerate(rows):
        y = top + i * row_h
        rate = row.counts.rate or 0
        figures = f"{percent(rate)} · {row.counts.false_alarms} of {row.counts.verdicts}"
        chart.labels.append(
            Label(left - 8, y + row_h / 2 + 4, short(row.name, 30), anchor="end", css="name")
        )
        chart.rects.append(
            Rect(
                left,
                y + 5,
                max(plot_w * rate, 1.5),
                row_h - 10,
                RATE_COLOUR,
                f"{row.name}: {figures}",
            )
        )
        chart.labels.append(
            Label(left + plot_w * rate + 6, y + row_h / 2 + 4, figures, anchor="start", css="value")
        )
    return chart
