"""AdmitMembers: carry out one admission run, a page at a time (see
activities/admission_runs.py). Bounded: one activity per page and a fresh history
(continue-as-new) every PAGES_PER_RUN pages, however large the run."""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    from activities.contracts import (
        ADMIT_MEMBERS_WORKFLOW,
        ADMIT_PAGE,
        AdmitMembersInput,
        AdmitPageInput,
        AdmitPageResult,
    )

PAGES_PER_RUN = 100


@workflow.defn(name=ADMIT_MEMBERS_WORKFLOW)
class AdmitMembersWorkflow:
    @workflow.run
    async def run(self, data: AdmitMembersInput) -> None:
        for page in range(PAGES_PER_RUN):
            result: AdmitPageResult = await workflow.execute_activity(
                ADMIT_PAGE,
                AdmitPageInput(run_id=data.run_id),
                result_type=AdmitPageResult,
                start_to_close_timeout=timedelta(minutes=10),
                # Each admission heartbeats: a page whose worker died is taken over soon.
                heartbeat_timeout=timedelta(seconds=10),
                # Until the database and Temporal are back: a run must finish.
                retry_policy=RetryPolicy(maximum_interval=timedelta(minutes=1)),
                summary=f"admit page {page + 1}",
            )
            if result.done:
                return
        workflow.continue_as_new(data)
