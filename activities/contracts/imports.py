"""Contracts of CSV imports: the ImportFile workflow (an upload through the API, or an
import step's child workflow) and the activities it and the import step run.

Inputs carry ids, counts and the step's settings (column and field names, a file name),
never a cell of the file: the rows are read by the activities, from the file.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from activities.contracts import PassageKey, PassageWrite, _Contract

IMPORT_FILE_WORKFLOW = "ImportFile"

# Activity types. Names are part of every recorded history: never rename one.
START_IMPORT = "start_import"
IMPORT_BATCH = "import_batch"
STOP_IMPORT = "stop_import"
OPEN_STEP_IMPORT = "open_step_import"
CLOSE_STEP_IMPORT = "close_step_import"

ImportStatus = Literal["queued", "running", "finished", "failed"]


def import_workflow_id(job_id: int) -> str:
    return f"import:{job_id}"


class ImportFileInput(_Contract):
    """The job to carry out. After a continue-as-new, where it got to (the store has
    it too; these only name the run's summaries and the next batch)."""

    job_id: int
    name: str = ""
    total: int | None = None
    cursor: int = 0


class ImportState(_Contract):
    """A job's progress, as the store has it after an activity."""

    job_id: int
    status: ImportStatus
    total: int = 0
    cursor: int = 0  # data rows handled
    new: int = 0
    updated: int = 0
    invalid: int = 0
    error: str | None = None  # why the whole import failed

    @property
    def done(self) -> bool:
        return self.status in ("finished", "failed")

    def counts(self) -> str:
        """'100 rows: 60 new, 30 updated, 10 invalid' (the path's detail)."""
        rows = f"{self.total:,} row{'s' if self.total != 1 else ''}"
        return f"{rows}: {self.new:,} new, {self.updated:,} updated, {self.invalid:,} invalid"


class StartImportInput(_Contract):
    job_id: int


class ImportBatchInput(_Contract):
    """The batch that begins after data row `cursor`: an attempt that finds the job
    further on (an earlier attempt committed it) does nothing again."""

    job_id: int
    cursor: int
    rows: int = Field(default=500, ge=1, le=10_000)


class StopImportInput(_Contract):
    job_id: int
    error: str


class OpenStepImportInput(_Contract):
    """An import step's job, made once per trip and step (effects.trip_key)."""

    passage: PassageKey
    writes: list[PassageWrite] = Field(default_factory=list, description="written first")
    file: str  # the step's file name with {{ today }} filled in
    mapping: dict[str, str]
    unique: list[str]


class OpenStepImportResult(_Contract):
    job_id: int
    state: ImportState
    trip_running: bool = True  # False: cancelled (or gone) before this attempt


class CloseStepImportInput(_Contract):
    """The import is done: start the imported relations' trips at the step each
    outcome's way leads to (None: nowhere), record the passage, and close the trip when
    it ends here."""

    passage: PassageKey
    writes: list[PassageWrite] = Field(default_factory=list, description="written first")
    journey_id: int
    journey_version: int
    job_id: int
    # outcome ("new", "updated") -> the step its relations start at; None: they stop.
    targets: dict[str, str | None]
    ends_trip: bool


class CloseStepImportResult(_Contract):
    detail: str
    state: ImportState
    run_ids: list[int] = Field(default_factory=list)
    closed: bool = False
