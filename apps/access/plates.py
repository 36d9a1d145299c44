"""Licence plates at vehicle gates: the packaged offline OCR (rapidocr's PP-OCR detection and
recognition, ONNX files inside the wheel) reads a frame, and each confident plate is decided
as a plate credential shown at the gate's reader, through the same decision service as the
controllers' API.

How the gate learns the answer: the decision is stored as an access event (granted or
denied, with the frame and the plate box), exactly as an online decision of the API is. A
real barrier controller acts on that event: it polls or is pushed the decision events of its
reader (the live access stream), or, wired the other way round, posts the frame itself and
asks `POST /api/v1/access/decisions/` with the plate it read. A refused plate is a denied
event with its frame and box, which the detectors raise as a PLATE_REFUSED incident.

The OCR's model files are checked against SHA-256 digests pinned here before the engine is
built: a missing or altered file reads no plate at all (PlateModelRefused, logged by the gate
task).
"""

import functools
import hashlib
import importlib.metadata
import io
import logging
import math
import re
import threading
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

from django.core.cache import cache
from django.core.files.storage import default_storage
from django.utils import timezone
from PIL import Image, ImageOps

from .choices import CredentialKind, Direction, EventKind, Reason
from .numbers import number_normalise

log = logging.getLogger(__name__)

# A read is decided only from this recognition score (0..1, PP-OCR's mean per character).
PLATE_MIN_SCORE = 0.8
# A plate is decided once while it stays in view of a gate, and again only once it has not
# been seen for this long: a car waiting at the barrier is seen in many frames (a second
# decision at a hard-antipassback gate would be a false denial), a refused one too, unless a
# change to the access data lets it through meanwhile (gate_plates_decide).
PLATE_DEBOUNCE = timedelta(seconds=30)
# A frame read later than this after it came in decides nothing: the barrier must not open
# for a car that has long gone (a backlog on the inference queue).
PLATE_FRAME_MAX_AGE = timedelta(seconds=60)
# Plates decided per frame at most (the best reads): a gate sees one or two vehicles.
PLATES_PER_FRAME = 2
# A gate frame shows a plate or two and a few signs. A frame in which detection finds more
# text boxes than this is not read at all: recognition runs once per box, and a frame covered
# in small text (crafted, or a camera pointed at a notice board) would otherwise cost tens of
# seconds and hundreds of MB.
PLATE_MAX_TEXT_BOXES = 20
# Of the boxes found, only plate-shaped ones are recognised (a line of text at least this
# tall in pixels of the detection image, with this width-to-height ratio: a plate's text,
# or one piece of it such as 京A), and at most this many, the most confident first.
PLATE_BOX_MIN_HEIGHT = 8
PLATE_BOX_RATIO = (0.8, 12.0)
PLATE_BOXES_READ = 8
# Frames are decoded at a reduced scale where the format allows (JPEG's draft mode) to about
# this longer side: OCR works on at most 2000 px (rapidocr's max_side_len) and a crop for
# an operator needs no more, while a 40 MP frame decoded whole takes 120 MB per copy.
DECODE_MAX_SIDE = 2048
# Normalised plate lengths across EU, UK, US and Chinese plates (京A12345 is 7, new-energy 8).
PLATE_MIN_CHARS, PLATE_MAX_CHARS = 4, 10
# What OCR reads between plate characters besides number_normalise's separators: dots,
# colons, bullets and the frame of the plate read as a bar.
_OCR_NOISE = str.maketrans("", "", ".:;,_•|'\"")
_DIGIT = re.compile(r"[0-9]")

# The ONNX files shipped inside the rapidocr wheel, named explicitly: with a path set,
# rapidocr never builds a download URL (with none it would fetch missing models).
_MODEL_FILES = {
    "Det.model_path": "PP-OCRv6_det_small.onnx",
    "Rec.model_path": "PP-OCRv6_rec_small.onnx",
    "Cls.model_path": "ch_ppocr_mobile_v2.0_cls_mobile.onnx",
}
# Their SHA-256, computed from the files the rapidocr 3.10.0 wheel installs (the same digests
# as its default_models.yaml gives for the downloads). A file that differs (corrupted, or
# swapped for another network) is refused; another rapidocr release that ships other files
# is refused too, until these are pinned again for it.
_MODEL_RELEASE = "3.10.0"
_MODEL_SHA256 = {
    "PP-OCRv6_det_small.onnx": "090f04abcd9d9a7498bc4ebf677e4cb9bdce1fe4197ddb7e529f1ef44e1ff94f",
    "PP-OCRv6_rec_small.onnx": "6f327246b50388f3c176ae304bd95767ea6dc0c9ae92153ef8cbe210b3c14884",
    "ch_ppocr_mobile_v2.0_cls_mobile.onnx": (
        "e47acedf663230f8863ff1ab0e64dd2d82b838fceb5957146dab185a89d6215c"
    ),
}
_ENGINE_PARAMS: dict[str, Any] = {
    # rapidocr warns on every frame with no text at all: the gate sees many.
    "Global.log_level": "error",
    # Plates are upright at a gate: no 180° classifier (it costs a model run per box).
    "Global.use_cls": False,
    # Detection on the frame scaled so its longer side is at most 960 px (rapidocr's
    # default scales the shorter side up to 736, which more than doubles the time on a
    # 640x480 frame and does not help plates that fill a gate camera's view).
    "Det.limit_type": "max",
    "Det.limit_side_len": 960,
}

_engine = None
_engine_lock = threading.Lock()


@dataclass(frozen=True, slots=True)
class PlateRead:
    """A plate as read: `text` normalised as a plate credential number, `score` 0..1,
    `box` [x0, y0, x1, y1] in 0..1 of the image."""

    text: str
    score: float
    box: tuple[float, float, float, float]


class PlateModelRefused(Exception):
    """An OCR model file is missing or is not the file pinned in _MODEL_SHA256: no engine is
    built from it and no plate is read. The message names the file and both digests."""


def model_paths() -> dict[str, Path]:
    """The packaged model files, by rapidocr parameter name. Only these are ever loaded: there
    is no setting for a model directory of one's own."""
    import rapidocr

    root = Path(rapidocr.__file__).resolve().parent / "models"
    return {name: root / file for name, file in _MODEL_FILES.items()}


def plate_models_verify(paths: dict[str, Path]) -> None:
    """Check each of `paths` (model_paths(), or a copy of those files) against its pinned
    SHA-256; PlateModelRefused for the first one missing or altered. A file is hashed once
    per process while it stays the same file (inode, size, modification time): a refusal
    costs a stat per file on the next frame, and a package put right is taken up without a
    restart."""
    for path in paths.values():
        expected = _MODEL_SHA256[path.name]
        if not path.is_file():
            raise PlateModelRefused(
                f"the OCR model {path} is missing: expected SHA-256 {expected}, found none"
            )
        stat = path.stat()
        found = _sha256(path, stat.st_ino, stat.st_size, stat.st_mtime_ns)
        if found != expected:
            raise PlateModelRefused(
                f"the OCR model {path} is not the file pinned for rapidocr {_MODEL_RELEASE}"
                f" (rapidocr {_installed_release()} is installed): expected SHA-256 {expected},"
                f" found {found}"
            )


@functools.lru_cache(maxsize=16)
def _sha256(path: Path, inode: int, size: int, mtime_ns: int) -> str:
    """The file's digest; `inode`, `size` and `mtime_ns` are only the cache's key (an
    installer writes a new file, so a new inode)."""
    with path.open("rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


def _installed_release() -> str:
    try:
        return importlib.metadata.version("rapidocr")
    except importlib.metadata.PackageNotFoundError:
        return "(unknown)"


def plate_engine():
    """The OCR engine of this process, loaded once (lazily, thread-safe), from the files in
    the installed package only, each checked against its pinned digest first.
    PlateModelRefused naming a missing or altered file."""
    global _engine
    if _engine is None:
        with _engine_lock:
            if _engine is None:
                from rapidocr import RapidOCR

                paths = model_paths()
                plate_models_verify(paths)
                params = {**_ENGINE_PARAMS, **{k: str(v) for k, v in paths.items()}}
                engine = RapidOCR(params=params)
                # rapidocr loads each model on first use; load them now, inside the lock,
                # so a failure is raised here and the first frame is not slow.
                engine._load_det_model()
                engine._load_rec_model()
                _engine = engine
    return _engine


def plates_read(image: bytes | Image.Image) -> list[PlateRead]:
    """The plates in `image` (JPEG/PNG bytes or a PIL image), best first: texts that can be
    plates (4 to 10 letters, digits or CJK characters, at least one digit, once
    normalised), at most one per place in the image. Detection runs first; only the
    plate-shaped boxes are recognised, and a frame with more than PLATE_MAX_TEXT_BOXES text
    boxes reads as no plate. Frames are validated when stored; bytes here are decoded with
    Pillow's limits all the same."""
    picture = _rgb(image)
    width, height = picture.size
    engine = plate_engine()
    from rapidocr.main import RapidOCRError
    from rapidocr.utils.process_img import map_boxes_to_original

    pixels = engine.load_img(picture)
    scaled, op_record = engine.preprocess_img(pixels)
    try:
        # Detection (with rapidocr's padding) and a crop per box; crops are cheap slices.
        crops, detected = engine.detect_and_crop(scaled, op_record)
    except RapidOCRError:  # no text at all
        return []
    if len(detected.boxes) > PLATE_MAX_TEXT_BOXES:
        log.info("%s text boxes in a frame: too many to be a gate's, not read", len(detected.boxes))
        return []
    chosen = _plate_shaped(detected.boxes, detected.scores)
    if not chosen:
        return []
    try:
        recognised = engine.recognize_txt([crops[i] for i in chosen])
    except RapidOCRError:  # nothing recognised
        return []
    boxes = map_boxes_to_original(detected.boxes[chosen].copy(), op_record, height, width)
    pieces = [
        _Piece(text, float(score), _bounds(box, width, height))
        for text, score, box in zip(recognised.txts, recognised.scores, boxes, strict=True)
        if text.strip() and score >= engine.text_score
    ]
    return _best(_candidates(pieces))


def _plate_shaped(boxes, scores) -> list[int]:
    """The indices of the boxes (quadrilaterals in the detection image) that can hold a
    plate's text, the most confident first, at most PLATE_BOXES_READ."""
    low, high = PLATE_BOX_RATIO
    shaped = []
    for index, quad in enumerate(boxes):
        side_w = float(((quad[1] - quad[0]) ** 2).sum() ** 0.5)
        side_h = float(((quad[3] - quad[0]) ** 2).sum() ** 0.5)
        if side_h >= PLATE_BOX_MIN_HEIGHT and low <= side_w / side_h <= high:
            shaped.append(index)
    shaped.sort(key=lambda index: float(scores[index]), reverse=True)
    return shaped[:PLATE_BOXES_READ]


def plate_normalise(text: str) -> str | None:
    """The plate credential number an OCR text stands for, or None when it cannot be one."""
    try:
        value = number_normalise(CredentialKind.PLATE, text.translate(_OCR_NOISE))
    except ValueError:
        return None
    if not PLATE_MIN_CHARS <= len(value) <= PLATE_MAX_CHARS or not _DIGIT.search(value):
        return None
    return value


@dataclass(frozen=True, slots=True)
class _Piece:
    text: str
    score: float
    box: tuple[float, float, float, float]


def _rgb(image: bytes | Image.Image) -> Image.Image:
    if isinstance(image, bytes | bytearray):
        return _decoded(image)
    return image.convert("RGB")


def _decoded(data: bytes) -> Image.Image:
    """The RGB image of `data`, upright, decoded at a reduced scale when its longer side is
    well over DECODE_MAX_SIDE (JPEG: 1/2, 1/4 or 1/8 while decoding, so the full-size
    pixels are never held; other formats are reduced after decoding)."""
    with Image.open(io.BytesIO(data)) as opened:
        longer = max(opened.size)
        if longer > DECODE_MAX_SIDE:
            scale = DECODE_MAX_SIDE / longer
            # The draft is at least the size asked for: never below DECODE_MAX_SIDE.
            opened.draft("RGB", (math.ceil(opened.width * scale), math.ceil(opened.height * scale)))
        image = ImageOps.exif_transpose(opened)
        factor = max(image.size) // DECODE_MAX_SIDE
        if factor >= 2:
            image = image.reduce(factor)
        return image if image.mode == "RGB" else image.convert("RGB")


def _bounds(quad, width: int, height: int) -> tuple[float, float, float, float]:
    xs = [float(point[0]) for point in quad]
    ys = [float(point[1]) for point in quad]
    return (
        _clamp(min(xs) / width),
        _clamp(min(ys) / height),
        _clamp(max(xs) / width),
        _clamp(max(ys) / height),
    )


def _clamp(value: float) -> float:
    return round(min(1.0, max(0.0, value)), 4)


def _candidates(pieces: list[_Piece]) -> list[PlateRead]:
    """Each piece, and each run of pieces on one line next to each other joined (OCR splits
    京A·12345 at the dot, or a two-part plate at its gap), kept where the text can be a
    plate. A joined run scores the length-weighted mean of its pieces."""
    found = []
    ordered = sorted(pieces, key=lambda piece: piece.box[0])
    for start in range(len(ordered)):
        run = [ordered[start]]
        for piece in ordered[start + 1 :]:
            if len(run) == 3:
                break
            if _same_line_next(run[-1].box, piece.box):
                run.append(piece)
        for end in range(1, len(run) + 1):
            parts = run[:end]
            text = plate_normalise(" ".join(part.text for part in parts))
            if text is None:
                continue
            chars = sum(max(1, len(part.text)) for part in parts)
            score = sum(part.score * max(1, len(part.text)) for part in parts) / chars
            box = (
                min(p.box[0] for p in parts),
                min(p.box[1] for p in parts),
                max(p.box[2] for p in parts),
                max(p.box[3] for p in parts),
            )
            found.append(PlateRead(text, round(score, 4), box))
    return found


def _same_line_next(left, right) -> bool:
    """Whether box `right` continues box `left` on its line: overlapping heights, similar
    height, and a gap no wider than the line is high."""
    height_l, height_r = left[3] - left[1], right[3] - right[1]
    if min(height_l, height_r) <= 0:
        return False
    overlap = min(left[3], right[3]) - max(left[1], right[1])
    gap = right[0] - left[2]
    return (
        overlap >= 0.6 * min(height_l, height_r)
        and max(height_l, height_r) <= 1.5 * min(height_l, height_r)
        and -0.5 * height_l <= gap <= 1.2 * max(height_l, height_r)
    )


def _best(reads: list[PlateRead]) -> list[PlateRead]:
    """One read per place: among reads whose boxes overlap, the one covering more of the
    plate (a joined run over its pieces), then the better score."""

    def rank(read: PlateRead):
        return (_area(read.box), read.score)

    kept: list[PlateRead] = []
    for read in sorted(reads, key=rank, reverse=True):
        if all(_overlap(read.box, other.box) < 0.5 for other in kept):
            kept.append(read)
    return sorted(kept, key=lambda read: read.score, reverse=True)


def _area(box) -> float:
    return max(0.0, box[2] - box[0]) * max(0.0, box[3] - box[1])


def _overlap(a, b) -> float:
    """The intersection over the smaller box's area."""
    width = min(a[2], b[2]) - max(a[0], b[0])
    height = min(a[3], b[3]) - max(a[1], b[1])
    if width <= 0 or height <= 0:
        return 0.0
    smaller = min(_area(a), _area(b))
    return (width * height) / smaller if smaller else 0.0


# --- the gate: a plate camera's frames become decisions ------------------------------------


@dataclass(frozen=True, slots=True)
class GateDecision:
    """A plate decided at a gate (`event_id` the stored access event's pk), or passed over
    (`skipped`: "debounced" or "low_score")."""

    text: str
    score: float
    event_id: int | None
    granted: bool | None
    skipped: str = ""


def frame_plates_read(*, frame_id: int) -> list[GateDecision]:
    """Read the plates in a gate camera's stored frame and decide them; quietly nothing when
    the frame is gone, its camera is no gate's, or its image was deleted."""
    from apps.cameras.models import Frame

    frame = (
        Frame.objects.select_related("camera__plate_reader__door__controller")
        .filter(pk=frame_id)
        .first()
    )
    if frame is None:
        return []
    reader = getattr(frame.camera, "plate_reader", None)
    if reader is None:
        return []
    if reader.door.controller is None:
        _warn_once(reader.pk, "gate reader %s: its door has no controller, plates not decided")
        return []
    if timezone.now() - frame.received_at > PLATE_FRAME_MAX_AGE:
        log.info("frame %s: too old for the gate, plates not read", frame_id)
        return []
    try:
        with default_storage.open(frame.image.name, "rb") as handle:
            data = handle.read()
    except FileNotFoundError:
        return []
    try:
        reads = plates_read(data)
    except PlateModelRefused as refused:
        # Every frame of every gate would repeat it: logged once per process and file state.
        if str(refused) not in _refusals_logged:
            _refusals_logged.add(str(refused))
            log.error("plates are not read at any gate: %s", refused)
        return []
    return gate_plates_decide(frame=frame, reader=reader, reads=reads)


def gate_plates_decide(*, frame, reader, reads: list[PlateRead]) -> list[GateDecision]:
    """Decide the confident reads of `frame` at the gate's `reader` (its door's controller):
    a plate once while it stays in view of this reader (until it has not been seen for
    PLATE_DEBOUNCE), and once per frame (a task run again decides nothing twice). A refused
    plate still in view is decided again when the access version has moved since its refusal
    and the answer would now differ (its plate registered, the lockdown lifted): the car
    that waits at the barrier is let in, and one that is still refused adds no denial."""
    from .decisions import ReaderForeign, ReaderUnknown, decision_make

    ttl = PLATE_DEBOUNCE.total_seconds()
    decided: list[GateDecision] = []
    for read in reads[:PLATES_PER_FRAME]:
        key = _debounce_key(reader.pk, read.text)
        if read.score < PLATE_MIN_SCORE:
            # Still a sighting of a plate in view (a no-op for one that is not).
            cache.touch(key, ttl)
            decided.append(GateDecision(read.text, read.score, None, None, "low_score"))
            continue
        # The key stands for "this plate is in view at this gate": taken atomically by the
        # first sighting (Redis in the full stack, so two workers reading consecutive frames
        # of one car at the same moment do not both decide), and its window restarted by
        # every later one, so a car that waits at the barrier is decided once, however
        # long it waits, and again only after it has been out of view for PLATE_DEBOUNCE,
        # or after a change lets a refused one through.
        if cache.add(key, _DECIDING, ttl):
            claim = key
            try:
                mark = _first_sighting_mark(key=key, frame=frame, reader=reader, text=read.text)
            except BaseException:
                cache.delete(key)  # not left "being decided" while the car waits
                raise
        else:
            cache.touch(key, ttl)
            claim, mark = _redecision_claim(key=key, reader=reader, text=read.text)
        if mark is None:
            decided.append(GateDecision(read.text, read.score, None, None, "debounced"))
            continue
        try:
            outcome = decision_make(
                controller=reader.door.controller,
                reader_code=reader.code,
                kind=CredentialKind.PLATE,
                number=read.text,
                # A camera's frame says nothing about the gate's controller being online.
                touch=False,
                frame_id=frame.pk,
                plate_box=list(read.box),
            )
        except (ReaderUnknown, ReaderForeign):
            # The reader was moved to another door or controller since the frame came in.
            cache.delete(claim)
            log.warning("gate reader %s is not its controller's now", reader.pk)
            return decided
        except BaseException:
            cache.delete(claim)  # a retry may decide it
            raise
        granted = outcome.decision.granted
        # Refused at the mark read before deciding: a change that committed meanwhile makes
        # the next sighting ask again (and add nothing if the answer stands), never miss it.
        cache.set(key, _GRANTED if granted else (_REFUSED, outcome.event.reason, mark), ttl)
        decided.append(GateDecision(read.text, read.score, outcome.event.pk, granted))
    return decided


# What a plate's in-view key holds: _DECIDING from its first sighting until the decision is
# stored, then _GRANTED, or (_REFUSED, the stored reason, the access mark it was refused at).
_DECIDING = "deciding"
_GRANTED = "granted"
_REFUSED = "refused"


def _first_sighting_mark(*, key: str, frame, reader, text: str):
    """For a plate the cache did not hold as in view (its first sighting, or a cache that was
    restarted or is another process's): the access mark to decide it at, or None when the
    stored events say it is decided already (the key then records what they say).

    The stored events debounce across cache restarts and a task run again: a plate decided
    at this reader within PLATE_DEBOUNCE of the frame is not decided again, unless that was a
    refusal that would not stand now. The event does not say which access version refused it,
    so the answer is asked of the current snapshot instead: a change made while the cache was
    lost still lets the waiting car through, and a refusal that stands adds no denial."""
    from .models import AccessEvent

    latest = (
        AccessEvent.objects.filter(
            reader=reader,
            credential_kind=CredentialKind.PLATE,
            credential_number=text,
            occurred_at__gte=frame.received_at - PLATE_DEBOUNCE,
        )
        .order_by("-occurred_at", "-id")
        .values_list("kind", "reason")
        .first()
    )
    if latest is None:
        from .snapshot import access_mark

        return access_mark()
    kind, reason = latest
    if kind == EventKind.GRANTED:
        cache.set(key, _GRANTED, PLATE_DEBOUNCE.total_seconds())
        return None
    mark, stands = _refusal_stands(reader=reader, text=text, reason=reason)
    if stands:
        cache.set(key, (_REFUSED, reason, mark), PLATE_DEBOUNCE.total_seconds())
        return None
    return mark


def _redecision_claim(*, key: str, reader, text: str) -> tuple[str, Any] | tuple[None, None]:
    """For a plate in view: (a key claimed for deciding it again, the access mark to decide
    it at) when it was refused, the access version has moved since, and the refusal would
    not stand now; (None, None) when it stays debounced. Not on a timer: a car that just
    waits is not refused again and again (the repeated-denials detector would fire)."""
    state = cache.get(key)
    if not (isinstance(state, tuple) and state[0] == _REFUSED):
        return None, None  # granted, being decided, or gone this instant
    _, reason, refused_at = state
    from .snapshot import access_mark

    if access_mark() == refused_at:
        return None, None
    mark, stands = _refusal_stands(reader=reader, text=text, reason=reason)
    if stands:
        # An unrelated change (a badge elsewhere): nothing to decide, and nothing to ask
        # again until the version moves once more.
        cache.set(key, (_REFUSED, reason, mark), PLATE_DEBOUNCE.total_seconds())
        return None, None
    # One decision per version, whichever worker reads the next frame first (the key's
    # cache.add, as for a first sighting).
    claim = f"{key}:v{mark[0]}"
    if not cache.add(claim, 1, PLATE_DEBOUNCE.total_seconds()):
        return None, None
    return claim, mark


def _refusal_stands(*, reader, text: str, reason: str) -> tuple[Any, bool]:
    """The current access mark, and whether plate `text` would be refused at `reader` now for
    `reason` again: asked of the process's snapshot, nothing stored. An antipassback refusal
    is asked as of the person still being inside, as when they were refused (their way out
    is an event, not an access change); any other answer ignores antipassback, so that a
    grant it would refuse is decided, and stored, by decision_make."""
    from .evaluator import decide
    from .snapshot import current_snapshot_marked

    mark, snapshot = current_snapshot_marked()
    last = Direction.IN if reason == Reason.ANTIPASSBACK else None
    try:
        answer = decide(
            snapshot,
            reader.code,
            reader.door.controller_id,
            CredentialKind.PLATE,
            text,
            timezone.now(),
            last,
        )
    except KeyError:  # the reader is not its controller's now: decision_make says so
        return mark, False
    return mark, not answer.granted and answer.reason == reason


_warned: set[tuple[str, int]] = set()
_refusals_logged: set[str] = set()


def _warn_once(reader_id: int, message: str) -> None:
    """Log `message` (with the reader's id) once per reader and process: every frame of the
    gate's camera would repeat it."""
    if (message, reader_id) not in _warned:
        _warned.add((message, reader_id))
        log.warning(message, reader_id)


def _debounce_key(reader_id: int, plate: str) -> str:
    return f"access:plate:{reader_id}:{plate.encode('unicode_escape').decode('ascii')}"


def plate_crop(data: bytes, box, *, margin: float = 0.15) -> bytes:
    """The JPEG of `box` ([x0, y0, x1, y1] in 0..1) cut out of the image `data`, with a
    margin of `margin` times the box's size on each side; re-encoded, so no metadata is
    passed on. ValueError for a box that is not four numbers in 0..1 with x0 < x1, y0 < y1."""
    x0, y0, x1, y1 = _box_checked(box)
    image = _decoded(data)
    width, height = image.size
    dx, dy = (x1 - x0) * margin, (y1 - y0) * margin
    left = max(0, int((x0 - dx) * width))
    top = max(0, int((y0 - dy) * height))
    right = min(width, max(left + 1, round((x1 + dx) * width)))
    bottom = min(height, max(top + 1, round((y1 + dy) * height)))
    out = io.BytesIO()
    image.crop((left, top, right, bottom)).save(out, format="JPEG", quality=90)
    return out.getvalue()


def _box_checked(box) -> tuple[float, float, float, float]:
    if not isinstance(box, list | tuple) or len(box) != 4:
        raise ValueError("a plate box is four numbers [x0, y0, x1, y1]")
    if not all(isinstance(v, int | float) and not isinstance(v, bool) for v in box):
        raise ValueError("a plate box is four numbers [x0, y0, x1, y1]")
    x0, y0, x1, y1 = (float(v) for v in box)
    if not (0 <= x0 < x1 <= 1 and 0 <= y0 < y1 <= 1):
        raise ValueError("a plate box lies in 0..1 with x0 < x1 and y0 < y1")
    return x0, y0, x1, y1
