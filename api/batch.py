"""Cancelling many trips at once with one Temporal batch operation, not a call per trip."""

from __future__ import annotations

import uuid

from temporalio.api.batch.v1 import BatchOperationCancellation
from temporalio.api.workflowservice.v1 import StartBatchOperationRequest
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

from activities.contracts import TRIP_WORKFLOW


def running_trips_query(journey_id: int) -> str:
    # WorkflowType too: trigger workflows may carry a JourneyId as well.
    return (
        f"WorkflowType = '{TRIP_WORKFLOW}' AND JourneyId = '{journey_id}' "
        "AND ExecutionStatus = 'Running'"
    )


async def terminate_stuck_trips(client: Client, journey_id: int, reason: str) -> list[str]:
    """Terminate the trips whose workflow task keeps failing: they cannot run their own
    cancellation, so a cancel alone would leave them running for ever. One call each, not
    a second batch: a namespace runs one batch operation at a time by default, and the
    cancel batch has just started. Such trips are few."""
    query = running_trips_query(journey_id) + " AND TemporalReportedProblems IS NOT NULL"
    ended: list[str] = []
    async for execution in client.list_workflows(query):
        try:
            await client.get_workflow_handle(execution.id).terminate(reason=reason)
        except RPCError as error:
            if error.status != RPCStatusCode.NOT_FOUND:  # closed meanwhile: nothing to do
                raise
        ended.append(execution.id)
    return ended


async def cancel_running_trips(client: Client, journey_id: int, reason: str) -> str:
    """Start the batch job and return its id; each workflow records its own cancellation."""
    job_id = str(uuid.uuid4())
    await client.workflow_service.start_batch_operation(
        StartBatchOperationRequest(
            namespace=client.namespace,
            job_id=job_id,
            visibility_query=running_trips_query(journey_id),
            reason=reason,
            cancellation_operation=BatchOperationCancellation(),
        )
    )
    return job_id
