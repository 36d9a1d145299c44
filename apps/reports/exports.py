"""CSV export of audit entries, safe to open in a spreadsheet."""

import csv
import json
from collections.abc import Iterable, Iterator

from apps.core.models import AuditLog
from apps.incidents.exports import csv_cell


def detail_text(detail) -> str:
    """An entry's detail as compact JSON text, for the page and the export alike."""
    return json.dumps(detail, ensure_ascii=False, sort_keys=True) if detail else ""


AUDIT_COLUMNS = [
    "id",
    "at",
    "actor_id",
    "actor",
    "action",
    "target_type",
    "target_id",
    "ip",
    "detail",
]


class _Echo:
    def write(self, line: str) -> str:
        return line


def audit_csv(entries: Iterable[AuditLog]) -> Iterator[str]:
    """The CSV lines, header first; every cell defused against spreadsheet formulas."""
    writer = csv.writer(_Echo())
    yield writer.writerow(AUDIT_COLUMNS)
    for e in entries:
        yield writer.writerow(
            [
                csv_cell(v)
                for v in (
                    e.pk,
                    e.at.isoformat(),
                    e.actor_id,
                    e.actor_name,
                    e.action,
                    e.target_type,
                    e.target_id,
                    e.ip,
                    detail_text(e.detail),
                )
            ]
        )
