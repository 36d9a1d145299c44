"""Template context: how many hand-offs wait for staff, for the navigation's badge."""

from .choices import HandoffStatus
from .models import Handoff


def handoffs_waiting(request) -> dict:
    """`handoffs_waiting`: a callable, so the count is queried only where a template shows it
    (templates call callables). base.html shows it to staff only, inside `is_operator`."""

    def count() -> int:
        return Handoff.objects.filter(status=HandoffStatus.OPEN).count()

    return {"handoffs_waiting": count}
