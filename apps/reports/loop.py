"""The measured loop: false alarms of each camera-model version, held out and live, across
its task's activations, with the 7 days before and after each one (reads and chart).

A report, not part of the registry: it reads incidents and the registry's history and draws
with `charts`, so it lives here, above both."""

import math
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.db.models import Case, Count, IntegerField, Q, When
from django.utils import timezone

from apps.incidents.choices import Verdict
from apps.incidents.selectors import incident_list
from apps.ml.choices import VISION_TASKS, Task
from apps.ml.models import ActivationKind, ModelActivation, ModelVersion

from .charts import Chart, Label, LegendItem, Rect, Rule, short

# The z of a two-sided 95 % interval.
Z95 = 1.959963984540054
# Fewer verdicts than this in a window and the page says "too few to say" instead of a
# comparison: with 9 verdicts the 95 % interval spans some 40 points whatever the rate.
MIN_VERDICTS = 10
WINDOW_DAYS = 7
# Periods shorter than this get no "per day" figure: three alerts in ten minutes is not
# 432 a day.
PER_DAY_MIN = timedelta(hours=1)

KIND_WORDS: dict[str, str] = {
    ActivationKind.INSTALL: "installation",
    ActivationKind.PROMOTE: "promotion",
    ActivationKind.FORCED: "promotion",
    ActivationKind.AUTOMATIC: "promotion",
    ActivationKind.ROLLBACK: "rollback",
}


def wilson_interval(hits: int, trials: int, *, z: float = Z95) -> tuple[float, float] | None:
    """The Wilson score interval of a proportion (hits of trials); None without trials.

    Unlike p ± z·sqrt(p(1-p)/n) it stays inside [0, 1] and is not zero-wide at 0 of 3,
    so a handful of verdicts reads as the guess it is.
    """
    if trials <= 0:
        return None
    p = hits / trials
    z2 = z * z
    denominator = 1 + z2 / trials
    centre = (p + z2 / (2 * trials)) / denominator
    half = z / denominator * math.sqrt(p * (1 - p) / trials + z2 / (4 * trials * trials))
    return max(0.0, centre - half), min(1.0, centre + half)


def percent_text(share: float | None) -> str:
    """A share as whole percent, like "12 %" ("—" for none); a tenth near 0 and 100, where
    whole percent would read as never or always."""
    if share is None:
        return "—"
    value = share * 100
    if 0 < value < 1 or 99 < value < 100:
        return f"{value:.1f} %"
    return f"{value:.0f} %"


def _interval_text(interval: tuple[float, float] | None) -> str:
    if interval is None:
        return ""
    low, high = interval
    return f"{low * 100:.0f} to {high * 100:.0f} %"


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


@dataclass(frozen=True)
class LiveCounts:
    """Incidents raised in a stretch of time, how many operators judged, how many of those
    were false alarms. The rate is false alarms over judged incidents."""

    raised: int = 0
    judged: int = 0
    false_alarms: int = 0

    def __add__(self, other: "LiveCounts") -> "LiveCounts":
        return LiveCounts(
            self.raised + other.raised,
            self.judged + other.judged,
            self.false_alarms + other.false_alarms,
        )

    @property
    def rate(self) -> float | None:
        return self.false_alarms / self.judged if self.judged else None

    @property
    def interval(self) -> tuple[float, float] | None:
        return wilson_interval(self.false_alarms, self.judged)

    @property
    def enough(self) -> bool:
        return self.judged >= MIN_VERDICTS

    @property
    def rate_text(self) -> str:
        return percent_text(self.rate)

    @property
    def interval_text(self) -> str:
        return _interval_text(self.interval)

    @property
    def summary(self) -> str:
        """Like "25 % of 12 verdicts (95 %: 9 to 53 %)", or "no verdicts"."""
        if not self.judged:
            return "no verdicts"
        return f"{self.rate_text} of {_plural(self.judged, 'verdict')} (95 %: {self.interval_text})"


@dataclass(frozen=True)
class HeldOut:
    """The false-alarm figures of a version replayed on the held-out (test split) samples
    that came from operator verdicts; the rate is false alarms over alarms raised."""

    samples: int
    alarms: int
    false_alarms: int
    missed: int

    @property
    def rate(self) -> float | None:
        return self.false_alarms / self.alarms if self.alarms else None

    @property
    def interval(self) -> tuple[float, float] | None:
        return wilson_interval(self.false_alarms, self.alarms)

    @property
    def summary(self) -> str:
        """Like "10 % of 40 alarms (95 %: 4 to 23 %), 2 missed, 50 verdict samples"."""
        if not self.alarms:
            return f"no alarms on {_plural(self.samples, 'verdict sample')}"
        return (
            f"{percent_text(self.rate)} of {_plural(self.alarms, 'alarm')} "
            f"(95 %: {_interval_text(self.interval)}), {self.missed} missed, "
            f"{_plural(self.samples, 'verdict sample')}"
        )


def held_out_from(evaluation: Any) -> HeldOut | None:
    """The verdict figures of an Evaluation JSON (`metrics["test"]`), or None where there
    are none (packaged models, a split without verdict samples, a malformed record)."""
    figures = evaluation.get("false_alarms") if isinstance(evaluation, dict) else None
    if not isinstance(figures, dict):
        return None
    try:
        counts = {key: int(figures.get(key) or 0) for key in ("samples", "alarms", "missed")}
        counts["false_alarms"] = int(figures.get("false_alarms") or 0)
    except (TypeError, ValueError):
        return None
    return HeldOut(**counts)


@dataclass(frozen=True)
class Reference:
    """What a version's held-out figures are compared with: its recorded baseline (the
    version active when it was trained, replayed on the same split), or else the previous
    version's own test figures, which came from that version's own split."""

    label: str
    held_out: HeldOut | None
    same_split: bool


def version_reference(
    version: ModelVersion, previous: ModelVersion | None = None
) -> Reference | None:
    """The baseline recorded in `version.metrics["baseline"]`, else `previous`'s own."""
    metrics = version.metrics if isinstance(version.metrics, dict) else {}
    baseline = metrics.get("baseline")
    if isinstance(baseline, dict) and baseline:
        label = str(baseline.get("label") or f"version {baseline.get('version_id', '?')}")
        return Reference(label=label, held_out=held_out_from(baseline.get("test")), same_split=True)
    if previous is not None:
        return Reference(
            label=previous.label, held_out=version_held_out(previous), same_split=False
        )
    return None


def version_held_out(version: ModelVersion) -> HeldOut | None:
    metrics = version.metrics if isinstance(version.metrics, dict) else {}
    return held_out_from(metrics.get("test"))


@dataclass(frozen=True)
class LoopPeriod:
    """The stretch [start, end) during which one version was its task's active one.

    `all_models` counts incidents raised by any model (every vision task's detections
    alert the same operators); `version` those raised by this version.
    """

    activation: ModelActivation
    start: datetime
    end: datetime
    current: bool
    all_models: LiveCounts
    version: LiveCounts

    @property
    def duration(self) -> timedelta:
        return self.end - self.start

    @property
    def days(self) -> float:
        return self.duration.total_seconds() / 86400

    def _per_day(self, counts: LiveCounts) -> float | None:
        return counts.raised / self.days if self.duration >= PER_DAY_MIN else None

    @property
    def all_per_day(self) -> float | None:
        return self._per_day(self.all_models)

    @property
    def version_per_day(self) -> float | None:
        return self._per_day(self.version)


@dataclass(frozen=True)
class Window:
    """Up to N days on one side of an activation; `version` counts the incidents raised by
    the version active in it."""

    start: datetime
    end: datetime
    all_models: LiveCounts
    version: LiveCounts
    clipped: bool
    """Shorter than N days: a neighbouring activation, or now, cut it."""

    @property
    def days(self) -> float:
        return (self.end - self.start).total_seconds() / 86400


@dataclass(frozen=True)
class LoopChange:
    """One activation with the live false-alarm rate in the N days before and after it and
    the held-out rate of the version against its reference."""

    activation: ModelActivation
    previous: ModelVersion | None
    """The version active before (None for the first activation on record)."""
    before: Window
    after: Window
    ongoing: bool
    """The after window reaches now: its figures are still growing."""
    held_out: HeldOut | None
    reference: Reference | None

    @property
    def kind_word(self) -> str:
        return KIND_WORDS.get(self.activation.kind, "activation")

    @property
    def change(self) -> float | None:
        """After minus before, as a share (negative: fewer false alarms)."""
        before, after = self.before.version.rate, self.after.version.rate
        return None if before is None or after is None else after - before

    @property
    def change_text(self) -> str:
        change = self.change
        if change is None:
            return "—"
        points = change * 100
        return f"{points:+.0f} points" if round(points) else "±0 points"

    @property
    def conclusive(self) -> bool:
        """Enough verdicts on both sides for the change to mean something."""
        return (
            self.previous is not None and self.before.version.enough and self.after.version.enough
        )

    @property
    def held_out_change(self) -> float | None:
        mine = self.held_out.rate if self.held_out else None
        theirs = (
            self.reference.held_out.rate if self.reference and self.reference.held_out else None
        )
        return None if mine is None or theirs is None else mine - theirs

    @property
    def summary(self) -> str:
        """In plain words, what the live verdicts say about this activation."""
        word = self.kind_word
        after, before = self.after.version, self.before.version
        so_far = " so far" if self.ongoing else ""
        if not after.enough:
            return f"{_plural(after.judged, 'verdict')} after this {word}{so_far}: too few to say."
        if self.previous is None:
            return (
                f"{after.rate_text} false alarms after this {word}{so_far}; no earlier "
                "version on record to compare with."
            )
        if not before.enough:
            return (
                f"{after.rate_text} false alarms after this {word}{so_far}, but only "
                f"{_plural(before.judged, 'verdict')} before it: too few to compare."
            )
        (b_low, b_high), (a_low, a_high) = before.interval, after.interval
        figures = f"{before.rate_text} before, {after.rate_text} after{so_far}"
        if a_high < b_low:
            return f"Fewer false alarms: {figures}; the 95 % intervals do not overlap."
        if a_low > b_high:
            return f"More false alarms: {figures}; the 95 % intervals do not overlap."
        return f"No clear change: {figures}; the 95 % intervals overlap."


@dataclass(frozen=True)
class VersionLoop:
    """One version of the task: its held-out figures, its baseline's, and every live
    incident it raised that the viewer may see."""

    version: ModelVersion
    held_out: HeldOut | None
    reference: Reference | None
    live: LiveCounts


@dataclass(frozen=True)
class LoopTimeline:
    task: str
    window_days: int
    now: datetime
    periods: list[LoopPeriod]
    """Oldest first."""
    changes: list[LoopChange]
    """Newest first, one per activation."""
    versions: list[VersionLoop]

    @property
    def task_label(self) -> str:
        return task_label(self.task)

    @property
    def current(self) -> LoopPeriod | None:
        return self.periods[-1] if self.periods else None


def task_label(task: str) -> str:
    return Task(task).label if task in Task.values else task


class _Segments:
    """Incident counts per elementary stretch between consecutive time points and per
    model version, fetched in one grouped query; any window whose ends are among the
    points is a sum of stretches."""

    def __init__(self, incidents, points: list[datetime]) -> None:
        self.points = sorted(set(points))
        self.place = {point: i for i, point in enumerate(self.points)}
        self.counts: dict[int, dict[int | None, LiveCounts]] = defaultdict(dict)
        if len(self.points) < 2:
            return
        # The first point whose time is later than the incident's opening closes its stretch.
        stretch = Case(
            *(When(opened_at__lt=end, then=i) for i, end in enumerate(self.points[1:])),
            output_field=IntegerField(),
        )
        rows = (
            incidents.filter(
                opened_at__gte=self.points[0],
                opened_at__lt=self.points[-1],
                model_version__isnull=False,
            )
            .order_by()
            .annotate(stretch=stretch)
            .values_list("stretch", "model_version_id")
            .annotate(
                raised=Count("id"),
                judged=Count("id", filter=~Q(verdict="")),
                false_alarms=Count("id", filter=Q(verdict=Verdict.FALSE_ALARM)),
            )
        )
        for index, version_id, raised, judged, false_alarms in rows:
            self.counts[index][version_id] = LiveCounts(raised, judged, false_alarms)

    def total(self, start: datetime, end: datetime, *, version_id: int | None = None) -> LiveCounts:
        """Incidents opened in [start, end): by every model, or by `version_id`."""
        total = LiveCounts()
        if start >= end:
            return total
        for index in range(self.place[start], self.place[end]):
            per_version = self.counts.get(index, {})
            if version_id is None:
                for counts in per_version.values():
                    total += counts
            else:
                total += per_version.get(version_id, LiveCounts())
        return total


def loop_timeline(
    *, viewer, task: str, window_days: int = WINDOW_DAYS, now: datetime | None = None
) -> LoopTimeline:
    """The measured loop of one task: a period per activation, a before/after comparison per
    activation, and the held-out and live figures of each of its versions.

    Incidents are read through `incident_list(viewer=...)`, so a zone-limited viewer gets
    the figures of their zones. A constant number of queries however long the history:
    the activations, the incident counts per stretch and version (one grouped query), the
    task's versions, and their lifetime counts.
    """
    now = now or timezone.now()
    window = timedelta(days=window_days)
    activations = list(
        ModelActivation.objects.filter(task=task, at__lte=now)
        .select_related("version", "previous", "actor")
        .order_by("at", "id")
    )
    incidents = incident_list(viewer=viewer)  # lazy; its zone rules are read once, here

    starts = [a.at for a in activations]
    ends = [*starts[1:], now]
    befores = [
        (max(at - window, starts[i - 1]) if i else at - window, at) for i, at in enumerate(starts)
    ]
    afters = [(at, min(at + window, ends[i])) for i, at in enumerate(starts)]
    points = [*starts, now, *(edge for pair in (*befores, *afters) for edge in pair)]
    segments = _Segments(incidents, points) if activations else None

    periods: list[LoopPeriod] = []
    changes: list[LoopChange] = []
    for i, activation in enumerate(activations):
        version = activation.version
        previous = activations[i - 1].version if i else activation.previous
        periods.append(
            LoopPeriod(
                activation=activation,
                start=starts[i],
                end=ends[i],
                current=i == len(activations) - 1,
                all_models=segments.total(starts[i], ends[i]),
                version=segments.total(starts[i], ends[i], version_id=version.pk),
            )
        )
        (b_start, b_end), (a_start, a_end) = befores[i], afters[i]
        changes.append(
            LoopChange(
                activation=activation,
                previous=previous,
                before=Window(
                    start=b_start,
                    end=b_end,
                    all_models=segments.total(b_start, b_end),
                    version=(
                        segments.total(b_start, b_end, version_id=previous.pk)
                        if previous
                        else LiveCounts()
                    ),
                    clipped=b_end - b_start < window,
                ),
                after=Window(
                    start=a_start,
                    end=a_end,
                    all_models=segments.total(a_start, a_end),
                    version=segments.total(a_start, a_end, version_id=version.pk),
                    clipped=a_end - a_start < window,
                ),
                ongoing=a_end == now,
                held_out=version_held_out(version),
                reference=version_reference(version, previous),
            )
        )
    changes.reverse()
    return LoopTimeline(
        task=task,
        window_days=window_days,
        now=now,
        periods=periods,
        changes=changes,
        versions=_versions(incidents, task),
    )


def _versions(incidents, task: str) -> list[VersionLoop]:
    """Every version of the task, newest first per name, with its lifetime live counts."""
    versions = list(ModelVersion.objects.filter(task=task).order_by("name", "-version"))
    lifetime = {
        version_id: LiveCounts(raised, judged, false_alarms)
        for version_id, raised, judged, false_alarms in (
            incidents.filter(model_version__task=task)
            .order_by()
            .values_list("model_version_id")
            .annotate(
                raised=Count("id"),
                judged=Count("id", filter=~Q(verdict="")),
                false_alarms=Count("id", filter=Q(verdict=Verdict.FALSE_ALARM)),
            )
        )
    }
    return [
        VersionLoop(
            version=version,
            held_out=version_held_out(version),
            reference=version_reference(version),
            live=lifetime.get(version.pk, LiveCounts()),
        )
        for version in versions
    ]


@dataclass(frozen=True)
class LoopTask:
    """A camera-model task for the index: its model names, active version, activations."""

    task: str
    names: list[str]
    active: ModelVersion | None
    activations: int

    @property
    def label(self) -> str:
        return task_label(self.task)


def loop_tasks() -> list[LoopTask]:
    """The vision tasks, each with the names of its versions; two queries."""
    names: dict[str, set[str]] = defaultdict(set)
    active: dict[str, ModelVersion] = {}
    for version in ModelVersion.objects.filter(task__in=VISION_TASKS).only(
        "name", "task", "version", "is_active"
    ):
        names[version.task].add(version.name)
        if version.is_active:
            active[version.task] = version
    activations = dict(
        ModelActivation.objects.filter(task__in=VISION_TASKS)
        .order_by()
        .values_list("task")
        .annotate(n=Count("id"))
    )
    return [
        LoopTask(
            task=task,
            names=sorted(names[task]),
            active=active.get(task),
            activations=activations.get(task, 0),
        )
        for task in VISION_TASKS
    ]


# --- the chart: the reports app's SVG primitives, drawn by templates/reports/_chart.html ---

RATE_COLOUR = "#f85149"
BAND_COLOUR = "rgba(248, 81, 73, 0.22)"
ALL_COLOUR = "#4ea1ff"
MARKER_COLOUR = "#e3b341"
CHART_PERIODS = 24  # the latest ones; the table below the chart has them all


def _y(rate: float, top: float, plot_h: float) -> float:
    return top + plot_h * (1 - rate)


def loop_chart(timeline: LoopTimeline) -> Chart:
    """A step line of the live false-alarm rate per period, its 95 % band, the rate over
    every model's alerts, and a marker labelled with the version at each activation.

    Periods get equal widths whatever their length: a version that served an hour would
    otherwise vanish beside one that served a month. The dates under the axis say when.
    """
    periods = timeline.periods[-CHART_PERIODS:]
    width, height = 960, 300
    left, right, top, bottom = 44, 12, 30, 36
    plot_w, plot_h = width - left - right, height - top - bottom
    latest = periods[-1] if periods else None
    chart = Chart(
        id="chart-loop",
        title=f"Live false-alarm rate per period, {timeline.task_label}",
        desc=(
            f"A step per period between activations ({len(periods)} shown, each the same "
            f"width whatever its length). Now: {latest.activation.version.label}, "
            f"{latest.version.summary}."
            if latest
            else "No activation on record for this task."
        ),
        width=width,
        height=height,
        legend=[
            LegendItem(RATE_COLOUR, "False alarms of the active version's alerts"),
            LegendItem(BAND_COLOUR, "95 % interval (Wilson)"),
            LegendItem(ALL_COLOUR, "False alarms of every model's alerts"),
            LegendItem(MARKER_COLOUR, "Activation, labelled with the version"),
        ],
    )
    for pct in (0, 25, 50, 75, 100):
        y = _y(pct / 100, top, plot_h)
        chart.rules.append(Rule(left, y, left + plot_w, y))
        chart.labels.append(Label(left - 6, y + 4, f"{pct} %", anchor="end"))
    if not periods:
        return chart
    slot = plot_w / len(periods)
    label_every = math.ceil(len(periods) / 12)
    same_name = len({p.activation.version.name for p in periods}) == 1
    previous_y: dict[str, float | None] = {RATE_COLOUR: None, ALL_COLOUR: None}
    for i, period in enumerate(periods):
        x = left + i * slot
        version = period.activation.version
        name = f"v{version.version}" if same_name else version.label
        when = timezone.localtime(period.start)
        kind = period.activation.get_kind_display()
        chart.rects.append(
            Rect(
                x - 0.75,
                top - 6,
                1.5,
                plot_h + 6,
                MARKER_COLOUR,
                f"{version.label}: {kind}, {when:%d %b %Y %H:%M}",
            )
        )
        chart.labels.append(
            Label(x + 4, top - 10, short(name, max(3, int(slot / 7))), anchor="start", css="name")
        )
        if i % label_every == 0:
            chart.labels.append(Label(x, height - bottom + 16, f"{when:%d %b}", anchor="start"))
        interval = period.version.interval
        if interval:
            low, high = interval
            y_high, y_low = _y(high, top, plot_h), _y(low, top, plot_h)
            chart.rects.append(
                Rect(
                    x,
                    y_high,
                    slot,
                    y_low - y_high,
                    BAND_COLOUR,
                    f"{version.label}: 95 % interval {_interval_text(interval)}",
                )
            )
        else:
            empty = "no verdicts" if slot >= 80 else "—"
            chart.labels.append(Label(x + slot / 2, top + plot_h - 8, empty))
        for colour, counts, thickness, who in (
            # The thin line over the thick one: they coincide when one task raises it all.
            (RATE_COLOUR, period.version, 3.0, version.label),
            (ALL_COLOUR, period.all_models, 1.5, "every model"),
        ):
            rate = counts.rate
            tip = f"{who}, from {when:%d %b %H:%M}: {counts.summary}"
            if rate is None:
                previous_y[colour] = None
                continue
            y = _y(rate, top, plot_h)
            chart.rects.append(Rect(x, y - thickness / 2, slot, thickness, colour, tip))
            before = previous_y[colour]
            if before is not None and abs(before - y) > 0.1:
                chart.rects.append(
                    Rect(
                        x - thickness / 2,
                        min(before, y),
                        thickness,
                        abs(before - y),
                        colour,
                        tip,
                    )
                )
            previous_y[colour] = y
    return chart
