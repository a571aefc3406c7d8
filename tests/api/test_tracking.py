"""Tracked links, the open pixel and one-click unsubscribe, as a relation's mail client
and a mail provider reach them: without an API key, with the tokens a sent mail holds."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from activities.mail import tokens
from activities.mail.tokens import Token
from activities.mail.tracking import rewrite_links, unsubscribe_url
from api.routers.tracking import PIXEL
from domain.pressure import ContactPressure
from store import policy as store_policy
from store import suppressions
from store.db import session_scope
from store.membership import reevaluate
from store.models import (
    Event,
    Relation,
    Segment,
    SegmentMember,
    Send,
    SendFeedback,
    Suppression,
    TemplateVersion,
    Trip,
    WorkspaceSetting,
    utcnow,
)
from tests.activities.data import seed_trip
from tests.api.events_support import mail_to, settled_trips
from tests.api.support import (
    TEST_HOST,
    TEST_SIGNING_KEY,
    active_journey,
    keyed_client,
    make_app,
    template,
)
from tests.support.smtp import SmtpSink
from tests.support.temporal import start_dev_server

LINKS = ["https://shop.example.org/sale?utm=mail&x=1", "https://example.org/about"]
ADDRESS = "anna@example.org"


@dataclass(frozen=True)
class Seeded:
    relation_id: int
    journey_id: int
    send_id: int


def seed_send(
    engine: Engine,
    *,
    links: list[str] = LINKS,
    sent_ago: timedelta = timedelta(hours=1),
    email: str = ADDRESS,
) -> Seeded:
    """A relation, a journey and its trip, and a mail sent from it an hour ago with a
    template version that holds `links`: what the send activity leaves behind."""
    trip = seed_trip(engine, email=email, first_name="Anna")
    with session_scope(engine) as session:
        if not session.exec(
            select(TemplateVersion).where(col(TemplateVersion.template_key) == "welcome")
        ).first():
            session.add(
                TemplateVersion(
                    template_key="welcome", version=2, subject="Hi", html="<p>Hi</p>", links=links
                )
            )
        row = session.get(Trip, trip.trip_id)
        assert row is not None
        row.status, row.ended_at = "completed", utcnow() - sent_ago  # the mail was its last step
        send = Send(
            key=f"{trip.trip_id}/welcome",
            trip_id=trip.trip_id,
            step_id="welcome",
            relation_id=trip.relation_id,
            journey_id=trip.journey_id,
            template="welcome",
            message_id=f"<{trip.trip_id}@test>",
            status="sent",
            template_version=2,
            sent_at=utcnow() - sent_ago,
        )
        session.add(send)
        session.flush()
        assert send.id is not None
        return Seeded(trip.relation_id, trip.journey_id, send.id)


def click_path(send_id: int, link: int) -> str:
    return f"/t/c/{tokens.make(TEST_SIGNING_KEY, Token('c', send_id, link))}"


def open_path(send_id: int) -> str:
    return f"/t/o/{tokens.make(TEST_SIGNING_KEY, Token('o', send_id))}.gif"


def unsubscribe_path(send_id: int) -> str:
    return f"/u/{tokens.make(TEST_SIGNING_KEY, Token('u', send_id))}"


def feedback(engine: Engine, send_id: int, kind: str) -> list[SendFeedback]:
    with Session(engine) as session:
        return list(
            session.exec(
                select(SendFeedback)
                .where(col(SendFeedback.send_id) == send_id, col(SendFeedback.kind) == kind)
                .order_by(col(SendFeedback.id))
            ).all()
        )


def events_of(engine: Engine, relation_id: int, type_: str) -> list[Event]:
    with Session(engine) as session:
        return list(
            session.exec(
                select(Event)
                .where(col(Event.relation_id) == relation_id, col(Event.type) == type_)
                .order_by(col(Event.id))
            ).all()
        )


def relation_row(engine: Engine, relation_id: int) -> Relation:
    with Session(engine) as session:
        found = session.get(Relation, relation_id)
        assert found is not None
        return found


@pytest.fixture
def app(api_engine: Engine, dev_env: WorkflowEnvironment, task_queue: str) -> FastAPI:
    return make_app(engine=api_engine, temporal=dev_env.client, task_queue=task_queue)


@pytest.fixture
async def mail_client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """What a relation's mail client is: no API key."""
    async with keyed_client(app, None) as client:
        yield client


# --- rewriting a mail's links -------------------------------------------------------


def test_known_links_are_rewritten_and_everything_else_is_left_byte_for_byte() -> None:
    html = (
        "<html><body>"
        '<a href="https://shop.example.org/sale?utm=mail&amp;x=1" class="b">Sale</a> '
        "<a class='x' href='https://example.org/about'>About</a> "
        "<A HREF=https://example.org/about>again</A> "
        '<a href="mailto:help@example.org">Help</a> '
        '<a href="#top">Top</a> '
        '<a href="https://example.org/u/anna">Yours</a> '
        '<a data-href="https://example.org/about" title="href=https://example.org/about">x</a> '
        '<!-- <a href="https://example.org/about"> -->'
        "</body></html>"
    )
    out = rewrite_links(html, LINKS, send_id=7, base_url="https://mail.example.org/", secret=b"k")
    sale = f"https://mail.example.org/t/c/{tokens.make(b'k', Token('c', 7, 0))}"
    about = f"https://mail.example.org/t/c/{tokens.make(b'k', Token('c', 7, 1))}"
    pixel = f"https://mail.example.org/t/o/{tokens.make(b'k', Token('o', 7))}.gif"
    assert out == (
        "<html><body>"
        f'<a href="{sale}" class="b">Sale</a> '
        f"<a class='x' href='{about}'>About</a> "
        f"<A HREF={about}>again</A> "
        '<a href="mailto:help@example.org">Help</a> '
        '<a href="#top">Top</a> '
        '<a href="https://example.org/u/anna">Yours</a> '
        '<a data-href="https://example.org/about" title="href=https://example.org/about">x</a> '
        '<!-- <a href="https://example.org/about"> -->'
        f'<img src="{pixel}" width="1" height="1" alt="" style="display:none">'
        "</body></html>"
    )


def test_the_pixel_goes_at_the_end_of_a_fragment_and_the_unsubscribe_url_is_signed() -> None:
    out = rewrite_links("<p>No links</p>\n", [], send_id=3, base_url="http://h", secret=b"k")
    assert out.startswith('<p>No links</p>\n<img src="http://h/t/o/')
    url = unsubscribe_url("http://h/", b"k", 3)
    assert url == f"http://h/u/{tokens.make(b'k', Token('u', 3))}"
    assert tokens.read(b"k", url.rsplit("/", 1)[1], "u") == Token("u", 3)


# --- clicks ---------------------------------------------------------------------------


async def test_a_click_redirects_to_the_stored_link_and_becomes_an_event(
    api_engine: Engine, mail_client: httpx.AsyncClient
) -> None:
    seeded = seed_send(api_engine)
    for _ in range(2):
        response = await mail_client.get(click_path(seeded.send_id, 0))
        assert response.status_code == 302
        assert response.headers["location"] == LINKS[0]
    response = await mail_client.get(click_path(seeded.send_id, 1))
    assert response.headers["location"] == LINKS[1]

    clicks = feedback(api_engine, seeded.send_id, "click")
    assert [c.link for c in clicks] == [0, 0, 1]  # every click counts for the totals
    # The first click of each link is an event of the relation, as if the app sent it.
    clicked = events_of(api_engine, seeded.relation_id, "email_clicked")
    assert [e.payload for e in clicked] == [
        {
            "send_id": seeded.send_id,
            "journey_id": seeded.journey_id,
            "step_id": "welcome",
            "template": "welcome",
            "link": url,
        }
        for url in LINKS
    ]


async def test_a_tampered_token_redirects_nowhere(
    api_engine: Engine, mail_client: httpx.AsyncClient
) -> None:
    first = seed_send(api_engine)
    other = seed_send(api_engine, email="bob@example.org")
    good = click_path(first.send_id, 0).removeprefix("/t/c/")
    body, _, signature = good.rpartition(".")
    flipped = signature[:-1] + ("A" if signature[-1] != "A" else "B")
    tampered = {
        "signature changed": f"{body}.{flipped}",
        "another send, the first's signature": f"c{other.send_id}.0.{signature}",
        "another link, the first's signature": f"c{first.send_id}.1.{signature}",
        "link out of range": tokens.make(TEST_SIGNING_KEY, Token("c", first.send_id, 2)),
        "unknown send": tokens.make(TEST_SIGNING_KEY, Token("c", 999_999, 0)),
        "an open token": tokens.make(TEST_SIGNING_KEY, Token("o", first.send_id)),
        "another workspace's key": tokens.make(b"other", Token("c", first.send_id, 0)),
        "a host": "evil.example",
        "not ASCII": f"{body}.{signature[:-1]}é",
    }
    for what, token in tampered.items():
        response = await mail_client.get(f"/t/c/{token}")
        assert response.status_code == 404, what
        assert "location" not in response.headers, what
        assert response.headers["content-type"].startswith("text/html"), what
        assert "not valid" in response.text, what
    # A URL in the path (its slashes decoded) matches no route at all.
    response = await mail_client.get("/t/c/https%3A%2F%2Fevil.example")
    assert (response.status_code, "location" in response.headers) == (404, False)
    assert feedback(api_engine, first.send_id, "click") == []
    assert feedback(api_engine, other.send_id, "click") == []
    assert events_of(api_engine, first.relation_id, "email_clicked") == []


# --- opens ----------------------------------------------------------------------------


async def test_the_pixel_is_a_gif_for_any_token_and_records_opens(
    api_engine: Engine, mail_client: httpx.AsyncClient
) -> None:
    seeded = seed_send(api_engine)
    for path in (
        open_path(seeded.send_id),
        open_path(seeded.send_id),
        "/t/o/nonsense.gif",
        "/t/o/o1.0.%C3%A9.gif",  # not ASCII: still an image, never an error
        f"/t/o/{tokens.make(TEST_SIGNING_KEY, Token('o', 999_999))}.gif",
        f"/t/o/{tokens.make(b'other', Token('o', seeded.send_id))}.gif",
    ):
        response = await mail_client.get(path)
        assert response.status_code == 200, path
        assert response.headers["content-type"] == "image/gif", path
        assert response.headers["cache-control"] == "no-store", path
        assert response.content == PIXEL and response.content.startswith(b"GIF89a"), path

    opens = feedback(api_engine, seeded.send_id, "open")
    assert [o.machine for o in opens] == [False, False]
    # Only the first human open of a send is an event.
    [opened] = events_of(api_engine, seeded.relation_id, "email_opened")
    assert opened.payload == {
        "send_id": seeded.send_id,
        "journey_id": seeded.journey_id,
        "step_id": "welcome",
        "template": "welcome",
    }


async def test_likely_machine_opens_are_flagged_and_make_no_event(
    api_engine: Engine, app: FastAPI
) -> None:
    proxy = seed_send(api_engine)
    apple = seed_send(api_engine, email="bob@example.org")
    quick = seed_send(api_engine, email="cleo@example.org", sent_ago=timedelta(seconds=1))
    gmail = seed_send(api_engine, email="dora@example.org")
    scanner = "Mozilla/5.0 (compatible; Mimecast URL protect)"
    gmail_proxy = (
        "Mozilla/5.0 (Windows NT 5.1; rv:11.0) Gecko Firefox/11.0 (via ggpht.com GoogleImageProxy)"
    )
    async with keyed_client(app, None) as client:
        await client.get(open_path(proxy.send_id), headers={"User-Agent": scanner})
        await client.get(open_path(quick.send_id))
        # Gmail's proxy fetches when the person opens the mail: a human open.
        await client.get(open_path(gmail.send_id), headers={"User-Agent": gmail_proxy})
    [human] = feedback(api_engine, gmail.send_id, "open")
    assert not human.machine
    assert len(events_of(api_engine, gmail.relation_id, "email_opened")) == 1
    # Apple Mail Privacy Protection fetches from Apple's network, with an ordinary agent.
    transport = httpx.ASGITransport(app=app, client=("17.58.100.1", 50000))
    async with httpx.AsyncClient(transport=transport, base_url=f"http://{TEST_HOST}") as client:
        response = await client.get(open_path(apple.send_id), headers={"User-Agent": "Mozilla/5.0"})
        assert response.content == PIXEL

    for seeded, why in (
        (proxy, "mimecast"),
        (apple, "Apple Mail Privacy Protection"),
        (quick, "within seconds"),
    ):
        [machine] = feedback(api_engine, seeded.send_id, "open")
        assert machine.machine, why
        assert why in machine.detail
        assert events_of(api_engine, seeded.relation_id, "email_opened") == [], why

    # A workspace that judges by speed more loosely: a second quick open is a person's.
    with Session(api_engine) as session:
        store_policy.save(session, ContactPressure(machine_open_seconds=0))
    async with keyed_client(app, None) as client:
        await client.get(open_path(quick.send_id))
    assert [o.machine for o in feedback(api_engine, quick.send_id, "open")] == [True, False]

    # The person opening it later is an open like any other.
    async with keyed_client(app, None) as client:
        await client.get(open_path(proxy.send_id), headers={"User-Agent": "Thunderbird/128"})
    assert [o.machine for o in feedback(api_engine, proxy.send_id, "open")] == [True, False]
    assert len(events_of(api_engine, proxy.relation_id, "email_opened")) == 1


async def test_opens_and_clicks_admit_to_journeys_and_move_segments(
    api: httpx.AsyncClient,
    api_engine: Engine,
    worker: Worker,
    smtp_sink: SmtpSink,
    mail_client: httpx.AsyncClient,
) -> None:
    with session_scope(api_engine) as session:
        session.add(Segment(key="clickers", name="Clickers", condition={"event": "email_clicked"}))
    await template(api, "thanks", subject="Thanks for reading")
    await active_journey(
        api,
        {
            "name": "Follow up clicks",
            "triggers": [{"type": "event", "event": "email_clicked"}],
            "steps": [{"id": "thanks", "type": "send_email", "template": "thanks"}],
        },
    )
    seeded = seed_send(api_engine)
    assert (await mail_client.get(click_path(seeded.send_id, 1))).status_code == 302

    [trip] = await settled_trips(api, seeded.relation_id, 1)
    assert trip["status"] == "completed"
    [mail] = await mail_to(smtp_sink, ADDRESS)
    assert mail["Subject"] == "Thanks for reading"
    with Session(api_engine) as session:
        members = session.exec(
            select(SegmentMember.relation_id)
            .join(Segment, col(Segment.id) == col(SegmentMember.segment_id))
            .where(col(Segment.key) == "clickers")
        ).all()
    assert list(members) == [seeded.relation_id]


async def test_a_temporal_that_is_down_does_not_break_the_pixel_or_the_redirect(
    api_engine: Engine, task_queue: str
) -> None:
    env = await start_dev_server()
    app = make_app(engine=api_engine, temporal=env.client, task_queue=task_queue)
    await env.shutdown()
    seeded = seed_send(api_engine)
    async with keyed_client(app, None) as client:
        clicked = await client.get(click_path(seeded.send_id, 0))
        opened = await client.get(open_path(seeded.send_id))
    assert (clicked.status_code, clicked.headers["location"]) == (302, LINKS[0])
    assert (opened.status_code, opened.content) == (200, PIXEL)
    # Stored, waiting for the trip-sync schedule to dispatch them.
    for type_ in ("email_clicked", "email_opened"):
        [event] = events_of(api_engine, seeded.relation_id, type_)
        assert event.dispatched_at is None


# --- unsubscribe ----------------------------------------------------------------------


async def test_fetching_the_unsubscribe_page_does_not_unsubscribe(
    api_engine: Engine, mail_client: httpx.AsyncClient
) -> None:
    seeded = seed_send(api_engine)
    with session_scope(api_engine) as session:
        session.add(
            WorkspaceSetting(
                key="unsubscribe_page", value={"question": "No more <news> from Example?"}
            )
        )
    for _ in range(3):  # a scanner, a preview, the person
        page = await mail_client.get(unsubscribe_path(seeded.send_id))
        assert page.status_code == 200
        assert page.headers["content-type"].startswith("text/html")
        assert '<form method="post">' in page.text
        assert "No more &lt;news&gt; from Example?" in page.text  # the workspace's words
    assert relation_row(api_engine, seeded.relation_id).opt_in_email is True
    with Session(api_engine) as session:
        assert suppressions.is_suppressed(session, ADDRESS) is None
    assert feedback(api_engine, seeded.send_id, "unsubscribe") == []


async def test_one_click_post_unsubscribes_at_once_and_again_is_fine(
    api_engine: Engine, mail_client: httpx.AsyncClient
) -> None:
    seeded = seed_send(api_engine)
    with session_scope(api_engine) as session:
        session.add(
            Segment(
                key="mailable",
                name="Mailable",
                condition={"field": "opt_in_email", "op": "eq", "value": True},
            )
        )
        session.flush()
        reevaluate(session, seeded.relation_id, cause="test", now=utcnow())
    assert _segments(api_engine, seeded.relation_id) == ["mailable"]

    # Exactly what Gmail sends (RFC 8058): no cookie, no key, a form-encoded body.
    one_click: dict[str, Any] = {
        "content": b"List-Unsubscribe=One-Click",
        "headers": {"Content-Type": "application/x-www-form-urlencoded"},
    }
    for _ in range(2):
        response = await mail_client.post(unsubscribe_path(seeded.send_id), **one_click)
        assert response.status_code == 200
        assert "You are unsubscribed" in response.text

    assert relation_row(api_engine, seeded.relation_id).opt_in_email is False
    with Session(api_engine) as session:
        [row] = session.exec(select(Suppression)).all()
    assert (row.reason, row.send_id) == ("unsubscribe", seeded.send_id)
    assert row.address_hash == suppressions.address_hash(ADDRESS)
    assert len(feedback(api_engine, seeded.send_id, "unsubscribe")) == 1
    assert _segments(api_engine, seeded.relation_id) == []  # left at the unsubscribe

    refused = await mail_client.post(f"/u/{'u' + str(seeded.send_id)}.0.forged", **one_click)
    assert (refused.status_code, "location" in refused.headers) == (404, False)
    for method in ("GET", "POST"):
        odd = await mail_client.request(method, f"/u/u{seeded.send_id}.0.%C3%A9")
        assert odd.status_code == 404, method


async def test_an_unsubscribe_token_of_another_send_unsubscribes_only_its_own_relation(
    api_engine: Engine, mail_client: httpx.AsyncClient
) -> None:
    anna = seed_send(api_engine)
    bob = seed_send(api_engine, email="bob@example.org")
    signature = unsubscribe_path(anna.send_id).rpartition(".")[2]
    response = await mail_client.post(f"/u/u{bob.send_id}.0.{signature}")
    assert response.status_code == 404
    response = await mail_client.post(unsubscribe_path(anna.send_id))
    assert response.status_code == 200
    assert relation_row(api_engine, anna.relation_id).opt_in_email is False
    assert relation_row(api_engine, bob.relation_id).opt_in_email is True


def _segments(engine: Engine, relation_id: int) -> list[str]:
    with Session(engine) as session:
        return list(
            session.exec(
                select(Segment.key)
                .join(SegmentMember, col(SegmentMember.segment_id) == col(Segment.id))
                .where(col(SegmentMember.relation_id) == relation_id)
            ).all()
        )
