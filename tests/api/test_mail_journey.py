"""The bulk sender's round trip, as a new user does it through the API: a tracked
journey mail is opened, its link clicked and the relation unsubscribes with one click
from the mail's header; the click moves the trip on, the next mail is not sent, and the
step's, the journey's and the template's statistics show all of it."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

from tests.api.support import active_journey, enroll, eventually, ok, trip_when
from tests.support.smtp import SmtpSink
from worker.worker import Workers

OFFER = "https://shop.example.org/lente?utm=mail"


def _path(url: str) -> str:
    """The API path of a URL from a mail (it names the public host, the test client
    talks to the app directly)."""
    parts = urlsplit(url)
    return f"{parts.path}?{parts.query}" if parts.query else parts.path


def _links(html: str, prefix: str) -> list[str]:
    found = []
    for chunk in html.split('"')[1::2]:
        if prefix in chunk:
            found.append(chunk.replace("&amp;", "&"))
    return found


@pytest.mark.slow
async def test_a_tracked_mail_is_opened_clicked_and_unsubscribed_and_the_stats_say_so(
    api: httpx.AsyncClient, worker: Workers, smtp_sink: SmtpSink
) -> None:
    # An open right after the send would count as a machine's (a privacy proxy); here a
    # person opens it at once.
    await ok(api.put("/settings/contact-pressure", json={"machine_open_seconds": 0}))
    eva = await ok(
        api.post("/relations", json={"email": "eva@example.org", "first_name": "Eva"}), 201
    )
    for key, html in (
        ("spring", f'<p>Hi {{{{ relation.first_name }}}}, <a href="{OFFER}">see</a></p>'),
        ("thanks", "<p>Thanks for looking, {{ relation.first_name }}</p>"),
    ):
        await ok(api.post("/templates", json={"key": key, "subject": key, "html": html}), 201)
    journey = await active_journey(
        api,
        {
            "name": "Spring",
            "triggers": [{"type": "manual"}],
            "steps": [
                {
                    "id": "offer",
                    "type": "send_email",
                    "template": "spring",
                    "conversion": {"event": "purchase", "within": "P7D"},
                },
                {
                    "id": "clicked",
                    "type": "wait_for_event",
                    "event": "email_clicked",
                    "timeout": "P1D",
                },
                {"id": "thanks", "type": "send_email", "template": "thanks"},
            ],
        },
    )
    trip = await enroll(api, journey["id"], eva["id"])

    async def mails() -> list[Any]:
        return smtp_sink.to("eva@example.org")

    [mail] = await eventually(mails, lambda found: len(found) == 1, what="the offer")
    html = mail.get_body(("html",)).get_content()
    [click] = _links(html, "/t/c/")
    [pixel] = _links(html, "/t/o/")
    unsubscribe = mail["List-Unsubscribe"].strip("<>")
    assert mail["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"

    opened = await api.get(_path(pixel))
    assert (opened.status_code, opened.headers["content-type"]) == (200, "image/gif")
    # What a mail client's unsubscribe button does (RFC 8058): no key, no login.
    async with httpx.AsyncClient(transport=api._transport, base_url=str(api.base_url)) as anon:
        done = await anon.post(
            _path(unsubscribe),
            content=b"List-Unsubscribe=One-Click",
            headers={"content-type": "application/x-www-form-urlencoded"},
        )
        assert done.status_code == 200
        clicked = await anon.get(_path(click), follow_redirects=False)
    assert (clicked.status_code, clicked.headers["location"]) == (302, OFFER)

    # The click is an event: the trip that waited for it goes on, and the next mail is
    # not sent, since Eva unsubscribed.
    ended = await trip_when(api, trip["id"], lambda t: t["status"] == "completed", "the trip's end")
    assert [(p["step_id"], p["outcome"]) for p in ended["path"]] == [
        ("offer", "sent"),
        ("clicked", "received"),
        ("thanks", "skipped"),
    ]
    assert len(smtp_sink.to("eva@example.org")) == 1
    assert (await ok(api.get(f"/relations/{eva['id']}")))["opt_in_email"] is False

    stats = await ok(api.get(f"/journeys/{journey['id']}/stats"))
    steps = {s["step_id"]: s["mail"] for s in stats["steps"]}
    offer = steps["offer"]
    assert (offer["sent"], offer["delivered"], offer["unsubscribed"]) == (1, 1, 1)
    assert (offer["opened"]["unique"], offer["opened"]["machine_only"]) == (1, 0)
    assert (offer["clicked"]["unique"], offer["clicked"]["total"]) == (1, 1)
    assert offer["clicked"]["links"] == [{"url": OFFER, "unique": 1, "total": 1}]
    assert offer["rates"] == {"open": 1.0, "click": 1.0, "click_to_open": 1.0}
    assert offer["conversions"]["count"] == 0
    assert steps["thanks"]["sent"] == 0
    assert steps["thanks"]["skipped"]["by_reason"]["suppressed"] == 1
    total = stats["mail"]
    assert (total["sent"], total["skipped"]["total"], total["unsubscribed"]) == (1, 1, 1)
    template = await ok(api.get("/templates/spring/stats"))
    assert (template["mail"]["sent"], template["mail"]["clicked"]["unique"]) == (1, 1)
