"""Handlers of the group steps: add_to_group, remove_from_group, sync_group."""

from __future__ import annotations

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from activities.contracts.groups import (
        ADD_TO_GROUP,
        REMOVE_FROM_GROUP,
        SYNC_GROUP_PASSAGE,
        AddToGroupInput,
        GroupStepResult,
        RemoveFromGroupInput,
        SyncGroupPassageInput,
    )
    from domain.steps import StepBase
    from domain.steps.groups import AddToGroupStep, RemoveFromGroupStep, SyncGroupStep

from workflows.context import Handler, TripContext


def _ends_trip(ctx: TripContext, step: StepBase) -> bool:
    return ctx.definition.follow(step, "next") is None


def _way(ctx: TripContext, result: GroupStepResult) -> str | None:
    """One activity did the change and recorded the passage (and the trip's end, when
    this is where it ends)."""
    ctx.closed = result.closed
    if result.detail:
        ctx.details(result.detail)
    if not (result.relation_exists and result.trip_running):
        return None
    return "next"


async def add_to_group(ctx: TripContext, step: AddToGroupStep) -> str | None:
    with ctx.carrying() as writes:
        result: GroupStepResult = await ctx.activity(
            ADD_TO_GROUP,
            AddToGroupInput(
                passage=ctx.passage,
                relation_id=ctx.relation(),
                group=step.group,
                subgroup=step.subgroup,
                zone=ctx.definition.timezone,
                event_id=ctx.trip.event_id if step.uses_event() else None,
                writes=writes,
                ends_trip=_ends_trip(ctx, step),
            ),
            result_type=GroupStepResult,
            summary=step.describe(),
        )
    return _way(ctx, result)


async def remove_from_group(ctx: TripContext, step: RemoveFromGroupStep) -> str | None:
    with ctx.carrying() as writes:
        result: GroupStepResult = await ctx.activity(
            REMOVE_FROM_GROUP,
            RemoveFromGroupInput(
                passage=ctx.passage,
                relation_id=ctx.relation(),
                group=step.group,
                writes=writes,
                ends_trip=_ends_trip(ctx, step),
            ),
            result_type=GroupStepResult,
            summary=step.describe(),
        )
    return _way(ctx, result)


async def sync_group(ctx: TripContext, step: SyncGroupStep) -> str | None:
    """The sync is the run's, once (finish_run); the trip records which run did it."""
    with ctx.carrying() as writes:
        result: GroupStepResult = await ctx.activity(
            SYNC_GROUP_PASSAGE,
            SyncGroupPassageInput(
                passage=ctx.passage,
                group=step.group,
                writes=writes,
                ends_trip=_ends_trip(ctx, step),
            ),
            result_type=GroupStepResult,
            summary=step.describe(),
        )
    return _way(ctx, result)


HANDLERS: dict[type[StepBase], Handler] = {
    AddToGroupStep: add_to_group,
    RemoveFromGroupStep: remove_from_group,
    SyncGroupStep: sync_group,
}
