"""The activity contract between trip workflows and the worker.

Workflows import this module and nothing else from `activities/`: names and pydantic
inputs/outputs only, no I/O imports. Inputs carry ids, never a relation's personal data,
because everything here is stored in Temporal's history.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, Literal

from pydantic import AliasChoices, BaseModel, ConfigDict, Field, field_validator
from temporalio.common import SearchAttributeKey

from domain.conditions import Condition
from domain.definition import JourneyDefinition, parse_frozen
from domain.schema import TimeWindow

# Re-exported: activity results and inputs speak in these statuses.
from domain.statuses import Outcome as Outcome
from domain.statuses import SendStatus as SendStatus
from domain.statuses import TripStatus as TripStatus

TASK_QUEUE = "reisplan-trips"


def mail_queue(task_queue: str) -> str:
    """The task queue of the send activities beside a trip task queue: Temporal paces
    it (worker options `max_activities_per_second`, `max_task_queue_activities_per_second`)
    without slowing the trips' other activities."""
    return f"{task_queue}-mail"


# Workflow types.
TRIP_WORKFLOW = "Trip"
SYNC_CLOSED_TRIPS_WORKFLOW = "SyncClosedTrips"
RESEND_EMAIL_WORKFLOW = "ResendEmail"
DISPATCH_WORKFLOW = "Dispatch"
ADMIT_MEMBERS_WORKFLOW = "AdmitMembers"

# Signals a running trip hears: an event of a type it listens for (its goals, its
# wait_for_event steps). Carries ids and which of its steps and goals match, never the
# payload.
EVENT_SIGNAL = "event"

# Activity types. Names are part of every recorded history: never rename one.
RECORD_PASSAGES = "record_passages"
CHECK_CONDITION = "check_condition"
SEND_EMAIL = "send_email"
FINISH_TRIP = "finish_trip"
SYNC_CLOSED_TRIPS = "sync_closed_trips"
RESEND_EMAIL = "resend_email"
DISPATCH = "dispatch"
ADMIT_PAGE = "admit_page"
FIND_EVENTS = "find_events"
# Used only by trips started before bookkeeping was folded into the steps' activities
# (workflows/legacy.py); remove with it.
RECORD_STEP = "record_step"

# Search attributes of a trip, registered on the Temporal namespace (dev server flags,
# test fixtures, cluster set-up). Values are ids and step names, never personal data.
JOURNEY_ID = SearchAttributeKey.for_keyword("JourneyId")
JOURNEY_VERSION = SearchAttributeKey.for_int("JourneyVersion")
RELATION_ID = SearchAttributeKey.for_keyword("RelationId")
STEP = SearchAttributeKey.for_keyword("Step")
TRIP_SEARCH_ATTRIBUTES: tuple[SearchAttributeKey[Any], ...] = (
    JOURNEY_ID,
    JOURNEY_VERSION,
    RELATION_ID,
    STEP,
)
SEARCH_ATTRIBUTES: dict[str, str] = {
    key.name: {"keyword": "Keyword", "int": "Int"}[key.indexed_value_type.name.lower()]
    for key in TRIP_SEARCH_ATTRIBUTES
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
    # None: admitted by an event that names no known relation (a step gives it one).
    relation_id: int | None
    definition: dict[str, Any]
    # What admitted it (for the Web UI and for `event.x` in conditions and templates,
    # whose payload activities load by id). Absent in trips started before events.
    trigger: str | None = None
    event_id: int | None = None
    # The step to begin at (the relations an import step brought in start at its way
    # out); None, as in every trip before imports: the first step.
    start_at: str | None = None

    @field_validator("definition", mode="before")
    @classmethod
    def _as_json(cls, value: Any) -> Any:
        if isinstance(value, JourneyDefinition):
            return value.model_dump(mode="json", by_alias=True)
        return value

    def frozen_definition(self) -> JourneyDefinition:
        return parse_frozen(self.definition)


class PassageKey(_Contract):
    """One passage of a trip through a step (one row of its path); `seq` counts from 1
    per trip. (trip_id, seq) is the idempotency key of everything written for it."""

    trip_id: str
    seq: int
    step_id: str
    step_type: str
    entered_at: datetime


class PassageWrite(_Contract):
    """A passage's state to record: written (or rewritten) by whichever activity the
    trip runs next, so bookkeeping rides along instead of costing its own round trip."""

    passage: PassageKey
    outcome: Outcome
    detail: str = ""
    waiting_until: datetime | None = None


class RecordPassagesInput(_Contract):
    writes: list[PassageWrite]


class RecordStepInput(_Contract):
    """Input of the legacy `record_step` activity (workflows/legacy.py)."""

    passage: PassageKey = Field(validation_alias=AliasChoices("passage", "visit"))
    outcome: str
    detail: str = ""
    waiting_until: datetime | None = None


class CheckConditionInput(_Contract):
    # `visit` is how trips started before the passage rename spell it.
    passage: PassageKey = Field(validation_alias=AliasChoices("passage", "visit"))
    relation_id: int
    condition: Condition
    event_id: int | None = None  # the admitting event, for `event.amount`
    writes: list[PassageWrite] = Field(default_factory=list, description="written first")


class CheckConditionResult(_Contract):
    result: bool
    reason: str
    relation_exists: bool = True


def resend_workflow_id(send_key: str, attempts: int) -> str:
    """One resend per uncertain episode: the ledger's attempt count changes with each."""
    return f"resend:{send_key}:{attempts}"


class ResendEmailInput(_Contract):
    """An uncertain send to make again, by its ledger key (`{trip_id}/{step_id}`)."""

    send_key: str
    # The ledger's attempt count when the resend was asked for: a retry of this resend
    # that finds the send uncertain again (a later episode) leaves it alone.
    attempts: int


class SendPressure(_Contract):
    """What the send step and the journey say about when this mail may go."""

    window: TimeWindow | None = None
    zone: str = "UTC"  # the journey's timezone: for relations without one of their own
    transactional: bool = False
    when_capped: Literal["wait", "skip"] = "wait"
    # Temporal's time when the workflow scheduled this attempt: rules are judged on it,
    # so a time-skipping test (or a replay) sees the trip's own clock.
    now: datetime


class SendEmailInput(_Contract):
    passage: PassageKey = Field(validation_alias=AliasChoices("passage", "visit"))
    relation_id: int
    journey_id: int
    template: str
    writes: list[PassageWrite] = Field(default_factory=list, description="written first")
    # The trip ends after this step: close it in the same transaction as the outcome.
    ends_trip: bool = False
    event_id: int | None = None  # the admitting event, for `{{ event.fund }}`
    # Set by trips that let the activity apply the send window, in the relation's own
    # timezone (the journey's when it has none), with the contact-pressure policy.
    pressure: SendPressure | None = None


class SendEmailResult(_Contract):
    status: SendStatus
    detail: str = ""
    message_id: str | None = None
    relation_exists: bool = True
    # `deferred`: the policy's rule that held the mail back, and when it may go.
    rule: str = ""
    not_before: datetime | None = None


class FinishTripInput(_Contract):
    trip_id: str
    status: TripStatus
    ended_at: datetime
    writes: list[PassageWrite] = Field(default_factory=list, description="written first")


class SyncClosedTripsInput(_Contract):
    """How far back to look for trips that Temporal closed without our code running
    (terminated in the Web UI, timed out, failed): their row would say running for ever."""

    lookback: timedelta = timedelta(hours=24)


class SyncClosedTripsResult(_Contract):
    examined: int
    closed: int
    stuck: int = 0  # running trips whose workflow task keeps failing
    resent: int = 0  # uncertain sends started again (REISPLAN_UNCERTAIN_SENDS=resend)
    redispatched: int = 0  # events and segment changes a crash left undispatched


# --- events ----------------------------------------------------------------------------


class DispatchInput(_Contract):
    """One stored cause to act on: an event (and the segment change it caused), or a
    segment change of its own (a field or group change). Workflow id
    `dispatch:event:{id}` or `dispatch:change:{id}`: starting it twice does it once."""

    event_id: int | None = None
    change_id: int | None = None


class DispatchResult(_Contract):
    admitted: list[str] = Field(default_factory=list, description="trip ids started")
    refused: int = 0  # matched, but the re-entry setting (or a race) said no
    signalled: list[str] = Field(default_factory=list, description="running trips told")


class EventSignal(_Contract):
    """An event for a running trip: which of its wait_for_event steps and goals match
    it (decided by the dispatch activity, which reads the payload; the trip never does)."""

    event_id: int
    type: str
    steps: list[str] = Field(default_factory=list)
    exits: bool = False


class FindEventsInput(_Contract):
    """A wait_for_event step asks which matching events the relation already has since
    its trip began (after the event that admitted it, or after its admission): an
    event that came just before the trip reached the step is not missed."""

    trip_id: str
    # None: only the journey's goals (asked when a trip with goals starts).
    step_id: str | None = None
    writes: list[PassageWrite] = Field(default_factory=list, description="written first")


class FindEventsResult(_Contract):
    event_ids: list[int] = Field(default_factory=list)
    # A goal event already there: leave at once.
    exit_event_id: int | None = None
    exit_event_type: str | None = None


# --- large admissions --------------------------------------------------------------------


class AdmitMembersInput(_Contract):
    """An admission run (a row of `admission_run`) to carry out, page by page."""

    run_id: int


class AdmitPageInput(_Contract):
    run_id: int


class AdmitPageResult(_Contract):
    admitted: int
    skipped: int
    done: bool


# --- recurring dates ---------------------------------------------------------------------
# One Temporal Schedule per recurring_date trigger of an active journey
# (activities/recurring_schedules.py) starts a RecurringDate workflow every day.

# Imported here, not at the top: this section is appended to the file as it stands.
from datetime import date  # noqa: E402

RECURRING_DATE_WORKFLOW = "RecurringDate"
RUN_RECURRING_DATE = "run_recurring_date"

# Temporal sets this on every workflow a Schedule starts: the moment it was scheduled
# for, also when it runs later (a backfill, a catch-up after an outage, a buffered run).
SCHEDULED_START_TIME = SearchAttributeKey.for_datetime("TemporalScheduledStartTime")


def recurring_schedule_id(journey_id: int, trigger_index: int) -> str:
    """The Schedule's id and its workflows' id (Temporal appends the scheduled time)."""
    return f"recurring:{journey_id}:{trigger_index}"


class RecurringDateInput(_Contract):
    """What the Schedule starts RecurringDate with: ids only (the definition is read by
    the activity, from the journey's active version)."""

    journey_id: int
    trigger_index: int


class RecurringRunInput(_Contract):
    """The moment the run was scheduled for, not its local day: the journey's timezone
    is read with the active version, by the activity (inputs stay ids and moments)."""

    journey_id: int
    trigger_index: int
    scheduled_at: datetime


class RecurringRunResult(_Contract):
    # The local days the run stood for: its own, preceded by any day whose run time the
    # clock skipped (domain.recurring.days_of_run). Empty when skipped.
    days: list[date] = Field(default_factory=list)
    # Admission runs still to carry out (AdmitMembers, one child workflow each); a day
    # on which nobody's date comes round has none.
    run_ids: list[int] = Field(default_factory=list)
    skipped: str | None = None  # why nothing was done: journey inactive, trigger gone


# --- consent -----------------------------------------------------------------------------
# The unsubscribe step (domain/steps/consent.py): from this journey, all mail or all SMS.

UNSUBSCRIBE = "unsubscribe"


class UnsubscribeInput(_Contract):
    """The step's passage is its idempotency key: an attempt that finds it recorded
    changes nothing more."""

    passage: PassageKey
    relation_id: int
    journey_id: int
    scope: Literal["journey", "email", "sms"]
    writes: list[PassageWrite] = Field(default_factory=list, description="written first")
    # The trip ends after this step: close it in the same transaction as the outcome.
    ends_trip: bool = False


class UnsubscribeResult(_Contract):
    detail: str = ""  # what changed, in words without personal data
    relation_exists: bool = True
    trip_running: bool = True  # False: cancelled (or gone) before this attempt; nothing done
    closed: bool = False  # the trip's end was recorded with the outcome


# --- the bounce mailbox ------------------------------------------------------------------
# While REISPLAN_BOUNCE_MAILBOX is set, a Temporal Schedule (worker/schedules.py) starts
# ReadBounces every REISPLAN_BOUNCE_CHECK_EVERY seconds; its activity reads the mailbox
# and applies the bounces and complaints it finds (activities/bounces.py).

READ_BOUNCES_WORKFLOW = "ReadBounces"
READ_BOUNCE_MAILBOX = "read_bounce_mailbox"


class ReadBouncesInput(_Contract):
    limit: int = Field(default=200, ge=1, le=10_000, description="messages read per run")


class ReadBouncesResult(_Contract):
    read: int = 0  # messages read from the mailbox
    hard: int = 0  # hard bounces applied (the address suppressed)
    soft: int = 0  # soft bounces applied (suppressed at the policy's limit)
    complaints: int = 0  # spam complaints applied (the address suppressed)
    unmatched: int = 0  # reports naming no send of ours (or a forged one)
    repeated: int = 0  # reports applied before (a message read twice)
    skipped: int = 0  # messages that report nothing (auto-replies, success notices)
    failed: int = 0  # messages that could not be parsed: left in the mailbox
