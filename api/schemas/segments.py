from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import Field, field_validator

from api.schemas.common import Input, Key, Output
from domain.conditions import Condition, bounded


class _WithCondition(Input):
    condition: Condition = Field(
        description='The condition language of `if`, plus `{"event": T, "where": ..., '
        '"within": "P30D"}`; fields of an admitting event (`event.x`) have no meaning here',
        examples=[{"field": "city", "op": "eq", "value": "Utrecht"}],
    )

    @field_validator("condition", mode="before")
    @classmethod
    def _bounded(cls, raw: Any) -> Any:
        return bounded(raw)


class SegmentCreate(_WithCondition):
    key: Key
    name: str = Field(min_length=1, max_length=200)


class SegmentUpdate(_WithCondition):
    name: str | None = Field(default=None, min_length=1, max_length=200)


class SegmentPreview(_WithCondition):
    pass


class PreviewPublic(Output):
    count: int = Field(description="Relations that match now; nothing is stored")


class SegmentPublic(Output):
    key: str
    name: str
    condition: dict[str, Any]
    members: int
    created_at: datetime
    updated_at: datetime


class SegmentsPublic(Output):
    data: list[SegmentPublic]
    count: int


class SegmentEdited(Output):
    segment: SegmentPublic
    entered: int
    left: int
    admission_runs: list[int] = Field(
        description="Runs admitting the entrants to active journeys with a segment_entry "
        "trigger on this segment (see /journeys/{id}/admissions)"
    )
