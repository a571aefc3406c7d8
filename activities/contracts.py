"""The activity contract between trip workflows and the worker.

Workflows import this module and nothing else from `activities/`: names and pydantic
inputs/outputs only, no I/O imports. Inputs carry ids, never a relation's personal data,
because everything here is stored in Temporal's history.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, field_validator

from domain.conditions import Condition
from domain.definition import JourneyDefinition, parse_frozen

TASK_QUEUE = "reisplan-trips"

RECORD_STEP = "record_step"
CHECK_CONDITION = "check_condition"
SEND_EMAIL = "send_email"
FINISH_TRIP = "finish_trip"
SYNC_CLOSED_TRIPS = "sync_closed_trips"

# Registered on the Temporal namespace (dev server flags, test fixtures, cluster set-up).
SEARCH_ATTRIBUTES: dict[str, str] = {
    "JourneyId": "Keyword",
    "JourneyVersion": "Int",
    "RelationId": "Keyword",
    "Step": "Keyword",
}


class _Contract(BaseModel):
    model_config = ConfigDict(frozen=True)


class TripInput(_Contract):
    """What a trip workflow starts with: ids and the frozen journey version.

    The definition travels as plain JSON and is parsed by the workflow with
    `parse_frozen`: decoding it with today's validators on every replay would strand
    running trips whenever a validation rule gets stricter.
    """

    trip_id: str
    journey_id: int
    journey_version: int
    relation_id: int
    definition: dict[str, Any]

    @field_validator("definition", mode="before")
    @classmethod
    def _as_json(cls, value: Any) -> Any:
        if isinstance(value, JourneyDefinition):
            return value.model_dump(mode="json", by_alias=True)
        return value

    def frozen_definition(self) -> JourneyDefinition:
        return parse_frozen(self.definition)


class TripStatus(StrEnum):
    running = "running"
    completed = "completed"
    cancelled = "cancelled"
    failed = "failed"


class StepVisit(_Contract):
    """Identifies one passage of a trip through a step; `seq` counts from 1 per trip.

    (trip_id, seq) is the idempotency key of everything written for that passage.
    """

    trip_id: str
    seq: int
    step_id: str
    step_type: str
    entered_at: datetime


class RecordStepInput(_Contract):
    visit: StepVisit
    outcome: str
    detail: str = ""
    # The step the relation is at after this write (None when the trip ends here).
    waiting_until: datetime | None = None


class CheckConditionInput(_Contract):
    visit: StepVisit
    relation_id: int
    condition: Condition


class CheckConditionResult(_Contract):
    result: bool
    reason: str
    relation_exists: bool = True


class SendEmailInput(_Contract):
    visit: StepVisit
    relation_id: int
    journey_id: int
    template: str


class SendStatus(StrEnum):
    sent = "sent"
    bounced = "bounced"  # permanent SMTP refusal (5xx): recorded, the trip goes on
    skipped = "skipped"  # no consent, no address, or relation erased
    failed = "failed"  # could not be built (template error): recorded, the trip goes on
    uncertain = "uncertain"  # a worker died mid-transaction: never retried, to avoid a double


class SendEmailResult(_Contract):
    status: SendStatus
    detail: str = ""
    message_id: str | None = None
    relation_exists: bool = True


class FinishTripInput(_Contract):
    trip_id: str
    status: TripStatus
    ended_at: datetime


class SyncClosedTripsInput(_Contract):
    """How far back to look for trips that Temporal closed without our code running
    (terminated in the Web UI, timed out, failed): their row would say running for ever."""

    lookback: timedelta = timedelta(hours=24)


class SyncClosedTripsResult(_Contract):
    examined: int
    closed: int
