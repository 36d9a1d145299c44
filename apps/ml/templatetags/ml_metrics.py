"""Template helpers for the training-run and model pages: scores as text, a score next to the
baseline's, the confusion matrix as heat-map cells, the loss curve as SVG geometry, and
durations for people ("about 2 min left").

The arithmetic lives here, not in templates; every value handed back is plain text or
numbers, so templates still escape whatever they print.
"""

import math
from dataclasses import dataclass, field

from django import template

register = template.Library()

# The heat map's two hues (app.css's --accent and --critical): right answers on the diagonal,
# mistakes elsewhere, so a strong off-diagonal cell stands out as the model's usual confusion.
CORRECT_RGB = (78, 161, 255)
MISTAKE_RGB = (248, 81, 73)
# Past this opacity the cell is light enough that dark text reads better.
DARK_TEXT_FROM = 0.55


def _number(value) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) else None


@register.filter
def percent(value, digits: int = 1) -> str:
    """0.8734 → "87.3 %"; not a number → "—"."""
    number = _number(value)
    return "—" if number is None else f"{number * 100:.{int(digits)}f} %"


@register.filter
def decimal(value, digits: int = 3) -> str:
    number = _number(value)
    return "—" if number is None else f"{number:.{int(digits)}f}"


@register.filter
def eta_text(seconds) -> str:
    """Seconds left → "about 2 min left"; None → "estimating…"."""
    number = _number(seconds)
    if number is None or number < 0:
        return "estimating…"
    if number < 60:
        return "less than a minute left"
    minutes = round(number / 60)
    if minutes < 60:
        return f"about {minutes} min left"
    hours, minutes = divmod(minutes, 60)
    return f"about {hours} h {minutes} min left" if minutes else f"about {hours} h left"


@register.filter
def elapsed_text(seconds) -> str:
    """Seconds → "under 1 s", "45 s", "2 min 05 s", "1 h 03 min"."""
    number = _number(seconds)
    if number is None or number < 0:
        return "—"
    total = int(number)
    if total < 1:
        return "under 1 s"
    if total < 60:
        return f"{total} s"
    minutes, secs = divmod(total, 60)
    if minutes < 60:
        return f"{minutes} min {secs:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


# --- a score next to the baseline's -----------------------------------------------------


@dataclass(frozen=True)
class ScoreRow:
    name: str
    value: str
    baseline: str
    change: str
    verdict: str
    """"better", "worse", "same" or "" (not comparable): a CSS class."""
    note: str = ""


def _false_alarm_rate(evaluation) -> float | None:
    alarms = (evaluation or {}).get("false_alarms") or {}
    return _number(alarms.get("rate"))


def _change(value, baseline, *, lower_is_better: bool) -> tuple[str, str]:
    if value is None or baseline is None:
        return "", ""
    points = (value - baseline) * 100
    if abs(points) < 0.05:
        return "±0.0 pts", "same"
    better = points < 0 if lower_is_better else points > 0
    return f"{points:+.1f} pts", "better" if better else "worse"


def _false_alarm_note(evaluation) -> str:
    alarms = (evaluation or {}).get("false_alarms")
    if not alarms:
        return "no verdict samples in this split"
    return (
        f"{alarms.get('false_alarms', 0)} of {alarms.get('alarms', 0)} alarms false, "
        f"{alarms.get('missed', 0)} real events missed, over {alarms.get('samples', 0)} "
        "verdict samples"
    )


@register.simple_tag
def score_rows(evaluation, baseline=None) -> list[ScoreRow]:
    """Macro-F1, accuracy and false-alarm rate, each with the baseline's and the change."""
    evaluation = evaluation or {}
    measured = isinstance(baseline, dict) and bool(baseline)
    baseline = baseline if measured else {}
    rows = []
    for name, key, lower in (("Macro-F1", "macro_f1", False), ("Accuracy", "accuracy", False)):
        value, base = _number(evaluation.get(key)), _number(baseline.get(key))
        change, verdict = _change(value, base, lower_is_better=lower)
        rows.append(
            ScoreRow(
                name,
                percent(value),
                percent(base) if measured else "not measured",
                change,
                verdict,
            )
        )
    value, base = _false_alarm_rate(evaluation), _false_alarm_rate(baseline)
    change, verdict = _change(value, base, lower_is_better=True)
    rows.append(
        ScoreRow(
            "False-alarm rate",
            percent(value),
            percent(base) if measured else "not measured",
            change,
            verdict,
            note=_false_alarm_note(evaluation),
        )
    )
    return rows


@dataclass(frozen=True)
class LabelRow:
    label: str
    precision: str
    recall: str
    f1: str
    support: int
    baseline_f1: str


@register.simple_tag
def label_rows(evaluation, baseline=None) -> list[LabelRow]:
    """Per-label precision, recall, F1 and support, in the evaluation's label order."""
    evaluation = evaluation or {}
    per_label = evaluation.get("per_label") or {}
    base_per_label = (baseline.get("per_label") if isinstance(baseline, dict) else None) or {}
    order = [name for name in evaluation.get("labels") or [] if name in per_label]
    order += [name for name in per_label if name not in order]
    rows = []
    for name in order:
        scores = per_label[name] or {}
        base = base_per_label.get(name)
        rows.append(
            LabelRow(
                label=str(name),
                precision=percent(scores.get("precision")),
                recall=percent(scores.get("recall")),
                f1=percent(scores.get("f1")),
                support=int(_number(scores.get("support")) or 0),
                baseline_f1=percent(base.get("f1")) if isinstance(base, dict) else "—",
            )
        )
    return rows


# --- the confusion matrix as a heat map --------------------------------------------------


@dataclass(frozen=True)
class HeatCell:
    count: int
    share: float
    """The row-normalised share: of the samples truly this row's label, how many landed here."""
    predicted: str
    correct: bool
    style: str
    """An inline background colour, from numbers only (nothing a label could inject)."""
    dark_text: bool
    title: str

    @property
    def share_text(self) -> str:
        return f"{self.share * 100:.0f} %"


@dataclass(frozen=True)
class HeatRow:
    label: str
    total: int
    cells: list[HeatCell] = field(default_factory=list)


@dataclass(frozen=True)
class HeatMap:
    labels: list[str]
    rows: list[HeatRow]
    name: str = "this model"
    of_baseline: bool = False


def heat_style(share: float, *, correct: bool) -> tuple[str, bool]:
    """Background colour for a cell: opacity grows with the share; empty cells stay clear."""
    if share <= 0:
        return "background-color: transparent", False
    alpha = 0.12 + 0.88 * min(1.0, share)
    red, green, blue = CORRECT_RGB if correct else MISTAKE_RGB
    return f"background-color: rgba({red}, {green}, {blue}, {alpha:.3f})", alpha >= DARK_TEXT_FROM


@register.simple_tag
def heatmaps(evaluation, baseline=None, baseline_label=None) -> list[HeatMap]:
    """The evaluation's heat map, then the baseline's (when it was measured)."""
    maps = [confusion_heatmap(evaluation)]
    if isinstance(baseline, dict) and baseline:
        maps.append(
            confusion_heatmap(baseline, name=baseline_label or "the baseline", of_baseline=True)
        )
    return [m for m in maps if m is not None]


def confusion_heatmap(
    evaluation, *, name: str = "this model", of_baseline: bool = False
) -> HeatMap | None:
    """Rows are true labels, columns predicted ones, in the evaluation's label order."""
    evaluation = evaluation or {}
    labels = [str(name) for name in evaluation.get("labels") or []]
    matrix = evaluation.get("confusion") or []
    if not labels or len(matrix) != len(labels):
        return None
    rows = []
    for i, (truth, counts) in enumerate(zip(labels, matrix, strict=True)):
        counts = [int(_number(c) or 0) for c in counts][: len(labels)]
        counts += [0] * (len(labels) - len(counts))
        total = sum(counts)
        cells = []
        for j, count in enumerate(counts):
            share = count / total if total else 0.0
            style, dark = heat_style(share, correct=i == j)
            title = (
                f"{count} of {total} samples labelled {truth} were predicted {labels[j]}"
                f" ({share * 100:.0f} %)"
            )
            cells.append(HeatCell(count, share, labels[j], i == j, style, dark, title))
        rows.append(HeatRow(truth, total, cells))
    return HeatMap(labels, rows, str(name), of_baseline)


# --- the loss curve ---------------------------------------------------------------------

CHART_WIDTH, CHART_HEIGHT = 640, 240
CHART_PAD = {"left": 48, "right": 16, "top": 14, "bottom": 32}


@dataclass(frozen=True)
class Series:
    name: str
    css: str
    points: list[tuple[float, float]]


def loss_series(history, progress=None) -> list[Series]:
    """Training loss (per epoch, or the live point) and validation loss, x in epochs."""
    train, validation = [], []
    for record in history or []:
        epoch = _number(record.get("epoch"))
        if epoch is None:
            continue
        if (loss := _number(record.get("train_loss"))) is not None:
            train.append((epoch, loss))
        if (loss := _number(record.get("validation_loss"))) is not None:
            validation.append((epoch, loss))
    if not train and progress:
        # No history yet (running): the latest report is the one point there is.
        epochs, step, steps = (_number(progress.get(k)) for k in ("epochs", "step", "steps"))
        loss = _number(progress.get("loss"))
        if progress.get("phase") != "extracting" and loss is not None and epochs and steps:
            train.append((epochs * (step or 0) / steps, loss))
        scores = progress.get("validation") or {}
        if (loss := _number(scores.get("loss"))) is not None:
            validation.append((_number(progress.get("epoch")) or 0, loss))
    return [Series("training loss", "train", train), Series("validation loss", "val", validation)]


def _nice_ceiling(value: float) -> float:
    if value <= 0:
        return 1.0
    magnitude = 10 ** math.floor(math.log10(value))
    for step in (1, 2, 4, 6, 8, 10):  # a quarter of each is a tidy tick
        if value <= step * magnitude:
            return step * magnitude
    return 10 * magnitude


@register.simple_tag
def loss_chart(history, progress=None, epochs=None) -> dict:
    """Geometry of the loss curve's SVG (static/js/training.js draws the same live)."""
    series = loss_series(history, progress)
    points = [p for s in series for p in s.points]
    x_max = max(_number(epochs) or 0, max((x for x, _ in points), default=0), 1)
    y_max = _nice_ceiling(max((y for _, y in points), default=1.0) * 1.05)
    left, top = CHART_PAD["left"], CHART_PAD["top"]
    inner_w = CHART_WIDTH - left - CHART_PAD["right"]
    inner_h = CHART_HEIGHT - top - CHART_PAD["bottom"]

    def at(x: float, y: float) -> tuple[float, float]:
        return round(left + inner_w * x / x_max, 1), round(top + inner_h * (1 - y / y_max), 1)

    lines = []
    for s in series:
        if s.points:
            drawn = [at(x, y) for x, y in s.points]
            lines.append(
                {
                    "css": s.css,
                    "name": s.name,
                    "points": " ".join(f"{x},{y}" for x, y in drawn),
                    "dots": drawn,
                }
            )
    y_ticks = [{"y": at(0, y_max * i / 4)[1], "text": f"{y_max * i / 4:.3g}"} for i in range(5)]
    every = max(1, math.ceil(x_max / 10))
    x_ticks = [{"x": at(e, 0)[0], "text": str(e)} for e in range(0, math.ceil(x_max) + 1, every)]
    last = {s.css: s.points[-1][1] for s in series if s.points}
    desc = (
        f"Loss per epoch over {x_max:g} epochs; latest training loss {last['train']:.3f}"
        if "train" in last
        else "No loss reported yet."
    )
    if "val" in last:
        desc += f", latest validation loss {last['val']:.3f}"
    return {
        "width": CHART_WIDTH,
        "height": CHART_HEIGHT,
        "left": left,
        "right": CHART_WIDTH - CHART_PAD["right"],
        "top": top,
        "bottom": CHART_HEIGHT - CHART_PAD["bottom"],
        "lines": lines,
        "y_ticks": y_ticks,
        "x_ticks": x_ticks,
        "empty": not points,
        "mid_x": left + inner_w // 2,
        "mid_y": top + inner_h // 2,
        "desc": desc,
    }
