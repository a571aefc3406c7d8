"""ImportFile: one CSV import, a batch of rows per activity (activities/imports.py).

Started by the API for an upload (`POST /imports`) and by the import step as a child
workflow, both with id `import:{job_id}`. Bounded: a fresh history (continue-as-new)
every BATCHES_PER_RUN batches, however large the file. The Web UI shows how far it got:
"import members.csv · 40,000 of 100,000 rows".
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import is_cancelled_exception

with workflow.unsafe.imports_passed_through():
    from activities.contracts.imports import (
        IMPORT_BATCH,
        IMPORT_FILE_WORKFLOW,
        START_IMPORT,
        STOP_IMPORT,
        ImportBatchInput,
        ImportFileInput,
        ImportState,
        StartImportInput,
        StopImportInput,
    )

BATCH_ROWS = 500
BATCHES_PER_RUN = 50
# Until the database is back: an import must finish (a bad row is refused, not retried).
_RETRY = RetryPolicy(maximum_interval=timedelta(minutes=1))
# A worker that died in a batch is noticed this soon (the activity beats every second).
_HEARTBEAT = timedelta(seconds=5)


@workflow.defn(name=IMPORT_FILE_WORKFLOW)
class ImportFileWorkflow:
    @workflow.run
    async def run(self, data: ImportFileInput) -> ImportState:
        try:
            return await self._run(data)
        except BaseException as error:
            if is_cancelled_exception(error):
                # Its trip was cancelled: the job stops where it is, and says so.
                await workflow.execute_activity(
                    STOP_IMPORT,
                    StopImportInput(job_id=data.job_id, error="cancelled with its trip"),
                    result_type=ImportState,
                    start_to_close_timeout=timedelta(seconds=30),
                    retry_policy=_RETRY,
                    summary="stop the import",
                )
            raise

    async def _run(self, data: ImportFileInput) -> ImportState:
        name = data.name or f"job {data.job_id}"
        if data.total is None:
            state: ImportState = await workflow.execute_activity(
                START_IMPORT,
                StartImportInput(job_id=data.job_id),
                result_type=ImportState,
                start_to_close_timeout=timedelta(minutes=10),
                heartbeat_timeout=_HEARTBEAT,
                retry_policy=_RETRY,
                summary=f"check and count the rows of {name}",
            )
        else:
            state = ImportState(
                job_id=data.job_id, status="running", total=data.total, cursor=data.cursor
            )
        _show(name, state)
        for _ in range(BATCHES_PER_RUN):
            if state.done:
                return state
            last = min(state.cursor + BATCH_ROWS, state.total)
            state = await workflow.execute_activity(
                IMPORT_BATCH,
                ImportBatchInput(job_id=data.job_id, cursor=state.cursor, rows=BATCH_ROWS),
                result_type=ImportState,
                start_to_close_timeout=timedelta(minutes=10),
                heartbeat_timeout=_HEARTBEAT,
                retry_policy=_RETRY,
                summary=f"rows {state.cursor + 1:,}-{last:,} of {state.total:,}",
            )
            _show(name, state)
        if state.done:
            return state
        workflow.continue_as_new(
            ImportFileInput(
                job_id=data.job_id, name=data.name, total=state.total, cursor=state.cursor
            )
        )


def _show(name: str, state: ImportState) -> None:
    if state.status == "failed":
        words = f"failed after {state.cursor:,} rows: {state.error}"
    else:
        percent = f" ({100 * state.cursor // state.total}%)" if state.total else ""
        words = f"{state.cursor:,} of {state.total:,} rows{percent}"
    workflow.set_current_details(
        f"**import {name}** · {words}\n\n"
        f"{state.new:,} new, {state.updated:,} updated, {state.invalid:,} invalid"
    )
