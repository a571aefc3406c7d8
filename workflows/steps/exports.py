"""Handler of the exports family: export (collect the trip in its bucket, go on)."""

from __future__ import annotations

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from activities.contracts.exports import (
        COLLECT_EXPORT,
        CollectExportInput,
        CollectExportResult,
    )
    from domain.steps import StepBase
    from domain.steps.exports import ExportStep

from workflows.context import Handler, TripContext


async def export(ctx: TripContext, step: ExportStep) -> str | None:
    """One activity hands the trip to its bucket's collector and records the passage;
    the file is written later, by the collector, so the trip goes on at once."""
    ends_trip = ctx.definition.follow(step, "next") is None
    with ctx.carrying() as writes:
        result: CollectExportResult = await ctx.activity(
            COLLECT_EXPORT,
            CollectExportInput(
                passage=ctx.passage,
                relation_id=ctx.relation(),
                journey_id=ctx.trip.journey_id,
                every=step.every(),
                zone=ctx.definition.timezone,
                fields=step.fields,
                file=step.file,
                writes=writes,
                ends_trip=ends_trip,
            ),
            result_type=CollectExportResult,
            summary=step.describe(),
        )
    ctx.closed = result.closed
    if result.detail:
        ctx.details(result.detail)
    if not result.trip_running:
        return None
    return "next"


HANDLERS: dict[type[StepBase], Handler] = {ExportStep: export}
