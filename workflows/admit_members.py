"""AdmitMembers: carry out one admission run, a page at a time (see
activities/admission_runs.py). Bounded: one activity per page and a fresh history
(continue-as-new) every PAGES_PER_RUN pages, however large the run. After the last page
one more activity finishes the run (activities/selections.finish_run: a selection's
sync_group steps, once per run)."""

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
    from activities.contracts.selections import FINISH_RUN, FinishRunInput, FinishRunResult

PAGES_PER_RUN = 100
# Until the database and Temporal are back: a run must finish.
_RETRY = RetryPolicy(maximum_interval=timedelta(minutes=1))


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
                retry_policy=_RETRY,
                summary=f"admit page {page + 1}",
            )
            if result.done:
                # Histories of runs that ended before finish_run existed replay without it.
                if workflow.patched("run-finish"):
                    await workflow.execute_activity(
                        FINISH_RUN,
                        FinishRunInput(run_id=data.run_id),
                        result_type=FinishRunResult,
                        # A sync of a large group goes in batches, each heartbeating.
                        start_to_close_timeout=timedelta(hours=1),
                        heartbeat_timeout=timedelta(minutes=2),
                        retry_policy=_RETRY,
                        summary=f"finish run {data.run_id}",
                    )
                return
        workflow.continue_as_new(data)
