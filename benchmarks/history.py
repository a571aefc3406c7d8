"""How much Temporal work one trip costs: the history events of a 10-step trip.

    .venv/bin/python -m benchmarks.history

Runs one trip through a journey of ten steps (three sends, three waits, a window, an
`if`, a jump and an exit) on the time-skipping test server with the real worker, a real
SMTP sink and a SQLite store, and counts the events of its history by type. The count is
what the Temporal server stores and every replay re-reads; it is exact, not noisy.
"""

from __future__ import annotations

import asyncio
import collections
from datetime import timedelta
from typing import Any

from tests.workflows.record_histories import trip_world
from tests.workflows.support import add_journey, add_relation, add_template, start_trip

TEN_STEPS: dict[str, Any] = {
    "name": "Ten steps",
    "timezone": "Europe/Amsterdam",
    "steps": [
        {"id": "welcome", "type": "send_email", "template": "hello"},
        {"id": "a_day", "type": "wait", "duration": "P1D"},
        {"id": "launched", "type": "wait_until", "until": "2020-01-01T09:00:00"},
        {"id": "any_time", "type": "wait_window", "start": "00:00", "end": "23:59:59"},
        {
            "id": "member",
            "type": "if",
            "condition": {"field": "member_since", "op": "is_set"},
            "then": "done",
            "else": "nudge",
        },
        {"id": "nudge", "type": "send_email", "template": "hello"},
        {"id": "onwards", "type": "jump", "target": "an_hour"},
        {"id": "an_hour", "type": "wait", "duration": "PT1H"},
        {"id": "last_call", "type": "send_email", "template": "hello"},
        {"id": "done", "type": "exit"},
    ],
}


async def count_events() -> collections.Counter[str]:
    async with trip_world() as (env, engine, settings, sink):
        add_template(engine, "hello", "Hello", "<p>Hello {{ relation.first_name }}</p>")
        journey = add_journey(engine, TEN_STEPS)
        relation = add_relation(engine, email="ten@example.org", first_name="Tien")
        handle = await start_trip(env.client, engine, settings.task_queue, journey, relation)
        await env.sleep(timedelta(days=2))
        await handle.result()
        history = await handle.fetch_history()
        assert len(sink.messages) == 3, f"expected 3 mails, got {len(sink.messages)}"
    return collections.Counter(
        str(event.WhichOneof("attributes")).removesuffix("_event_attributes")
        for event in history.events
    )


def main() -> None:
    counts = asyncio.run(count_events())
    print(f"10-step trip: {sum(counts.values())} history events")
    for name, count in counts.most_common():
        print(f"  {count:3d}  {name}")


if __name__ == "__main__":
    main()
