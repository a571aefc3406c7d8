"""Selection: one scheduled run of a `selection` trigger, started by its Schedule.

The run stands for the moment the Schedule meant (`TemporalScheduledStartTime`), also
when it runs later (buffered behind a slow run, caught up after an outage): a retry or
a backfill of that moment finds the run made before. A Selection started by hand has no
such moment and stands for its start.
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import WorkflowAlreadyStartedError

with workflow.unsafe.imports_passed_through():
    from activities.contracts import (
        ADMIT_MEMBERS_WORKFLOW,
        SCHEDULED_START_TIME,
        AdmitMembersInput,
    )
    from activities.contracts.selections import (
        RUN_SELECTION,
        SELECTION_WORKFLOW,
        SelectionInput,
        SelectionRunInput,
        SelectionRunResult,
    )

# Database work: retried until the database is back; the Schedule buffers the next runs.
_RUN_TIMEOUT = timedelta(minutes=2)
_RUN_RETRY = RetryPolicy(maximum_interval=timedelta(minutes=1))


@workflow.defn(name=SELECTION_WORKFLOW)
class SelectionWorkflow:
    @workflow.run
    async def run(self, data: SelectionInput) -> SelectionRunResult:
        scheduled = workflow.info().typed_search_attributes.get(SCHEDULED_START_TIME)
        moment = scheduled or workflow.now()
        result: SelectionRunResult = await workflow.execute_activity(
            RUN_SELECTION,
            SelectionRunInput(
                journey_id=data.journey_id, trigger_index=data.trigger_index, scheduled_at=moment
            ),
            result_type=SelectionRunResult,
            start_to_close_timeout=_RUN_TIMEOUT,
            retry_policy=_RUN_RETRY,
            summary=f"selection run for {moment:%Y-%m-%d %H:%M} UTC",
        )
        if result.run_id is not None:
            try:
                await workflow.execute_child_workflow(
                    ADMIT_MEMBERS_WORKFLOW,
                    AdmitMembersInput(run_id=result.run_id),
                    id=f"admit:{result.run_id}",
                    static_summary=f"admission run {result.run_id} (selection)",
                )
            except WorkflowAlreadyStartedError:
                # Carried out by someone else right now (an earlier, terminated Selection
                # of this moment): its pages are keyed, nothing doubles.
                workflow.logger.info("admission run %s is already being carried out", result.run_id)
        return result
