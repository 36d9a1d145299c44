"""What the registry tells the apps above it, and asks of them, without importing them."""

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

from django.dispatch import Signal

# Sent after an operator's verdict was filed as a sample (kwargs: `sample`), inside the
# verdict's transaction; apps/labelling queues disagreeing verdicts from it.
verdict_sample_filed = Signal()


@dataclass(frozen=True)
class ClassNeed:
    """Something above that fires only on some classes of the vision models: a camera rule."""

    rule_id: int
    camera_id: int
    camera: str
    rule: str
    classes: tuple[str, ...]


# Providers of what is needed (apps/cameras registers its enabled rules in its AppConfig),
# so the registry can refuse a promotion that would leave one blind.
_class_needs: list[Callable[[], Iterable[ClassNeed]]] = []


def class_needs_register(provider: Callable[[], Iterable[ClassNeed]]) -> None:
    if provider not in _class_needs:
        _class_needs.append(provider)


def class_needs() -> Iterator[ClassNeed]:
    for provider in _class_needs:
        yield from provider()
