"""The CSV files of export buckets: their names, their cells, and writing them so that
a reader never sees half a file (a temporary file, fsync, then a rename).

Names come from the step's pattern (validated at activation to hold no directory) and
are made safe again here; the file lands under `<export dir>/<journey id>/<step id>/`
and never outside the export directory.
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
import uuid
from collections.abc import Iterable, Sequence
from datetime import date, datetime
from pathlib import Path
from typing import Any

from activities.file_places import within
from domain.steps.exports import RELATION_FIELDS

_UNSAFE = re.compile(r"[^A-Za-z0-9._+-]+")
# A spreadsheet runs a cell that starts with one of these as a formula: a relation's
# name typed into a form as `=HYPERLINK(...)` must stay text for customer service.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:60]


def file_name(
    pattern: str, *, journey: str, journey_id: int, step: str, bucket: str, part: int
) -> str:
    """The file name of a bucket's part (`-part2` before the extension from part 2)."""
    name = pattern
    for variable, value in (
        ("journey", slug(journey) or f"journey-{journey_id}"),
        ("journey_id", str(journey_id)),
        ("step", step),
        ("bucket", bucket),
    ):
        name = name.replace("{" + variable + "}", value)
    stem, dot, extension = name.rpartition(".")
    if part > 1:
        name = f"{stem}-part{part}{dot}{extension}" if dot else f"{name}-part{part}"
    name = _UNSAFE.sub("-", name).lstrip(".-") or f"export-{bucket}.csv"
    return name[:200]


def relative_path(journey_id: int, step_id: str, name: str) -> str:
    return f"{journey_id}/{_UNSAFE.sub('-', step_id)}/{name}"


def inside(export_dir: Path, relative: str) -> Path:
    """The file's place under the export directory; ValueError for anything outside."""
    target = within(export_dir, relative)
    if target is None:
        raise ValueError(f"export path {relative!r} is outside the export directory")
    return target


def cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, dict | list):
        text = json.dumps(value, ensure_ascii=False, sort_keys=True)
    else:
        text = str(value)
    return "'" + text if text.startswith(_FORMULA_START) else text


def row_of(
    fields: Sequence[str], relation: Any, trip_id: str, reached: datetime | None
) -> list[str]:
    """One line: standard fields from the relation's columns, trip facts from the trip,
    anything else from its custom fields."""
    values: list[str] = []
    for field in fields:
        if field == "trip_id":
            values.append(cell(trip_id))
        elif field == "reached_at":
            values.append(cell(reached))
        elif field in RELATION_FIELDS:
            values.append(cell(getattr(relation, field)))
        else:
            values.append(cell((relation.custom or {}).get(field)))
    return values


def render(fields: Sequence[str], rows: Iterable[Sequence[str]]) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(fields)
    writer.writerows(rows)
    return buffer.getvalue().encode()


def write_atomically(target: Path, content: bytes) -> None:
    """Write to a temporary file beside the target, fsync, rename over the target and
    fsync the directory: the file appears whole or not at all, also after a crash."""
    target.parent.mkdir(parents=True, exist_ok=True)
    draft = target.with_name(f".{target.name}.{uuid.uuid4().hex}.tmp")
    try:
        with open(draft, "wb") as out:
            out.write(content)
            out.flush()
            os.fsync(out.fileno())
        os.replace(draft, target)
    finally:
        if draft.exists():
            draft.unlink()
    directory = os.open(target.parent, os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)
