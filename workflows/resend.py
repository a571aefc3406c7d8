"""Run on an operator's request: make an uncertain send again (POST /sends/{id}/resend).

A workflow, not a call from the API process: Temporal is the one queue, and its retries
and the ledger keep the resend to one mail however often the request or a worker fails.
"""

from __future__ import annotations

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from activities.contracts import (
        RESEND_EMAIL,
        RESEND_EMAIL_WORKFLOW,
        ResendEmailInput,
        SendEmailResult,
    )
    from workflows.context import SENDING


@workflow.defn(name=RESEND_EMAIL_WORKFLOW)
class ResendEmailWorkflow:
    @workflow.run
    async def run(self, data: ResendEmailInput) -> SendEmailResult:
        result: SendEmailResult = await workflow.execute_activity(
            RESEND_EMAIL,
            data,
            result_type=SendEmailResult,
            start_to_close_timeout=SENDING.start_to_close,
            retry_policy=SENDING.retry,
            summary=f"resend {data.send_key}",
        )
        return result
