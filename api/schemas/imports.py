from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import Field

from api.schemas.common import Output

Status = Literal["queued", "running", "finished", "failed"]
RowOutcome = Literal["new", "updated", "invalid"]


class ImportPublic(Output):
    id: int
    name: str = Field(description="The file's name, as uploaded (or the import step's file)")
    status: Status = Field(
        description="queued: not begun; running; finished (every row handled, some may "
        "be invalid); failed: the file could not be imported (see `error`)"
    )
    total: int = Field(description="Data rows in the file (known once it runs)")
    processed: int = Field(description="Rows handled so far (new, updated or invalid)")
    new: int = Field(description="Rows that created a relation")
    updated: int = Field(description="Rows that updated an existing relation")
    invalid: int = Field(description="Rows refused: see /imports/{id}/rows?outcome=invalid")
    percent: float = Field(description="processed / total, 0-100")
    map: dict[str, str] = Field(description="CSV column -> relation field")
    unique: list[str] = Field(description="The fields that recognise an existing relation")
    error: str | None = Field(description="Why the whole import failed")
    trip_id: str | None = Field(description="The trip whose import step started it")
    step_id: str | None
    created_at: datetime = Field(description="When it was uploaded (or the step reached)")
    finished_at: datetime | None


class ImportsPublic(Output):
    data: list[ImportPublic]
    count: int


class ImportRowPublic(Output):
    row: int = Field(description="The data row's number (1 = the first row after the header)")
    outcome: RowOutcome
    relation_id: int | None = Field(description="The relation it made or updated")
    error: str | None = Field(description="Why it was refused: the field, never the value")


class ImportRowsPublic(Output):
    data: list[ImportRowPublic]
    count: int
