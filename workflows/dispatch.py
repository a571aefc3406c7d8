"""Dispatch: the durable hand-over of one event or segment change from the API to the
worker (see activities/dispatch.py). One local activity: the admissions and signals are
done within the workflow's first task, so an event reaches its journeys in milliseconds,
and it is retried (idempotently, by the cause's key) until it succeeded."""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    from activities.contracts import DISPATCH, DISPATCH_WORKFLOW, DispatchInput, DispatchResult


@workflow.defn(name=DISPATCH_WORKFLOW)
class DispatchWorkflow:
    @workflow.run
    async def run(self, data: DispatchInput) -> DispatchResult:
        cause = (
            f"event {data.event_id}" if data.event_id is not None else f"change {data.change_id}"
        )
        result: DispatchResult = await workflow.execute_local_activity(
            DISPATCH,
            data,
            result_type=DispatchResult,
            start_to_close_timeout=timedelta(minutes=2),
            retry_policy=RetryPolicy(maximum_interval=timedelta(seconds=30)),
            summary=f"admit and signal for {cause}",
        )
        return result
