"""The export step (domain/steps/exports.py): a trip's activity hands the trip to its
bucket's collector, an ExportBucket workflow per (journey, step, bucket) started with
signal-with-start, which writes the bucket's CSV file when the bucket ends. Inputs and
signals carry ids, field names and moments, never a relation's data: the file is
filled from the store when it is written."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Literal

from pydantic import Field

from activities.contracts import PassageKey, PassageWrite, _Contract

EXPORT_BUCKET_WORKFLOW = "ExportBucket"
# Signals an ExportBucket workflow hears: a trip joined; the selection run ended.
EXPORT_ENTRY_SIGNAL = "export_entry"
EXPORT_RUN_ENDED_SIGNAL = "export_run_ended"
# Activity types. Names are part of every recorded history: never rename one.
COLLECT_EXPORT = "collect_export"
WRITE_EXPORT = "write_export"

# A run bucket is written once its run ended and then no trip joined for this long
# (trips still on their way to the step land in the same file), and at the latest this
# long after its first trip, whether or not anyone said the run ended.
RUN_QUIET = timedelta(minutes=5)
RUN_LONGEST = timedelta(days=7)


def run_bucket(run_id: int) -> str:
    return f"run-{run_id}"


def collector_id(journey_id: int, step_id: str, bucket: str) -> str:
    """One collector per bucket: a trip's signal-with-start finds the running one."""
    return f"export:{journey_id}:{step_id}:{bucket}"


class CollectExportInput(_Contract):
    """The trip's passage through the export step; (trip, step) is the idempotency key
    of the hand-over (a retry that finds it recorded does not signal again)."""

    passage: PassageKey
    relation_id: int
    journey_id: int
    every: Literal["PT1H", "P1D", "P7D", "run"]
    zone: str  # the journey's timezone: periods follow its local calendar
    fields: list[str]
    file: str
    writes: list[PassageWrite] = Field(default_factory=list, description="written first")
    # The trip ends after this step: close it in the same transaction as the outcome.
    ends_trip: bool = False


class CollectExportResult(_Contract):
    bucket: str = ""
    write_after: datetime | None = None  # when the file is written (None: at the run's end)
    detail: str = ""
    trip_running: bool = True  # False: cancelled (or gone) before this attempt; nothing done
    closed: bool = False  # the trip's end was recorded with the outcome


class ExportEntry(_Contract):
    """A trip in a bucket: which trip, and the relation it travelled as."""

    trip_id: str
    relation_id: int
    # The selection run had ended when the trip came: its bucket may be written soon.
    run_ended: bool = False


class CollectorInput(_Contract):
    """What an ExportBucket workflow starts (or continues as new) with. The first trip's
    settings hold for the bucket (a later journey version joining it writes in them)."""

    journey_id: int
    step_id: str
    bucket: str
    fields: list[str]
    file: str
    ends_at: datetime  # the period's end; for a run bucket, the latest moment to write
    run_id: int | None = None  # a run bucket: written after its run ended (and RUN_QUIET)
    zone: str = "UTC"  # the journey's timezone, for the moments the Web UI shows
    label: str = ""  # for the Web UI: "export `bounced` · bucket 2027-03-01"
    # Carried over by continue-as-new: trip id -> relation id, not yet written.
    entries: dict[str, int] = Field(default_factory=dict)
    run_ended_at: datetime | None = None  # when the collector heard the run ended
    last_entry_at: datetime | None = None


class WriteExportInput(_Contract):
    journey_id: int
    step_id: str
    bucket: str
    fields: list[str]
    file: str
    entries: dict[str, int]  # trip id -> relation id


class WriteExportResult(_Contract):
    file_id: int | None = None  # None: every trip was exported before (nothing new)
    part: int = 0
    rows: int = 0
    erased: int = 0  # trips whose relation was erased meanwhile: left out
    repeated: int = 0  # trips already in a file of this step: left out


class ExportBucketResult(_Contract):
    files: list[int] = Field(default_factory=list)
    rows: int = 0
    erased: int = 0
