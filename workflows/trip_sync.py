"""Run by a Temporal Schedule: bring trips closed outside their own code up to date."""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    from activities.contracts import (
        SYNC_CLOSED_TRIPS,
        SYNC_CLOSED_TRIPS_WORKFLOW,
        SyncClosedTripsInput,
        SyncClosedTripsResult,
    )


@workflow.defn(name=SYNC_CLOSED_TRIPS_WORKFLOW)
class SyncClosedTripsWorkflow:
    @workflow.run
    async def run(self, data: SyncClosedTripsInput | None = None) -> int:
        result: SyncClosedTripsResult = await workflow.execute_activity(
            SYNC_CLOSED_TRIPS,
            data or SyncClosedTripsInput(),
            result_type=SyncClosedTripsResult,
            start_to_close_timeout=timedelta(minutes=10),
            heartbeat_timeout=timedelta(minutes=2),
            retry_policy=RetryPolicy(maximum_attempts=3),
            summary="close trips that Temporal ended without them (terminated, timed out)",
        )
        return result.closed
