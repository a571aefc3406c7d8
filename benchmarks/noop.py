"""The bare baseline: a workflow that runs one no-op activity.

It measures the ceiling of the Temporal set-up itself (server, SDK, one activity round
trip) on this machine, so the trip figures can be read as a ratio of it. The module
imports nothing but temporalio and the standard library: the workflow sandbox
re-imports a workflow module's imports for every run.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

from temporalio import activity, workflow

NOOP_WORKFLOW = "BenchNoop"
NOOP_ACTIVITY = "bench_noop"


class NoopActivities:
    """`on_run(workflow_id)` lets the harness time when the activity ran: the analogue
    of a trip's mail arriving in the sink."""

    def __init__(self, on_run: Callable[[str], None]) -> None:
        self._on_run = on_run

    @activity.defn(name=NOOP_ACTIVITY)
    async def noop(self) -> None:
        self._on_run(activity.info().workflow_id or "")


@workflow.defn(name=NOOP_WORKFLOW)
class NoopWorkflow:
    @workflow.run
    async def run(self) -> None:
        await workflow.execute_activity(NOOP_ACTIVITY, start_to_close_timeout=timedelta(seconds=30))
