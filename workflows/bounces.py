"""Run by a Temporal Schedule while a bounce mailbox is configured: read it once."""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    from activities.contracts import (
        READ_BOUNCE_MAILBOX,
        READ_BOUNCES_WORKFLOW,
        ReadBouncesInput,
        ReadBouncesResult,
    )


@workflow.defn(name=READ_BOUNCES_WORKFLOW)
class ReadBouncesWorkflow:
    @workflow.run
    async def run(self, data: ReadBouncesInput | None = None) -> ReadBouncesResult:
        result: ReadBouncesResult = await workflow.execute_activity(
            READ_BOUNCE_MAILBOX,
            data or ReadBouncesInput(),
            result_type=ReadBouncesResult,
            start_to_close_timeout=timedelta(minutes=5),
            # A worker that died mid-read is noticed in a minute, not after five.
            heartbeat_timeout=timedelta(minutes=1),
            # A mailbox that is down stays for the next scheduled run to find: a few
            # attempts here, not retries for ever that the schedule would skip behind.
            retry_policy=RetryPolicy(initial_interval=timedelta(seconds=10), maximum_attempts=3),
            summary="read the bounce mailbox: apply bounces and complaints",
        )
        return result
