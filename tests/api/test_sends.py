"""No send lost silently: stats say what became of each mail, and the ones that may not
have arrived are listed."""

from __future__ import annotations

import httpx
from temporalio.worker import Worker

from tests.api.support import active_journey, enroll, ok, relation, template, trip_status
from tests.support.smtp import SmtpSink


async def test_stats_and_the_ledger_say_what_became_of_each_mail(
    api: httpx.AsyncClient, worker: Worker, smtp_sink: SmtpSink
) -> None:
    await template(api)
    journey = await active_journey(
        api,
        {"name": "Welcome", "steps": [{"id": "hi", "type": "send_email", "template": "welcome"}]},
    )
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
    assert stats["steps"][0]["sends"] == {**expected, "in_progress": 0}
    assert stats["sends"] == stats["steps"][0]["sends"]

    uncertain = await ok(api.get("/sends", params={"status": "uncertain"}))
    assert uncertain["count"] == 1
    [cut] = uncertain["data"]
    assert cut["relation_id"] == people[3]["id"] and cut["step_id"] == "hi"
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
