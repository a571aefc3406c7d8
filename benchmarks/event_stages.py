"""Where an event's time goes, read from Temporal's visibility after a run.

Per event: due -> its Dispatch workflow started (the API stored the event and started
it) -> the trip's workflow started (the dispatch's workflow task ran its local activity,
which admitted the relation) -> the mail reached the sink (the trip's first workflow task
and its send activity). Start times are the server's, on the same clock as the harness.
Nothing is asked while the run goes on: reading visibility costs the server work.
"""

from __future__ import annotations

from collections.abc import Sequence

from temporalio.client import Client

from activities.contracts import DISPATCH_WORKFLOW
from activities.dispatch import dispatch_id
from benchmarks.open_loop import Shot
from benchmarks.report import quantile

STAGES = ("API: due -> Dispatch started", "Dispatch -> trip started", "trip started -> mail")


async def _starts(client: Client, query: str) -> dict[str, float]:
    found = {}
    async for execution in client.list_workflows(query, page_size=1000):
        found[execution.id] = execution.start_time.timestamp()
    return found


async def stages(
    client: Client, journey_id: int, shots: Sequence[Shot], arrived: dict[str, float]
) -> dict[str, list[float]]:
    """Stage -> [p50, p99] in ms, over the events whose mail arrived."""
    dispatches = await _starts(client, f"WorkflowType = '{DISPATCH_WORKFLOW}'")
    trips = await _starts(client, f"JourneyId = '{journey_id}'")
    # One trip per new donor: its relation's first (and only) trip through the journey.
    trip_of = {int(trip_id.split(":")[2]): at for trip_id, at in trips.items()}
    spans: dict[str, list[float]] = {name: [] for name in STAGES}
    for shot in shots:
        if shot.event_id is None or shot.relation_id is None or shot.address not in arrived:
            continue
        dispatched = dispatches.get(dispatch_id(event_id=shot.event_id))
        tripped = trip_of.get(shot.relation_id)
        if dispatched is None or tripped is None:
            continue
        for name, span in zip(
            STAGES,
            (dispatched - shot.due, tripped - dispatched, arrived[shot.address] - tripped),
            strict=True,
        ):
            spans[name].append(span * 1000)
    return {
        name: [round(quantile(sorted(v), 0.50), 1), round(quantile(sorted(v), 0.99), 1)]
        for name, v in spans.items()
    }
