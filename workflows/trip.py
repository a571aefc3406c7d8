"""The trip workflow: one relation travelling through one frozen journey version.

It interprets the definition step by step (like the `dsl` sample): each step type's
handler (`workflows/steps/`) runs one passage and names the way out it takes; this
loop follows it to the next step until a handler ends the trip or the steps run out.
"""

from __future__ import annotations

from temporalio import workflow
from temporalio.exceptions import is_cancelled_exception

# Passed through: the sandbox would otherwise import these modules afresh for every
# trip it runs, which cost more worker CPU than the trip itself. They hold no mutable
# state and reach the clock, timers and activities only through `temporalio.workflow`;
# tests/test_import_boundaries.py keeps them from importing anything else of ours.
with workflow.unsafe.imports_passed_through():
    from activities.contracts import EVENT_SIGNAL, TRIP_WORKFLOW, EventSignal, TripInput
    from domain.statuses import Outcome, TripStatus
    from workflows.context import Inbox, LeftJourney, TripContext
    from workflows.legacy import LegacyTrip
    from workflows.steps import handler_for

# Trips started from here on write their path through the steps' own activities and
# local activities (no record_step round trip per step). See the README, "Changing the
# trip workflow", for when this check may become deprecate_patch and then go.
BOOKKEEPING_FOLDED = "bookkeeping-folded"


@workflow.defn(name=TRIP_WORKFLOW)
class TripWorkflow:
    def __init__(self) -> None:
        # Signals may arrive before `run` starts: they wait here.
        self._inbox = Inbox()

    @workflow.signal(name=EVENT_SIGNAL)
    def event(self, signal: EventSignal) -> None:
        """An event of a type this trip listens for (a goal, a wait_for_event step)."""
        self._inbox.hear(signal)

    @workflow.run
    async def run(self, trip: TripInput) -> str:
        if not workflow.patched(BOOKKEEPING_FOLDED):
            return await LegacyTrip().run(trip)
        definition = trip.frozen_definition()
        ctx = TripContext(trip, definition, self._inbox)
        step_id: str | None = trip.start_at or definition.steps[0].id
        try:
            while step_id is not None:
                step = definition.step(step_id)
                ctx.enter(step)
                if ctx.passage.seq == 1 and definition.exit_on:
                    await ctx.goals_so_far()
                ctx.check_exit()
                way = await handler_for(step)(ctx, step)
                if way is None:
                    break
                if way not in step.ways_out():
                    raise LookupError(f"step type '{step.type}' has no way out '{way}'")
                step_id = definition.follow(step, way)
            await ctx.finish(TripStatus.completed)
        except LeftJourney as goal:
            # A goal event (exit_on) arrived: the trip ends where it is, as completed.
            ctx.note(Outcome.goal_reached, str(goal))
            ctx.details(str(goal))
            await ctx.finish(TripStatus.completed)
        except BaseException as error:
            # A cancel (deactivate with mode=cancel) arrives as CancelledError during a
            # timer, or as an ActivityError caused by it during an activity: either way,
            # close the trip in our store, then let Temporal mark the workflow cancelled.
            if is_cancelled_exception(error):
                await ctx.finish(TripStatus.cancelled)
            raise
        return " > ".join(ctx.path)
