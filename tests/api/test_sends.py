"""No send lost silently: stats say what became of each mail, and the ones that may not
have arrived are listed."""

from __future__ import annotations

from typing import Any

import httpx
from sqlalchemy.engine import Engine
from temporalio.testing import ActivityEnvironment, WorkflowEnvironment
from temporalio.worker import Worker

from activities.contracts import SyncClosedTripsInput
from activities.trip_sync import TripSyncActivities
from tests.api.support import (
    enroll,
    eventually,
    ok,
    relation,
    trip_status,
    welcome_journey,
)
from tests.support.smtp import SmtpSink


async def test_stats_and_the_ledger_say_what_became_of_each_mail(
    api: httpx.AsyncClient, worker: Worker, smtp_sink: SmtpSink
) -> None:
    journey = await welcome_journey(api)
    smtp_sink.handler.refuse["gone@example.org"] = "550 5.1.1 no such user"
    smtp_sink.handler.hang_up.add("cut@example.org")
    people = [
        await relation(api, email="anna@example.org"),
        await relation(api, email="gone@example.org"),
        await relation(api, email="quiet@example.org", opt_in_email=False),
        await relation(api, email="cut@example.org"),
    ]
    for person in people:
        trip = await enroll(api, journey["id"], person["id"])
        await trip_status(api, trip["id"], "completed")

    stats = await ok(api.get(f"/journeys/{journey['id']}/stats"))
    expected = {"sent": 1, "bounced": 1, "skipped": 1, "failed": 0, "uncertain": 1}
    assert stats["steps"][0]["sends"] == {**expected, "dismissed": 0, "in_progress": 0}
    assert stats["sends"] == stats["steps"][0]["sends"]

    uncertain = await ok(api.get("/sends", params={"status": "uncertain"}))
    assert uncertain["count"] == 1
    [cut] = uncertain["data"]
    assert cut["relation_id"] == people[3]["id"] and cut["step_id"] == "welcome"
    # It did arrive here, which is why it is not resent: the operator decides.
    [arrived] = smtp_sink.handler.to("cut@example.org")
    assert arrived["Message-ID"] == cut["message_id"]
    everything = await ok(api.get("/sends", params={"journey_id": journey["id"]}))
    assert sorted(s["status"] for s in everything["data"]) == [
        "bounced",
        "sent",
        "skipped",
        "uncertain",
    ]


async def test_an_operator_resends_or_dismisses_an_uncertain_send(
    api: httpx.AsyncClient, worker: Worker, smtp_sink: SmtpSink
) -> None:
    journey = await welcome_journey(api)
    smtp_sink.handler.hang_up.update({"cut@example.org", "torn@example.org"})
    for address in ("cut@example.org", "torn@example.org"):
        person = await relation(api, email=address)
        await trip_status(api, (await enroll(api, journey["id"], person["id"]))["id"], "completed")
    listed = await ok(api.get("/sends", params={"status": "uncertain"}))
    by_address = {
        (await ok(api.get(f"/relations/{s['relation_id']}")))["email"]: s for s in listed["data"]
    }
    cut, torn = by_address["cut@example.org"], by_address["torn@example.org"]

    # The relay works again; the operator asks for the first one to go out again.
    smtp_sink.handler.hang_up.clear()
    started = await ok(api.post(f"/sends/{cut['id']}/resend"), 202)
    assert started["workflow_id"].startswith("resend:")
    again = await api.post(f"/sends/{cut['id']}/resend")
    assert again.status_code == 409, "one resend per uncertain send"

    async def settled() -> dict[str, Any]:
        found: dict[str, Any] = await ok(api.get(f"/sends/{cut['id']}"))
        return found

    done = await eventually(settled, lambda s: s["status"] == "sent", what="the resend")

    async def first_passage() -> dict[str, Any]:
        found: dict[str, Any] = (await ok(api.get(f"/trips/{cut['trip_id']}")))["path"][0]
        return found

    # The ledger is settled first, the path right after it (a second write).
    passage = await eventually(
        first_passage, lambda p: p["outcome"] != "uncertain", what="the path after the resend"
    )
    path = [passage]
    assert path[0]["outcome"] == "sent", "the path agrees with the ledger after a resend"
    assert "resent on request" in path[0]["detail"]
    copies = smtp_sink.handler.to("cut@example.org")
    assert len(copies) == 2, "the cut-off copy arrived, and the resend"
    assert {c["Message-ID"] for c in copies} == {cut["message_id"]} == {done["message_id"]}

    dismissed = await ok(api.post(f"/sends/{torn['id']}/dismiss"))
    assert dismissed["status"] == "dismissed"
    assert (await api.post(f"/sends/{torn['id']}/resend")).status_code == 409
    assert len(smtp_sink.handler.to("torn@example.org")) == 1
    stats = await ok(api.get(f"/journeys/{journey['id']}/stats"))
    assert (stats["sends"]["sent"], stats["sends"]["dismissed"], stats["sends"]["uncertain"]) == (
        1,
        1,
        0,
    )


async def test_the_resend_setting_sends_uncertain_mail_again_at_the_next_sync(
    api: httpx.AsyncClient,
    worker: Worker,
    smtp_sink: SmtpSink,
    dev_env: WorkflowEnvironment,
    api_engine: Engine,
    task_queue: str,
) -> None:
    journey = await welcome_journey(api)
    smtp_sink.handler.hang_up.add("cut@example.org")
    person = await relation(api, email="cut@example.org")
    await trip_status(api, (await enroll(api, journey["id"], person["id"]))["id"], "completed")
    [cut] = (await ok(api.get("/sends", params={"status": "uncertain"})))["data"]
    smtp_sink.handler.hang_up.clear()

    def sync(resend: bool) -> TripSyncActivities:
        return TripSyncActivities(
            api_engine, dev_env.client, resend_uncertain=resend, task_queue=task_queue
        )

    keep = await ActivityEnvironment().run(sync(False).sync_closed_trips, SyncClosedTripsInput())
    assert keep.resent == 0  # the default: listed, left to an operator
    assert (await ok(api.get(f"/sends/{cut['id']}")))["status"] == "uncertain"

    first = await ActivityEnvironment().run(sync(True).sync_closed_trips, SyncClosedTripsInput())
    assert first.resent == 1

    async def settled() -> dict[str, Any]:
        found: dict[str, Any] = await ok(api.get(f"/sends/{cut['id']}"))
        return found

    await eventually(settled, lambda s: s["status"] == "sent", what="the automatic resend")
    again = await ActivityEnvironment().run(sync(True).sync_closed_trips, SyncClosedTripsInput())
    assert again.resent == 0, "a sent mail is not resent again"
    assert len(smtp_sink.handler.to("cut@example.org")) == 2
