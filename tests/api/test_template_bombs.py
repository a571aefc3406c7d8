"""A runaway template fails its own send and nothing else: renders run in child
processes with a time and a memory limit (activities/mail/render_pool.py)."""

from __future__ import annotations

import time

import httpx
import pytest
from temporalio.worker import Worker

from tests.api.support import (
    active_journey,
    enroll,
    ok,
    relation,
    sqlite_only,
    template,
    trip_status,
    welcome_journey,
)
from tests.support.smtp import SmtpSink

# Each once passed the sandbox and froze the worker or grew it by gigabytes.
BOMBS = {
    "nested-lists": "{{ [[0]*1000000]*1000000 }}",
    "ljust": "{{ 'a'.ljust(900000000) }}",
    "center": "{{ 'a'|center(900000000) }}",
    "percent": "{{ '%900000000s' % 'a' }}",
    "power": "{{ ((10**1000)**1000)**4 }}",
}


@sqlite_only
@pytest.mark.timeout(120)
async def test_template_bombs_fail_their_send_while_other_trips_go_on(
    api: httpx.AsyncClient, worker: Worker, smtp_sink: SmtpSink
) -> None:
    normal = await welcome_journey(api)
    bomb_trips = {}
    for name, body in BOMBS.items():
        await template(api, key=f"bomb-{name}", html=f"<p>{body}</p>")
        journey = await active_journey(
            api,
            {
                "name": f"Bomb {name}",
                "steps": [
                    {"id": "boom", "type": "send_email", "template": f"bomb-{name}"},
                    {"id": "after", "type": "wait", "duration": "PT1S"},
                ],
            },
        )
        victim = await relation(api, email=f"{name}@example.org")
        bomb_trips[name] = (await enroll(api, journey["id"], victim["id"]))["id"]

    started = time.monotonic()
    others = [await relation(api, email=f"person{n}@example.org") for n in range(20)]
    trips = [await enroll(api, normal["id"], r["id"]) for r in others]
    for trip in trips:
        await trip_status(api, trip["id"], "completed")
    # Bounded by the render time limit (2 s in the tests), not by the bombs: before, 0 of
    # 20 finished within 30 s. Generous for a busy CI machine.
    assert time.monotonic() - started < 30
    assert len({m["To"] for m in smtp_sink.messages}) == 20

    for name, trip_id in bomb_trips.items():
        # The trip goes on past the failed send, to its wait and its end.
        done = await trip_status(api, trip_id, "completed")
        boom = done["path"][0]
        assert boom["outcome"] == "failed", (name, boom)
        assert f"template 'bomb-{name}'" in boom["detail"], boom["detail"]
        assert any(
            reason in boom["detail"]
            for reason in ("took longer than 2 s", "more memory than", "ValueError")
        ), boom["detail"]
        assert [p["step_id"] for p in done["path"]] == ["boom", "after"]
    assert not any(m["To"].startswith(tuple(BOMBS)) for m in smtp_sink.messages)
    await ok(api.get("/health"))
