"""RecurringDate: one day's run of a recurring_date trigger, started by its Schedule.

The day is the one the Schedule meant, not the one the workflow happens to run on: a
run that was buffered behind a slow one, caught up after an outage or backfilled by an
operator admits the dates of its scheduled day. Temporal records that moment on the
workflow (`TemporalScheduledStartTime`); a RecurringDate started by hand has none and
stands for the moment it starts.
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import WorkflowAlreadyStartedError

with workflow.unsafe.imports_passed_through():
    from activities.contracts import (
        ADMIT_MEMBERS_WORKFLOW,
        RECURRING_DATE_WORKFLOW,
        RUN_RECURRING_DATE,
        SCHEDULED_START_TIME,
        AdmitMembersInput,
        RecurringDateInput,
        RecurringRunInput,
        RecurringRunResult,
    )

# Database work: retried until the database is back. Meanwhile the Schedule buffers the
# next days (overlap BUFFER_ALL), so none is lost.
_RUN_TIMEOUT = timedelta(minutes=2)
_RUN_RETRY = RetryPolicy(maximum_interval=timedelta(minutes=1))


@workflow.defn(name=RECURRING_DATE_WORKFLOW)
class RecurringDateWorkflow:
    @workflow.run
    async def run(self, data: RecurringDateInput) -> RecurringRunResult:
        scheduled = workflow.info().typed_search_attributes.get(SCHEDULED_START_TIME)
        moment = scheduled or workflow.now()
        result: RecurringRunResult = await workflow.execute_activity(
            RUN_RECURRING_DATE,
            RecurringRunInput(
                journey_id=data.journey_id, trigger_index=data.trigger_index, scheduled_at=moment
            ),
            result_type=RecurringRunResult,
            start_to_close_timeout=_RUN_TIMEOUT,
            retry_policy=_RUN_RETRY,
            summary=f"admission runs for {moment:%Y-%m-%d %H:%M} UTC",
        )
        for run_id in result.run_ids:
            try:
                await workflow.execute_child_workflow(
                    ADMIT_MEMBERS_WORKFLOW,
                    AdmitMembersInput(run_id=run_id),
                    id=f"admit:{run_id}",
                    static_summary=f"admission run {run_id} (recurring date)",
                )
            except WorkflowAlreadyStartedError:
                # Someone else carries this run out right now (the API, an earlier run of
                # this day that was terminated): its pages are keyed, nothing doubles.
                workflow.logger.info("admission run %s is already being carried out", run_id)
        return result
