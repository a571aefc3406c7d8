"""Selection runs: the `selection` trigger's Schedule starts a Selection workflow that
creates a run and carries it out (AdmitMembers as a child); every AdmitMembers run ends
with `finish_run` (a run's sync_group steps, done once per run)."""

from __future__ import annotations

from datetime import datetime

from pydantic import Field

from activities.contracts import _Contract

SELECTION_WORKFLOW = "Selection"
# Activity types. Names are part of every recorded history: never rename one.
RUN_SELECTION = "run_selection"
FINISH_RUN = "finish_run"


def selection_schedule_id(journey_id: int, trigger_index: int) -> str:
    """The Schedule's id and its workflows' id (Temporal appends the scheduled time)."""
    return f"selection:{journey_id}:{trigger_index}"


class SelectionInput(_Contract):
    """What the Schedule starts Selection with: ids only."""

    journey_id: int
    trigger_index: int


class SelectionRunInput(_Contract):
    journey_id: int
    trigger_index: int
    # The moment the Schedule meant (or the workflow's start): the run's key, so a
    # retried activity finds the run it created.
    scheduled_at: datetime


class SelectionRunResult(_Contract):
    run_id: int | None = None  # None: nothing to carry out (see `skipped`)
    skipped: str | None = None  # why: journey inactive, trigger gone, run done before


class FinishRunInput(_Contract):
    run_id: int


class SyncedGroup(_Contract):
    step_id: str
    group: str
    added: int = 0
    removed: int = 0


class FinishRunResult(_Contract):
    synced: list[SyncedGroup] = Field(default_factory=list)
    skipped: str | None = None  # why no group was synced: the run stopped early, ...
