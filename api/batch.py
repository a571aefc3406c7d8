"""Cancelling many trips at once with one Temporal batch operation, not a call per trip."""

from __future__ import annotations

import uuid

from temporalio.api.batch.v1 import BatchOperationCancellation, BatchOperationTermination
from temporalio.api.workflowservice.v1 import StartBatchOperationRequest
from temporalio.client import Client

from activities.contracts import TRIP_WORKFLOW


def running_trips_query(journey_id: int) -> str:
    # WorkflowType too: trigger workflows may carry a JourneyId as well.
    return (
        f"WorkflowType = '{TRIP_WORKFLOW}' AND JourneyId = '{journey_id}' "
        "AND ExecutionStatus = 'Running'"
    )


async def terminate_stuck_trips(client: Client, journey_id: int, reason: str) -> str:
    """Terminate the trips whose workflow task keeps failing: they cannot run their own
    cancellation, so a cancel alone would leave them running for ever."""
    job_id = str(uuid.uuid4())
    await client.workflow_service.start_batch_operation(
        StartBatchOperationRequest(
            namespace=client.namespace,
            job_id=job_id,
            visibility_query=running_trips_query(journey_id)
            + " AND TemporalReportedProblems IS NOT NULL",
            reason=reason,
            termination_operation=BatchOperationTermination(),
        )
    )
    return job_id


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
