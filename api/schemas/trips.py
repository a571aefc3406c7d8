from __future__ import annotations

from datetime import datetime

from pydantic import Field

from api.schemas.common import Output
from domain.statuses import TripStatus


class TripSummary(Output):
    id: str
    journey_id: int
    journey_version: int
    relation_id: int | None = Field(
        description="The relation travelling now; null for a trip an event without a "
        "relation started, until a lookup_relation, add_relation or upsert_relation step "
        "gives it one"
    )
    number: int = Field(
        description="1 for a relation's first trip through this journey, then 2, ..."
    )
    status: TripStatus
    current_step: str | None
    waiting_until: datetime | None
    started_at: datetime
    ended_at: datetime | None
    trigger: str | None = Field(
        default=None, description="The trigger that admitted the trip (null: manual add)"
    )
    event_id: int | None = Field(
        default=None,
        description="The event that admitted it; its payload is `event.*` in conditions "
        "and templates",
    )
    problem: str | None = Field(
        default=None,
        description="Set while Temporal reports this trip's workflow task failing: it "
        "cannot move on; deactivating its journey with mode=cancel ends it",
    )


class Passage(Output):
    seq: int
    step_id: str
    type: str
    entered_at: datetime
    left_at: datetime | None = Field(description="When the trip went on; null while it is here")
    outcome: str = Field(
        description="waiting and sending while it happens; then waited, passed, "
        "inside_window, then, else, jumped, sent, bounced, skipped, failed, uncertain, "
        "exited, received, timed_out, goal_reached, cancelled or relation_erased; the "
        "relation data steps: updated, unchanged, found, not_found, created, deleted"
    )
    detail: str = Field(
        description="What happened and why: the branch an `if` took, the template and "
        "Message-ID of a mail, a moment in the journey's timezone and in UTC"
    )
    waiting_until: datetime | None


class TripPublic(TripSummary):
    path: list[Passage]


class TripsPublic(Output):
    data: list[TripSummary]
    count: int
