"""The live alert wall: open incidents, kept live over /ws/alerts/ by static/js/alerts.js."""

from django.contrib.auth.decorators import login_required
from django.shortcuts import render

from apps.core.choices import Severity
from apps.core.roles import require_operator

from ..events import incident_payload
from ..selectors import WALL_ALWAYS_SHOWN, alert_last_id, incident_wall

# Medium and low incidents drawn at first, per severity; the rest wait behind "N more low —
# show" (the page reads them from the incident list API). Critical and high are all drawn.
LOWER_SHOWN = 25


@login_required
def alert_wall(request):
    require_operator(request)
    # Read before the incidents: an alert committed in between is replayed on the first
    # resume (the page applies it again, harmlessly), never missed.
    last_id = alert_last_id()
    wall = incident_wall(viewer=request.user, lower_shown=LOWER_SHOWN)
    counts = wall.counts
    return render(
        request,
        "incidents/wall.html",
        {
            "severities": [
                {
                    "value": severity,
                    "name": Severity(severity).label,
                    "n": counts[severity],
                    "always": severity in WALL_ALWAYS_SHOWN,
                }
                for severity in wall.ids
            ],
            "open_total": sum(counts.values()),
            "unacknowledged": len(wall.new),
            "incidents": [incident_payload(i) for i in wall.shown],
            "wall_state": {"ids": wall.ids, "new": wall.new},
            "last_alert_id": last_id,
            "lower_shown": LOWER_SHOWN,
        },
    )
