"""Handler of the import step: make the job, wait for its ImportFile child workflow (a
durable wait: a worker restart resumes it), then send the imported relations on, each
on a trip of its own, and take `on_error` or end here."""

from __future__ import annotations

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from activities.contracts.imports import (
        CLOSE_STEP_IMPORT,
        IMPORT_FILE_WORKFLOW,
        OPEN_STEP_IMPORT,
        CloseStepImportInput,
        CloseStepImportResult,
        ImportFileInput,
        ImportState,
        OpenStepImportInput,
        OpenStepImportResult,
        import_workflow_id,
    )
    from domain.statuses import Outcome
    from domain.steps import StepBase
    from domain.steps.imports import ImportStep, file_name

from workflows.context import Handler, TripContext


async def import_file(ctx: TripContext, step: ImportStep) -> str | None:
    """The trip that imports goes to `on_error` when the import failed or refused rows,
    and otherwise ends here: the relations it brought in go on, each on its own trip,
    from the steps `new`, `updated` (or `continue`) lead to."""
    today = workflow.now().astimezone(ctx.definition.zone).date()
    name = file_name(step.file, today)
    ctx.note(Outcome.waiting, f"importing `{name}`")
    with ctx.carrying() as writes:
        opened: OpenStepImportResult = await ctx.activity(
            OPEN_STEP_IMPORT,
            OpenStepImportInput(
                passage=ctx.passage,
                writes=writes,
                file=name,
                mapping=dict(step.map),
                unique=list(step.unique),
            ),
            result_type=OpenStepImportResult,
            summary=f"open import `{name}`",
        )
    if not opened.trip_running:
        return None
    ctx.details(f"importing `{name}` (import {opened.job_id})")
    state = opened.state
    if not state.done:
        state = await workflow.execute_child_workflow(
            IMPORT_FILE_WORKFLOW,
            ImportFileInput(job_id=opened.job_id, name=name),
            id=import_workflow_id(opened.job_id),
            result_type=ImportState,
            static_summary=f"import {name} · step `{step.id}` of {ctx.trip.trip_id}",
        )
    troubled = state.status == "failed" or state.invalid > 0
    way = "on_error" if troubled and "on_error" in step.ways_out() else None
    with ctx.carrying() as writes:
        closed: CloseStepImportResult = await ctx.activity(
            CLOSE_STEP_IMPORT,
            CloseStepImportInput(
                passage=ctx.passage,
                writes=writes,
                journey_id=ctx.trip.journey_id,
                journey_version=ctx.trip.journey_version,
                job_id=opened.job_id,
                targets={
                    outcome: ctx.definition.follow(step, step.way_for(outcome))
                    for outcome in ("new", "updated")
                },
                ends_trip=way is None,
            ),
            result_type=CloseStepImportResult,
            summary=f"send on the relations of `{name}`",
        )
    ctx.closed = closed.closed
    ctx.details(closed.detail)
    return way


HANDLERS: dict[type[StepBase], Handler] = {ImportStep: import_file}
