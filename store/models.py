"""Tables. Personal data lives only in `relation` (and its custom fields); everything
else refers to a relation by id, so deleting the relation row erases the person."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import JSON, Column, Index, UniqueConstraint
from sqlmodel import Field, SQLModel

from domain.statuses import JourneyStatus, SendStatus, TripStatus
from store.types import UtcDateTime


def utcnow() -> datetime:
    return datetime.now(UTC)


def _ts(**kwargs: Any) -> Any:
    return Field(sa_column=Column(UtcDateTime(), **kwargs))


# SQLite reuses the highest rowid after a delete unless AUTOINCREMENT is set; a reused
# relation id would hand an erased person's parked trips to a new person.
_NEVER_REUSE_IDS = {"sqlite_autoincrement": True}


class Relation(SQLModel, table=True):
    __table_args__ = _NEVER_REUSE_IDS
    id: int | None = Field(default=None, primary_key=True)
    email: str | None = Field(default=None, index=True, max_length=320)
    phone: str | None = Field(default=None, max_length=40)
    first_name: str | None = Field(default=None, max_length=200)
    last_name: str | None = Field(default=None, max_length=200)
    birth_date: date | None = None
    timezone: str | None = Field(default=None, max_length=64)
    locale: str | None = Field(default=None, max_length=16)
    opt_in_email: bool = True
    opt_in_sms: bool = False
    custom: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    # The relation's id in another system (a webshop, a CRM): events may name it instead.
    external_id: str | None = Field(default=None, unique=True, index=True, max_length=200)
    # Set (lower-cased email) on relations that events created by address: unique, so two
    # events for a new person at once create one relation (Actito's reconciliation).
    email_claim: str | None = Field(default=None, unique=True, index=True, max_length=320)
    created_at: datetime = _ts(nullable=False, default=utcnow)
    updated_at: datetime = _ts(nullable=False, default=utcnow, onupdate=utcnow)


class Event(SQLModel, table=True):
    """Something a relation did, with its payload. Stored before the API answers 2xx;
    the Dispatch workflow started for it admits and signals (see activities/dispatch.py)."""

    # A relation's events in id order: the look-backs of its trips and their horizon.
    __table_args__ = (Index("ix_event_relation_order", "relation_id", "id"), _NEVER_REUSE_IDS)
    id: int | None = Field(default=None, primary_key=True)
    # None: an event that names no known relation (a form post to a journey that starts
    # at the event and finds or adds the relation itself: Deployteq's "start at event").
    relation_id: int | None = Field(
        default=None, foreign_key="relation.id", index=True, ondelete="CASCADE"
    )
    type: str = Field(max_length=100, index=True)
    payload: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    occurred_at: datetime = _ts(nullable=False)
    received_at: datetime = _ts(nullable=False, default=utcnow)
    # The same key twice has one effect and answers with the first result.
    idempotency_key: str | None = Field(default=None, unique=True, max_length=200)
    relation_created: bool = False
    # The segment change this event caused, if any (dispatched with it).
    change_id: int | None = None
    dispatched_at: datetime | None = _ts(nullable=True)


class Segment(SQLModel, table=True):
    """A dynamic list: every relation that matches `condition`; membership is stored."""

    __table_args__ = _NEVER_REUSE_IDS
    id: int | None = Field(default=None, primary_key=True)
    key: str = Field(unique=True, index=True, max_length=100)
    name: str = Field(max_length=200)
    condition: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))
    created_at: datetime = _ts(nullable=False, default=utcnow)
    updated_at: datetime = _ts(nullable=False, default=utcnow, onupdate=utcnow)


class SegmentMember(SQLModel, table=True):
    __tablename__ = "segment_member"
    segment_id: int = Field(foreign_key="segment.id", primary_key=True, ondelete="CASCADE")
    relation_id: int = Field(foreign_key="relation.id", primary_key=True, ondelete="CASCADE")
    since: datetime = _ts(nullable=False, default=utcnow, index=True)


class SegmentChange(SQLModel, table=True):
    """A relation entered and/or left segments in one re-evaluation: recorded once, in
    the transaction that changed the relation, so entry and shift fire exactly once."""

    __tablename__ = "segment_change"
    __table_args__ = _NEVER_REUSE_IDS
    id: int | None = Field(default=None, primary_key=True)
    relation_id: int = Field(foreign_key="relation.id", index=True, ondelete="CASCADE")
    entered: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    left: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    cause: str = Field(max_length=100)  # "fields", "groups", "event:12", "created"
    at: datetime = _ts(nullable=False, default=utcnow)
    dispatched_at: datetime | None = _ts(nullable=True)


class Group(SQLModel, table=True):
    __tablename__ = "relation_group"
    __table_args__ = _NEVER_REUSE_IDS
    id: int | None = Field(default=None, primary_key=True)
    key: str = Field(unique=True, index=True, max_length=100)
    name: str = Field(max_length=200)
    # A subgroup (e.g. `webinar-2027-03-01` under `webinar`, made by an add_to_group step).
    parent_id: int | None = Field(
        default=None, foreign_key="relation_group.id", index=True, ondelete="CASCADE"
    )
    created_at: datetime = _ts(nullable=False, default=utcnow)


class GroupMember(SQLModel, table=True):
    __tablename__ = "group_member"
    group_id: int = Field(foreign_key="relation_group.id", primary_key=True, ondelete="CASCADE")
    relation_id: int = Field(foreign_key="relation.id", primary_key=True, ondelete="CASCADE")
    added_at: datetime = _ts(nullable=False, default=utcnow)


class Template(SQLModel, table=True):
    __table_args__ = _NEVER_REUSE_IDS
    id: int | None = Field(default=None, primary_key=True)
    key: str = Field(unique=True, index=True, max_length=100)
    name: str = Field(default="", max_length=200)
    subject: str = Field(max_length=500)
    html: str
    text: str | None = None
    # MJML source: when set, `html` is ignored and the MJML is compiled at each render.
    mjml: str | None = None
    # The latest TemplateVersion; every edit makes a new one.
    version: int = 1
    created_at: datetime = _ts(nullable=False, default=utcnow)
    updated_at: datetime = _ts(nullable=False, default=utcnow, onupdate=utcnow)


class TemplateVersion(SQLModel, table=True):
    """A template as it was at one edit: what a journey version sends, and the links its
    tracked mails may redirect to (nothing else: no open redirect)."""

    __tablename__ = "template_version"
    __table_args__ = (UniqueConstraint("template_key", "version"), _NEVER_REUSE_IDS)
    id: int | None = Field(default=None, primary_key=True)
    template_key: str = Field(max_length=100, index=True)
    version: int
    subject: str = Field(max_length=500)
    html: str
    text: str | None = None
    mjml: str | None = None
    # The http(s) links written literally in the source, in order; a click token
    # carries an index into this list.
    links: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    created_at: datetime = _ts(nullable=False, default=utcnow)


class JourneyTemplate(SQLModel, table=True):
    """Which template version a journey version sends: pinned at activation, moved only
    when an operator publishes a newer version to that journey."""

    __tablename__ = "journey_template"
    journey_id: int = Field(foreign_key="journey.id", primary_key=True, ondelete="CASCADE")
    journey_version: int = Field(primary_key=True)
    template_key: str = Field(primary_key=True, max_length=100)
    template_version: int
    published_at: datetime = _ts(nullable=False, default=utcnow)


class Journey(SQLModel, table=True):
    __table_args__ = _NEVER_REUSE_IDS
    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=200)
    status: str = Field(default=JourneyStatus.draft, max_length=16)
    # The editable draft; a version copies it at activation and never changes again.
    definition: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))
    active_version: int | None = None
    created_at: datetime = _ts(nullable=False, default=utcnow)
    updated_at: datetime = _ts(nullable=False, default=utcnow, onupdate=utcnow)


class JourneyVersion(SQLModel, table=True):
    __tablename__ = "journey_version"
    __table_args__ = (UniqueConstraint("journey_id", "version"), _NEVER_REUSE_IDS)
    id: int | None = Field(default=None, primary_key=True)
    journey_id: int = Field(foreign_key="journey.id", index=True, ondelete="CASCADE")
    version: int
    definition: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))
    digest: str = Field(max_length=64)
    created_at: datetime = _ts(nullable=False, default=utcnow)


class Trip(SQLModel, table=True):
    """One relation's run through one journey version; its id is the workflow id."""

    __table_args__ = (
        UniqueConstraint("journey_id", "admitted_relation_id", "number"),
        # One trip per admission cause: a retried dispatch or fan-out finds its trip.
        Index(
            "ix_trip_admission",
            "journey_id",
            "admitted_relation_id",
            "admission_key",
            unique=True,
        ),
    )
    id: str = Field(primary_key=True, max_length=200)
    journey_id: int = Field(foreign_key="journey.id", index=True, ondelete="CASCADE")
    journey_version: int
    # The relation travelling now. No foreign key: trips outlive an erased relation,
    # holding only its former id. None until a lookup, add or upsert step gives a trip
    # that an unknown relation's event started one; such a step may also change it.
    relation_id: int | None = Field(default=None, index=True)
    # The relation admitted (None for a trip started by an event without one): trips
    # are numbered per journey and admitted relation, which is what re-entry counts.
    admitted_relation_id: int | None = Field(default=None, index=True)
    number: int
    status: str = Field(default=TripStatus.running, max_length=16, index=True)
    current_step: str | None = Field(default=None, max_length=64)
    # The seq of the passage that set current_step: a late write from an earlier
    # passage (a timed-out attempt finishing after its retry) must not move it back.
    current_seq: int = 0
    waiting_until: datetime | None = _ts(nullable=True)
    started_at: datetime = _ts(nullable=False, default=utcnow)
    ended_at: datetime | None = _ts(nullable=True)
    # Set while Temporal reports that this trip's workflow task keeps failing (a bug, or
    # a definition frozen before a bound existed): the trip cannot move until it is fixed
    # or cancelled. Kept up to date by the trip-sync schedule.
    problem: str | None = Field(default=None, max_length=300)
    # Why the trip exists: which trigger (as the path shows it) and event admitted it.
    trigger: str | None = Field(default=None, max_length=300)
    event_id: int | None = Field(default=None, index=True)
    # "event:12", "change:7", "run:3", "date:2027"; None for manual adds (each deliberate).
    admission_key: str | None = Field(default=None, max_length=100)
    # The relation's events with a higher id came after this trip began (its admitting
    # event's id, or the highest id at admission): what a wait_for_event step and the
    # goals look back to. Ids, not clocks: the API's and the worker's clocks may differ.
    events_after: int | None = None


class AdmissionRun(SQLModel, table=True):
    """A large admission (current segment members at activation, a segment edit, a
    recurring date's day) run by the AdmitMembers workflow, page by page; its progress
    is what the API shows."""

    __tablename__ = "admission_run"
    __table_args__ = (UniqueConstraint("journey_id", "key"), _NEVER_REUSE_IDS)
    id: int | None = Field(default=None, primary_key=True)
    journey_id: int = Field(foreign_key="journey.id", index=True, ondelete="CASCADE")
    journey_version: int
    # What the run is for, unique per journey: "members:v1", "date:1:2027-03-01", ...
    key: str = Field(max_length=100)
    trigger: str = Field(max_length=300)
    trigger_index: int
    # The source: {"segment": key, "since": iso} or {"date_field": f, "month_days": [...]}
    source: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))
    admission_key: str = Field(max_length=100)
    status: str = Field(default="running", max_length=16)
    total: int = 0
    admitted: int = 0
    skipped: int = 0
    cursor: int = 0  # the highest relation id handled so far
    # The step its trips start at (an import step's way out); None: the first step.
    start_at: str | None = Field(default=None, max_length=64)
    started_at: datetime = _ts(nullable=False, default=utcnow)
    finished_at: datetime | None = _ts(nullable=True)


class RunMember(SQLModel, table=True):
    """A relation a selection run selected (admitted or not): the selection a sync_group
    step makes its group equal to, once per run."""

    __tablename__ = "run_member"
    run_id: int = Field(foreign_key="admission_run.id", primary_key=True, ondelete="CASCADE")
    relation_id: int = Field(primary_key=True, index=True)


class StepEffect(SQLModel, table=True):
    """What a CRM step did for one trip (or, keyed by a run, for one run): written in the
    transaction of the change itself, so a retried or repeated activity finds it and
    does nothing twice. `result` holds ids and field names, never values."""

    __tablename__ = "step_effect"
    key: str = Field(primary_key=True, max_length=200)  # "{trip_id}/{step_id}", "run:{id}/.."
    trip_id: str | None = Field(default=None, max_length=200, index=True)
    step_id: str = Field(max_length=64)
    kind: str = Field(max_length=32)
    result: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    at: datetime = _ts(nullable=False, default=utcnow)


class NamedLock(SQLModel, table=True):
    """Rows to lock by name (store/locks.py): two upserts of one person, keyed by the
    hash of their unique fields, wait for each other instead of both creating."""

    __tablename__ = "named_lock"
    name: str = Field(primary_key=True, max_length=64)


class ExportFile(SQLModel, table=True):
    """One CSV written by an export step's bucket: per journey, step, bucket (a period
    such as `2027-03-01`, or `run-5`) and part (a later part holds trips that arrived
    after the bucket was written)."""

    __tablename__ = "export_file"
    __table_args__ = (UniqueConstraint("journey_id", "step_id", "bucket", "part"), _NEVER_REUSE_IDS)
    id: int | None = Field(default=None, primary_key=True)
    journey_id: int = Field(foreign_key="journey.id", index=True, ondelete="CASCADE")
    step_id: str = Field(max_length=64)
    bucket: str = Field(max_length=64)
    part: int = 1
    path: str = Field(max_length=500)  # relative to the export directory
    rows: int = 0
    created_at: datetime = _ts(nullable=False, default=utcnow)


class ExportLine(SQLModel, table=True):
    """A trip written to an export file: a trip is exported once per step, whatever
    retries or late signals happen."""

    __tablename__ = "export_line"
    journey_id: int = Field(primary_key=True)
    step_id: str = Field(primary_key=True, max_length=64)
    trip_id: str = Field(primary_key=True, max_length=200)
    file_id: int = Field(foreign_key="export_file.id", index=True, ondelete="CASCADE")


class ImportJob(SQLModel, table=True):
    """A CSV import: processed in bounded batches by the ImportFile workflow, each batch
    committed with the cursor, so a restart resumes after the last batch done."""

    __tablename__ = "import_job"
    __table_args__ = _NEVER_REUSE_IDS
    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=200)
    status: str = Field(default="queued", max_length=16)  # queued running finished failed
    path: str = Field(max_length=500)  # the stored CSV, relative to the import directory
    # CSV column -> relation field; the fields that identify an existing relation.
    mapping: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))
    unique: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    total: int = 0  # data rows in the file
    cursor: int = 0  # data rows handled (new, updated or invalid)
    # Where the next batch begins in the file: no batch re-reads the rows before it.
    byte_offset: int = 0
    new: int = 0
    updated: int = 0
    invalid: int = 0
    error: str | None = Field(default=None, max_length=1000)  # why the whole import failed
    # Set when an import step of a trip started it.
    trip_id: str | None = Field(default=None, max_length=200, index=True)
    step_id: str | None = Field(default=None, max_length=64)
    created_at: datetime = _ts(nullable=False, default=utcnow)
    finished_at: datetime | None = _ts(nullable=True)


class ImportRow(SQLModel, table=True):
    """What became of one data row (1-based, as a spreadsheet shows it after the header):
    the relation it made or updated, or why it was refused (the field, never the value)."""

    __tablename__ = "import_row"
    job_id: int = Field(foreign_key="import_job.id", primary_key=True, ondelete="CASCADE")
    row: int = Field(primary_key=True)
    relation_id: int | None = Field(default=None, index=True)
    outcome: str = Field(max_length=16)  # new updated invalid
    error: str | None = Field(default=None, max_length=500)


class Passage(SQLModel, table=True):
    """One passage through a step: a row of the trip's path, with its outcome and why."""

    __table_args__ = (UniqueConstraint("trip_id", "seq"), _NEVER_REUSE_IDS)
    id: int | None = Field(default=None, primary_key=True)
    trip_id: str = Field(foreign_key="trip.id", index=True, max_length=200, ondelete="CASCADE")
    seq: int
    step_id: str = Field(max_length=64)
    step_type: str = Field(max_length=32)
    entered_at: datetime = _ts(nullable=False)
    outcome: str = Field(default="", max_length=64)
    detail: str = Field(default="")
    waiting_until: datetime | None = _ts(nullable=True)
    recorded_at: datetime = _ts(nullable=False, default=utcnow)


class Send(SQLModel, table=True):
    """The send ledger: claimed before the SMTP transaction, settled after it."""

    __table_args__ = _NEVER_REUSE_IDS

    id: int | None = Field(default=None, primary_key=True)
    key: str = Field(unique=True, max_length=300)  # "{trip_id}/{step_id}"
    trip_id: str = Field(foreign_key="trip.id", index=True, max_length=200, ondelete="CASCADE")
    step_id: str = Field(max_length=64)
    relation_id: int = Field(index=True)
    journey_id: int = Field(index=True)
    template: str = Field(max_length=100)
    # Indexed: a complaint that quotes only the original's Message-ID is matched by it.
    message_id: str = Field(max_length=300, index=True)
    # domain.statuses.SendStatus: claimed -> transmitting -> sent | bounced | failed |
    # skipped; uncertain when a claim is found in `transmitting` by a later attempt.
    status: str = Field(default=SendStatus.claimed, max_length=16, index=True)
    detail: str = Field(default="")
    attempts: int = 0
    # The TemplateVersion sent (the links a click may redirect to).
    template_version: int | None = None
    # A SkipReason when skipped; the contact-pressure rule while deferred.
    reason: str = Field(default="", max_length=32)
    # Transactional mail bypasses frequency caps and quiet hours, never the suppression
    # list, and does not count towards the caps.
    transactional: bool = False
    # Temporal's time of the attempt that went to SMTP: the frequency caps count these.
    sent_at: datetime | None = _ts(nullable=True, index=True)
    not_before: datetime | None = _ts(nullable=True)  # while deferred
    # The recipient's address as the mail went out (hashed, as on the suppression list):
    # a bounce that arrives after the relation changed its address suppresses the old one.
    address_hash: str | None = Field(default=None, max_length=64)
    created_at: datetime = _ts(nullable=False, default=utcnow)
    updated_at: datetime = _ts(nullable=False, default=utcnow, onupdate=utcnow)


class SendFeedback(SQLModel, table=True):
    """What became of a send afterwards: opens, clicks, bounces, complaints, unsubscribes.
    Part of the send's record (no personal data: the send names the relation by id)."""

    __tablename__ = "send_feedback"
    __table_args__ = _NEVER_REUSE_IDS
    id: int | None = Field(default=None, primary_key=True)
    send_id: int = Field(foreign_key="send.id", index=True, ondelete="CASCADE")
    kind: str = Field(max_length=16)  # domain.statuses.FeedbackKind
    link: int | None = None  # a click: the index into TemplateVersion.links
    # A likely machine open (a privacy proxy or scanner fetching everything).
    machine: bool = False
    detail: str = Field(default="", max_length=500)
    # The same report read twice (a bounce mailbox that kept a message) counts once.
    dedupe_key: str | None = Field(default=None, unique=True, max_length=300)
    at: datetime = _ts(nullable=False, default=utcnow)


class Suppression(SQLModel, table=True):
    """Addresses never mailed again. Kept as a SHA-256 of the normalised address, so the
    list survives the erasure of the relation (it must) without keeping the address."""

    __table_args__ = _NEVER_REUSE_IDS
    id: int | None = Field(default=None, primary_key=True)
    address_hash: str = Field(max_length=64, unique=True, index=True)
    reason: str = Field(max_length=16)  # domain.statuses.SuppressionReason
    detail: str = Field(default="", max_length=500)
    send_id: int | None = None  # the send that caused it, if any
    created_at: datetime = _ts(nullable=False, default=utcnow)


class JourneyExit(SQLModel, table=True):
    """A relation unsubscribed from one journey: not admitted to it again, not mailed by
    it (the seed's "unsubscribe from this journey")."""

    __tablename__ = "journey_exit"
    journey_id: int = Field(foreign_key="journey.id", primary_key=True, ondelete="CASCADE")
    relation_id: int = Field(foreign_key="relation.id", primary_key=True, ondelete="CASCADE")
    at: datetime = _ts(nullable=False, default=utcnow)


class WorkspaceSetting(SQLModel, table=True):
    """Workspace-wide policies an operator edits through the API (the contact pressure)."""

    __tablename__ = "workspace_setting"
    key: str = Field(primary_key=True, max_length=64)
    value: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    updated_at: datetime = _ts(nullable=False, default=utcnow, onupdate=utcnow)


class ApiKey(SQLModel, table=True):
    """An API key: only its SHA-256 is kept, the key itself is shown once at creation."""

    __tablename__ = "api_key"
    __table_args__ = _NEVER_REUSE_IDS
    id: int | None = Field(default=None, primary_key=True)
    # The public part of the key (`rp_<prefix>_...`): finds the row without a scan and
    # names the key in `reisplan keys list` and logs without revealing it.
    prefix: str = Field(unique=True, index=True, max_length=16)
    digest: str = Field(max_length=64)
    name: str = Field(max_length=200)
    scopes: str = Field(max_length=200)  # comma-separated store.keys.Scope values
    created_at: datetime = _ts(nullable=False, default=utcnow)
    revoked_at: datetime | None = _ts(nullable=True)
