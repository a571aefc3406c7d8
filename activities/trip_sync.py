"""Close trips in our store that Temporal closed without the trip's own code running.

A trip closes itself (finish_trip) when it completes or is cancelled. When an operator
terminates it in the Web UI, or it times out or fails, no code of ours runs: without
this sync the trip would show as running for ever, in the stats, the waiting lists and
the re-entry rule.
"""

from __future__ import annotations

import asyncio
import contextlib
from datetime import UTC, datetime

from sqlalchemy.engine import Engine
from temporalio import activity
from temporalio.client import Client, WorkflowExecutionStatus
from temporalio.common import SearchAttributeKey, WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode

from activities.admission_runs import running_runs, start_run
from activities.admission_runs import workflow_id as run_workflow_id
from activities.contracts import (
    RESEND_EMAIL_WORKFLOW,
    SYNC_CLOSED_TRIPS,
    TASK_QUEUE,
    TRIP_WORKFLOW,
    ResendEmailInput,
    SyncClosedTripsInput,
    SyncClosedTripsResult,
    TripStatus,
    resend_workflow_id,
)
from activities.dispatch import REDISPATCH_AFTER, start_dispatch
from store import paths, problems, sends
from store.db import session_scope
from store.membership import undispatched_causes

# Terminated is an operator stopping the trip: for support staff that is a cancel.
_STATUS = {
    WorkflowExecutionStatus.TERMINATED: TripStatus.cancelled,
    WorkflowExecutionStatus.FAILED: TripStatus.failed,
    WorkflowExecutionStatus.TIMED_OUT: TripStatus.failed,
}


def closed_elsewhere_query(since: datetime) -> str:
    statuses = " OR ".join(
        f"ExecutionStatus = '{name}'" for name in ("Terminated", "Failed", "TimedOut")
    )
    stamp = since.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return f"WorkflowType = '{TRIP_WORKFLOW}' AND ({statuses}) AND CloseTime > '{stamp}'"


# Temporal sets this on a workflow whose task failed several times in a row (how many:
# the server's system.numConsecutiveWorkflowTaskProblemsToTriggerSearchAttribute).
REPORTED_PROBLEMS = SearchAttributeKey.for_keyword_list("TemporalReportedProblems")
STUCK_QUERY = (
    f"WorkflowType = '{TRIP_WORKFLOW}' AND ExecutionStatus = 'Running' "
    "AND TemporalReportedProblems IS NOT NULL"
)


class TripSyncActivities:
    def __init__(
        self,
        engine: Engine,
        client: Client,
        *,
        resend_uncertain: bool = False,
        task_queue: str = TASK_QUEUE,
    ) -> None:
        self._engine = engine
        self._client = client
        self._resend_uncertain = resend_uncertain
        self._task_queue = task_queue

    @activity.defn(name=SYNC_CLOSED_TRIPS)
    async def sync_closed_trips(self, data: SyncClosedTripsInput) -> SyncClosedTripsResult:
        since = datetime.now(UTC) - data.lookback
        examined = closed = 0
        async for execution in self._client.list_workflows(closed_elsewhere_query(since)):
            examined += 1
            status = _STATUS.get(execution.status) if execution.status else None
            if status is None:
                continue
            ended_at = execution.close_time or datetime.now(UTC)
            if await asyncio.to_thread(self._close, execution.id, status, ended_at):
                closed += 1
                activity.logger.info("trip %s closed in Temporal as %s", execution.id, status)
            if examined % 100 == 0:
                activity.heartbeat(examined)
        problems: dict[str, str] = {}
        async for execution in self._client.list_workflows(STUCK_QUERY):
            reported = execution.typed_search_attributes.get(REPORTED_PROBLEMS) or []
            problems[execution.id] = "workflow task failing: " + ", ".join(reported)
        stuck = await asyncio.to_thread(self._mark, problems)
        if stuck:
            activity.logger.warning("%d trips cannot move (see their `problem`)", stuck)
        resent = await self._resend() if self._resend_uncertain else 0
        redispatched = await self._redispatch() + await self._resume_runs()
        return SyncClosedTripsResult(
            examined=examined,
            closed=closed,
            stuck=stuck,
            resent=resent,
            redispatched=redispatched,
        )

    async def _redispatch(self) -> int:
        """Events and segment changes that a crash left undispatched (the API stored a
        change but died before starting its Dispatch): start it now. A dispatch that
        ran already is not repeated (its workflow id is refused)."""
        before = datetime.now(UTC) - REDISPATCH_AFTER
        found = await asyncio.to_thread(self._undispatched, before)
        for kind, cause_id in found:
            if kind == "event":
                await start_dispatch(self._client, self._task_queue, event_id=cause_id)
            else:
                await start_dispatch(self._client, self._task_queue, change_id=cause_id)
        return len(found)

    async def _resume_runs(self) -> int:
        """Admission runs written but never started (the API died, or Temporal refused,
        right after the edit or activation that wrote them): start them. A run whose
        workflow is going already is left to it."""
        before = datetime.now(UTC) - REDISPATCH_AFTER
        resumed = 0
        for run_id in await asyncio.to_thread(self._running_runs, before):
            try:
                await self._client.get_workflow_handle(run_workflow_id(run_id)).describe()
            except RPCError as error:
                if error.status != RPCStatusCode.NOT_FOUND:
                    raise
            else:
                # Its workflow exists: going, or ended by an operator (terminated in the
                # Web UI), which is theirs to decide, not ours to undo.
                continue
            with contextlib.suppress(WorkflowAlreadyStartedError):
                await start_run(self._client, self._task_queue, run_id)
                resumed += 1
        return resumed

    def _running_runs(self, before: datetime) -> list[int]:
        with session_scope(self._engine) as session:
            return running_runs(session, before)

    def _undispatched(self, before: datetime) -> list[tuple[str, int]]:
        with session_scope(self._engine) as session:
            return undispatched_causes(session, before)

    async def _resend(self) -> int:
        """REISPLAN_UNCERTAIN_SENDS=resend: each uncertain send once more, through the
        same workflow an operator's POST /sends/{id}/resend starts (and the same id, so
        the two never both run for one uncertain episode)."""
        started = 0
        for key, attempts in await asyncio.to_thread(self._uncertain):
            try:
                await self._client.start_workflow(
                    RESEND_EMAIL_WORKFLOW,
                    ResendEmailInput(send_key=key, attempts=attempts),
                    id=resend_workflow_id(key, attempts),
                    task_queue=self._task_queue,
                    id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
                    static_summary=f"resend of {key} (REISPLAN_UNCERTAIN_SENDS=resend)",
                )
            except WorkflowAlreadyStartedError:
                continue
            started += 1
        return started

    def _uncertain(self) -> list[tuple[str, int]]:
        with session_scope(self._engine) as session:
            return sends.uncertain_keys(session)

    def _mark(self, found: dict[str, str]) -> int:
        with session_scope(self._engine) as session:
            return problems.mark(session, found)

    def _close(self, trip_id: str, status: TripStatus, ended_at: datetime) -> bool:
        with session_scope(self._engine) as session:
            return paths.close_if_running(
                session, trip_id=trip_id, status=status.value, ended_at=ended_at
            )
