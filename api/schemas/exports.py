from __future__ import annotations

from datetime import datetime

from pydantic import Field

from api.schemas.common import Output


class ExportFilePublic(Output):
    id: int
    journey_id: int
    step_id: str = Field(description="The export step that wrote it")
    bucket: str = Field(description="The period (2027-03-01, 2027-W09, ...) or run-<id>")
    part: int = Field(description="2, 3, ... for trips that came after the bucket was written")
    rows: int
    created_at: datetime


class ExportFilesPublic(Output):
    data: list[ExportFilePublic]
    count: int
