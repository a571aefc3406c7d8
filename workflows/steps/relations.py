"""Handlers of the relation data steps: one activity per passage does the change, records
the passage and names the way out; lookup, add and upsert may make the trip travel on
as another relation (or give one to a trip that had none)."""

from __future__ import annotations

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from activities.contracts.relations import (
        ADD_RELATION,
        DELETE_RELATION,
        LOOKUP_RELATION,
        UPDATE_RELATION,
        UPSERT_RELATION,
        AddRelationInput,
        DeleteRelationInput,
        LookupRelationInput,
        RelationStepResult,
        UpdateRelationInput,
        UpsertRelationInput,
        field_inputs,
    )
    from domain.steps import StepBase
    from domain.steps.relations import (
        AddRelationStep,
        DeleteRelationStep,
        LookupRelationStep,
        UpdateRelationStep,
        UpsertRelationStep,
    )

from workflows.context import Handler, TripContext


async def _run(ctx: TripContext, step: StepBase, name: str, data: object) -> str | None:
    result: RelationStepResult = await ctx.activity(
        name, data, result_type=RelationStepResult, summary=f"{step.label()}: {step.describe()}"
    )
    ctx.closed = result.closed
    if result.detail:
        ctx.details(result.detail)
    if not result.trip_running or result.way is None:
        return None
    if result.relation_id is not None:
        ctx.become(result.relation_id)
    return result.way


async def update_relation(ctx: TripContext, step: UpdateRelationStep) -> str | None:
    with ctx.carrying() as writes:
        data = UpdateRelationInput(
            passage=ctx.passage,
            event_id=ctx.trip.event_id,
            relation_id=ctx.relation(),
            values=field_inputs(step.set_),
            writes=writes,
        )
        return await _run(ctx, step, UPDATE_RELATION, data)


async def lookup_relation(ctx: TripContext, step: LookupRelationStep) -> str | None:
    with ctx.carrying() as writes:
        data = LookupRelationInput(
            passage=ctx.passage,
            event_id=ctx.trip.event_id,
            match=field_inputs(step.match),
            writes=writes,
        )
        return await _run(ctx, step, LOOKUP_RELATION, data)


async def add_relation(ctx: TripContext, step: AddRelationStep) -> str | None:
    with ctx.carrying() as writes:
        data = AddRelationInput(
            passage=ctx.passage,
            event_id=ctx.trip.event_id,
            values=field_inputs(step.set_),
            writes=writes,
        )
        return await _run(ctx, step, ADD_RELATION, data)


async def upsert_relation(ctx: TripContext, step: UpsertRelationStep) -> str | None:
    with ctx.carrying() as writes:
        data = UpsertRelationInput(
            passage=ctx.passage,
            event_id=ctx.trip.event_id,
            values=field_inputs(step.set_),
            writes=writes,
        )
        return await _run(ctx, step, UPSERT_RELATION, data)


async def delete_relation(ctx: TripContext, step: DeleteRelationStep) -> str | None:
    """The trip ends here, completed: the activity closed it with the deletion."""
    with ctx.carrying() as writes:
        data = DeleteRelationInput(
            passage=ctx.passage,
            event_id=ctx.trip.event_id,
            relation_id=ctx.relation(),
            writes=writes,
        )
        return await _run(ctx, step, DELETE_RELATION, data)


HANDLERS: dict[type[StepBase], Handler] = {
    UpdateRelationStep: update_relation,
    LookupRelationStep: lookup_relation,
    AddRelationStep: add_relation,
    UpsertRelationStep: upsert_relation,
    DeleteRelationStep: delete_relation,
}
