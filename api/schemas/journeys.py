from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import Field, field_validator

from api.schemas.common import Id, Input, Output
from api.schemas.mail_stats import MailStats
from domain.definition import JourneyDefinition, parse_frozen
from domain.statuses import JourneyStatus


class JourneyBase(Input):
    definition: JourneyDefinition


class JourneyCreate(JourneyBase):
    pass


class JourneyUpdate(JourneyBase):
    """Replaces the draft; only while the journey is not active."""


class JourneyPublic(Output):
    id: int
    name: str
    status: JourneyStatus
    active_version: int | None = Field(description="The version new trips run; null unless active")
    definition: JourneyDefinition = Field(
        description="The draft (equal to the active version while active)"
    )
    created_at: datetime
    updated_at: datetime

    @field_validator("definition", mode="before")
    @classmethod
    def _as_stored(cls, value: Any) -> Any:
        # A draft saved under an earlier release's bounds is shown as it was saved (a
        # tightened bound must not make reading it a 500); editing or activating it
        # checks it against today's rules.
        return parse_frozen(value) if isinstance(value, dict) else value


class JourneysPublic(Output):
    data: list[JourneyPublic]
    count: int


class VersionPublic(Output):
    version: int
    digest: str
    definition: JourneyDefinition
    created_at: datetime


class VersionsPublic(Output):
    data: list[VersionPublic]
    count: int


class SyncedGroupPublic(Output):
    step_id: str
    group: str
    added: int = Field(description="Selected relations that joined the group")
    removed: int = Field(description="Members that were not selected and left it")
    done: bool = Field(description="The group equals the selection (false: in progress)")


class AdmissionRunPublic(Output):
    """A large admission (current segment members, a segment edit's entrants, a
    recurring date's day, a selection) and how far it got."""

    id: int
    journey_version: int
    trigger: str
    source: dict[str, Any] = Field(
        description='What it admits: {"segment": key}, {"group": key}, {"journey": id}, '
        '{"date_field": f, "month_days": [...]}, ...'
    )
    status: str = Field(
        description="running, finished, or stopped (the journey was deactivated first)"
    )
    total: int = Field(description="Relations the source held when the run began")
    admitted: int
    skipped: int = Field(description="Refused by the re-entry setting, or erased meanwhile")
    selected: int | None = Field(
        default=None,
        description="Selections: relations selected so far (admitted or refused alike), "
        "what a sync_group step makes its group equal to",
    )
    synced: list[SyncedGroupPublic] = Field(
        default_factory=list,
        description="Selections: what each sync_group step did to its group when the run "
        "had admitted everyone",
    )
    started_at: datetime
    finished_at: datetime | None


class AdmissionRunsPublic(Output):
    data: list[AdmissionRunPublic]
    count: int


class ActivationPublic(JourneyPublic):
    admission_runs: list[AdmissionRunPublic] = Field(
        default_factory=list,
        description="With members=current: the runs admitting each segment_entry "
        "trigger's current members; and the one run of each selection trigger without a "
        "schedule (follow them at /journeys/{id}/admissions)",
    )


class DeactivationPublic(Output):
    journey: JourneyPublic
    mode: Literal["drain", "cancel"]
    running_trips: int = Field(description="Trips still running when the request was made")
    batch_job_id: str | None = Field(
        description="Temporal batch operation cancelling the running trips (mode=cancel)"
    )


class StepStats(Output):
    step_id: str
    type: str
    waiting: int = Field(description="Relations at this step now")
    passed: int = Field(
        description="Trips that reached this step and are no longer there: they moved on, "
        "or their trip ended at this step (those still waiting count under `waiting`, "
        "those cancelled here under `cancelled`)"
    )
    cancelled: int = Field(description="Trips cancelled while at this step")
    sends: SendCounts | None = Field(
        default=None, description="What became of this step's mails (send steps only)"
    )
    mail: MailStats | None = Field(
        default=None,
        description="This step's mail statistics: bounces, skips by reason, opens, clicks "
        "per link, unsubscribes, complaints, rates and conversions (send steps only)",
    )


class SendCounts(Output):
    sent: int = 0
    bounced: int = 0
    skipped: int = Field(
        default=0,
        description="No consent, suppressed, capped, no address, relation erased; or held "
        "back by the contact pressure until the trip ended",
    )
    failed: int = Field(default=0, description="Could not be built, or gave up after retries")
    uncertain: int = Field(
        default=0,
        description="The attempt died during the SMTP transaction: maybe delivered, never "
        "resent by itself; listed by GET /sends?status=uncertain",
    )
    dismissed: int = Field(default=0, description="Uncertain sends an operator chose not to resend")
    in_progress: int = Field(
        default=0,
        description="Being sent, or held back by the contact pressure, while the trip runs",
    )


class TripTotals(Output):
    running: int
    stuck: int = Field(default=0, description="Running trips that cannot move (see `problem`)")
    completed: int
    cancelled: int
    failed: int


class JourneyStats(Output):
    journey_id: int
    version: int | None = Field(description="The version whose steps are listed")
    steps: list[StepStats]
    totals: TripTotals
    sends: SendCounts = Field(description="All send steps of the journey together")
    mail: MailStats = Field(description="The mail statistics of all send steps together")


class WaitingRelation(Output):
    relation_id: int | None = Field(description="null: a trip whose event named no relation yet")
    first_name: str | None = Field(description="null once the relation was erased")
    last_name: str | None
    email: str | None
    trip_id: str
    journey_version: int
    since: datetime
    waiting_until: datetime | None


class WaitingRelations(Output):
    step_id: str
    data: list[WaitingRelation]
    count: int


class EnrollmentCreate(Input):
    relation_id: Id
