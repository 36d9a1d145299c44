"""CSV export of incidents, safe to open in a spreadsheet."""

import csv
from collections.abc import Iterable, Iterator

from .models import Incident

EXPORT_COLUMNS = [
    "id",
    "opened_at",
    "last_seen_at",
    "kind",
    "status",
    "severity",
    "title",
    "camera",
    "label",
    "score",
    "count",
    "assignee",
    "verdict",
    "verdict_label",
    "resolved_at",
]
# A cell starting with one of these is a formula to Excel, LibreOffice and Sheets.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def csv_cell(value) -> str:
    """Text for one cell; a leading formula character is defused with a quote (OWASP)."""
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(FORMULA_STARTS) else text


class LineWriter:
    """What `csv.writer` writes to when each row should come back as a string."""

    def write(self, line: str) -> str:
        return line


def incidents_csv(incidents: Iterable[Incident]) -> Iterator[str]:
    """The CSV lines, header first, one row per incident (streamed, not held in memory)."""
    writer = csv.writer(LineWriter())
    yield writer.writerow(EXPORT_COLUMNS)
    for incident in incidents:
        yield writer.writerow(
            [
                csv_cell(v)
                for v in (
                    incident.pk,
                    incident.opened_at.isoformat(),
                    incident.last_seen_at.isoformat(),
                    incident.kind,
                    incident.status,
                    incident.severity,
                    incident.title,
                    incident.camera.name if incident.camera else "",
                    incident.label,
                    incident.score,
                    incident.count,
                    incident.assignee.username if incident.assignee else "",
                    incident.verdict,
                    incident.verdict_label,
                    incident.resolved_at.isoformat() if incident.resolved_at else "",
                )
            ]
        )
