"""Mail statistics through the API: what a send step, a journey and a template report
match the sends, feedback and events written to the store, on both databases."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select
from temporalio.testing import WorkflowEnvironment

from domain.statuses import FeedbackKind, SendStatus, TripStatus
from store.keys import Scope
from store.models import Event, Relation, Send, SendFeedback, TemplateVersion, Trip
from tests.api.support import (
    active_journey,
    keyed_client,
    make_app,
    new_key,
    ok,
    sqlite_only,
    template,
)

# Microseconds on purpose: the conversion window's end must keep them on SQLite too.
T = datetime(2026, 3, 2, 9, 0, 0, 123456, tzinfo=UTC)
SHOP_A = "https://shop.example/a"
SHOP_B = "https://shop.example/b"
# Written twice in the template: a send clicking both is one send for that URL.
LINKS = [SHOP_A, SHOP_B, SHOP_A]

WELCOME: dict[str, Any] = {
    "name": "Welcome",
    "steps": [
        {
            "id": "welcome",
            "type": "send_email",
            "template": "welcome",
            "conversion": {"event": "purchase", "within": "P7D"},
        },
        {"id": "nudge", "type": "send_email", "template": "nudge"},
        {"id": "end", "type": "exit"},
    ],
}
HELLO: dict[str, Any] = {
    "name": "Hello again",
    "steps": [{"id": "hello", "type": "send_email", "template": "welcome"}],
}

ZERO_REASONS = {
    reason: 0
    for reason in (
        "no_address",
        "invalid_address",
        "no_consent",
        "suppressed",
        "capped",
        "left_journey",
        "relation_erased",
        "trip_ended",
        "unspecified",
    )
}


@dataclass
class Mail:
    """One send of the scenario and what became of it afterwards."""

    status: SendStatus
    reason: str = ""
    trip: TripStatus = TripStatus.completed
    sent_at: datetime | None = None
    feedback: list[tuple[FeedbackKind, dict[str, Any]]] = field(default_factory=list)
    events: list[tuple[str, datetime]] = field(default_factory=list)


def _open(machine: bool = False) -> tuple[FeedbackKind, dict[str, Any]]:
    return FeedbackKind.open, {"machine": machine}


def _click(link: int) -> tuple[FeedbackKind, dict[str, Any]]:
    return FeedbackKind.click, {"link": link}


def _only(kind: FeedbackKind) -> tuple[FeedbackKind, dict[str, Any]]:
    return kind, {}


WELCOME_MAILS = [
    # Opened twice, clicked both copies of SHOP_A and SHOP_B once; bought 2 days later.
    Mail(
        SendStatus.sent,
        sent_at=T,
        feedback=[_open(), _open(), _click(0), _click(2), _click(1)],
        events=[("purchase", T + timedelta(days=2))],
    ),
    # Only a privacy proxy opened it; bought just outside the week, just before the mail,
    # and signed up the next day (another event type).
    Mail(
        SendStatus.sent,
        sent_at=T,
        feedback=[_open(machine=True)],
        events=[
            ("purchase", T + timedelta(days=7, microseconds=1)),
            ("purchase", T - timedelta(microseconds=1)),
            ("signup", T + timedelta(days=1)),
        ],
    ),
    # Machine and human opens, two clicks on SHOP_B, unsubscribed; bought exactly a week
    # after the mail (the window includes its end).
    Mail(
        SendStatus.sent,
        sent_at=T,
        feedback=[
            _open(machine=True),
            _open(),
            _click(1),
            _click(1),
            _only(FeedbackKind.unsubscribe),
        ],
        events=[("purchase", T + timedelta(days=7))],
    ),
    # Accepted, then a delivery status notification: hard bounced, not delivered.
    Mail(SendStatus.sent, sent_at=T, feedback=[_only(FeedbackKind.hard_bounce)]),
    # Refused with a 5xx at send time.
    Mail(SendStatus.bounced),
    # A soft bounce, and later a spam complaint.
    Mail(
        SendStatus.sent,
        sent_at=T,
        feedback=[_only(FeedbackKind.soft_bounce), _only(FeedbackKind.complaint)],
    ),
    Mail(SendStatus.sent, sent_at=T),
    Mail(SendStatus.sent, sent_at=T),
    Mail(SendStatus.uncertain, sent_at=T),
    Mail(SendStatus.failed),
    Mail(SendStatus.claimed, trip=TripStatus.running),  # being sent
    Mail(SendStatus.transmitting),  # its trip ended: it gave up
    Mail(SendStatus.deferred, reason="quiet_hours", trip=TripStatus.running),
    Mail(SendStatus.deferred, reason="daily_cap", trip=TripStatus.cancelled),  # never goes
    Mail(SendStatus.skipped, reason="no_consent"),
    Mail(SendStatus.skipped, reason="suppressed"),
    Mail(SendStatus.skipped, reason="capped"),
    Mail(SendStatus.skipped, reason="capped"),
    Mail(SendStatus.skipped, reason="left_journey"),
    Mail(SendStatus.skipped),  # recorded before reasons were
]
NUDGE_MAILS = [
    Mail(SendStatus.sent, sent_at=T + timedelta(days=3), feedback=[_open()]),
    Mail(SendStatus.sent, sent_at=T + timedelta(days=3)),
]
HELLO_MAILS = [
    Mail(
        SendStatus.sent,
        sent_at=T,
        feedback=[_open(), _click(0)],
        events=[("purchase", T + timedelta(hours=1))],
    ),
    Mail(SendStatus.sent, sent_at=T, feedback=[_only(FeedbackKind.hard_bounce)]),
]


def _template_version(session: Session, key: str, links: list[str]) -> None:
    """Version 1 of the template with these links (made here if the API did not)."""
    found = session.exec(
        select(TemplateVersion).where(
            col(TemplateVersion.template_key) == key, col(TemplateVersion.version) == 1
        )
    ).first()
    row = found or TemplateVersion(template_key=key, version=1, subject="s", html="h")
    row.links = links
    session.add(row)


def _write(engine: Engine, journey_id: int, step_id: str, key: str, mails: list[Mail]) -> None:
    with Session(engine) as session:
        for mail in mails:
            person = Relation(email=None, first_name="Test")
            session.add(person)
            session.flush()
            assert person.id is not None
            trip_id = f"trip:{journey_id}:{person.id}:1"
            session.add(
                Trip(
                    id=trip_id,
                    journey_id=journey_id,
                    journey_version=1,
                    relation_id=person.id,
                    number=1,
                    status=mail.trip,
                )
            )
            session.flush()  # the send refers to the trip
            send = Send(
                key=f"{trip_id}/{step_id}",
                trip_id=trip_id,
                step_id=step_id,
                relation_id=person.id,
                journey_id=journey_id,
                template=key,
                message_id=f"<{trip_id}/{step_id}@test>",
                status=mail.status,
                reason=mail.reason,
                template_version=1,
                sent_at=mail.sent_at,
            )
            session.add(send)
            session.flush()
            assert send.id is not None
            for kind, extra in mail.feedback:
                session.add(SendFeedback(send_id=send.id, kind=kind, at=T, **extra))
            for event_type, at in mail.events:
                session.add(Event(relation_id=person.id, type=event_type, occurred_at=at))
        session.commit()


async def _scenario(api: httpx.AsyncClient, engine: Engine) -> tuple[int, int]:
    await template(api, "welcome")
    await template(api, "nudge")
    welcome = (await active_journey(api, WELCOME))["id"]
    hello = (await active_journey(api, HELLO))["id"]
    with Session(engine) as session:
        _template_version(session, "welcome", LINKS)
        _template_version(session, "nudge", [])
        session.commit()
    _write(engine, welcome, "welcome", "welcome", WELCOME_MAILS)
    _write(engine, welcome, "nudge", "nudge", NUDGE_MAILS)
    _write(engine, hello, "hello", "welcome", HELLO_MAILS)
    return welcome, hello


def _step(stats: dict[str, Any], step_id: str) -> dict[str, Any]:
    found: list[dict[str, Any]] = [s for s in stats["steps"] if s["step_id"] == step_id]
    [step] = found
    return step


WELCOME_STEP = {
    "sent": 7,
    "delivered": 6,
    "bounced_hard": 2,
    "bounced_soft": 1,
    "uncertain": 1,
    "failed": 2,
    "dismissed": 0,
    "in_progress": 1,
    "deferred": 1,
    "skipped": {
        "total": 7,
        "by_reason": {
            **ZERO_REASONS,
            "no_consent": 1,
            "suppressed": 1,
            "capped": 2,
            "left_journey": 1,
            "trip_ended": 1,
            "unspecified": 1,
        },
    },
    "opened": {
        "unique": 2,
        "unique_with_machine": 3,
        "machine_only": 1,
        "total": 5,
        "human_total": 3,
    },
    "clicked": {
        "unique": 2,
        "total": 5,
        "links": [
            {"url": SHOP_B, "unique": 2, "total": 3},
            {"url": SHOP_A, "unique": 1, "total": 2},
        ],
    },
    "unsubscribed": 1,
    "complained": 1,
    "rates": {"open": 0.3333, "click": 0.3333, "click_to_open": 1.0},
    "conversions": {"event": "purchase", "within": "P7D", "count": 2, "rate": 0.3333},
}


async def test_a_journey_reports_each_figure_per_step_and_in_total(
    api: httpx.AsyncClient, api_engine: Engine
) -> None:
    welcome, _ = await _scenario(api, api_engine)
    stats = await ok(api.get(f"/journeys/{welcome}/stats"))

    assert _step(stats, "welcome")["mail"] == WELCOME_STEP
    # The ledger's outcomes keep their meaning: a deferred mail is in progress while its
    # trip runs, and skipped once the trip ended.
    assert _step(stats, "welcome")["sends"] == {
        "sent": 7,
        "bounced": 1,
        "skipped": 7,
        "failed": 2,
        "uncertain": 1,
        "dismissed": 0,
        "in_progress": 2,
    }
    nudge = _step(stats, "nudge")["mail"]
    assert (nudge["sent"], nudge["delivered"], nudge["opened"]["unique"]) == (2, 2, 1)
    assert nudge["rates"] == {"open": 0.5, "click": 0.0, "click_to_open": 0.0}
    assert nudge["conversions"] is None, "the step counts no conversion"
    assert _step(stats, "end")["mail"] is None, "not a send step"

    total = stats["mail"]
    assert (total["sent"], total["delivered"], total["bounced_hard"]) == (9, 8, 2)
    assert total["opened"]["unique"] == 3 and total["clicked"]["unique"] == 2
    assert total["rates"] == {"open": 0.375, "click": 0.25, "click_to_open": 0.6667}
    # Only the welcome step counts purchases: its delivered mails are the base.
    assert total["conversions"] == {
        "event": "purchase",
        "within": "P7D",
        "count": 2,
        "rate": 0.3333,
    }
    assert stats["sends"]["sent"] == 9 and stats["sends"]["in_progress"] == 2


async def test_a_conversion_asked_for_counts_for_every_step(
    api: httpx.AsyncClient, api_engine: Engine
) -> None:
    welcome, _ = await _scenario(api, api_engine)
    stats = await ok(
        api.get(f"/journeys/{welcome}/stats", params={"conversion": "signup", "within": "P2D"})
    )
    # The proxy-opened mail's relation signed up a day later; nobody the nudge reached did.
    assert _step(stats, "welcome")["mail"]["conversions"] == {
        "event": "signup",
        "within": "P2D",
        "count": 1,
        "rate": 0.1667,
    }
    assert _step(stats, "nudge")["mail"]["conversions"] == {
        "event": "signup",
        "within": "P2D",
        "count": 0,
        "rate": 0.0,
    }
    assert stats["mail"]["conversions"]["rate"] == 0.125  # 1 of 8 delivered
    purchases = await ok(
        api.get(f"/journeys/{welcome}/stats", params={"conversion": "purchase", "within": "PT1H"})
    )
    assert purchases["mail"]["conversions"]["count"] == 0, "none bought within the hour"
    default = await ok(api.get(f"/journeys/{welcome}/stats", params={"conversion": "purchase"}))
    assert default["mail"]["conversions"]["within"] == "P7D"
    assert default["mail"]["conversions"]["count"] == 2


async def test_a_template_sums_its_mails_across_journeys(
    api: httpx.AsyncClient, api_engine: Engine
) -> None:
    welcome, hello = await _scenario(api, api_engine)
    stats = await ok(api.get("/templates/welcome/stats"))
    assert stats["template"] == "welcome" and stats["journey_id"] is None
    assert [(j["journey_id"], j["name"]) for j in stats["journeys"]] == [
        (welcome, "Welcome"),
        (hello, "Hello again"),
    ]
    assert stats["journeys"][0]["mail"] == WELCOME_STEP, "the nudge template is not counted"
    mail = stats["mail"]
    assert (mail["sent"], mail["delivered"], mail["bounced_hard"]) == (9, 7, 3)
    assert mail["opened"] == {
        "unique": 3,
        "unique_with_machine": 4,
        "machine_only": 1,
        "total": 6,
        "human_total": 4,
    }
    assert mail["clicked"] == {
        "unique": 3,
        "total": 6,
        "links": [
            {"url": SHOP_A, "unique": 2, "total": 3},
            {"url": SHOP_B, "unique": 2, "total": 3},
        ],
    }
    assert mail["rates"] == {"open": 0.4286, "click": 0.4286, "click_to_open": 1.0}
    # The hello step counts no conversion: its purchase an hour later is not counted.
    assert mail["conversions"] == {
        "event": "purchase",
        "within": "P7D",
        "count": 2,
        "rate": 0.3333,
    }

    asked = await ok(
        api.get("/templates/welcome/stats", params={"conversion": "purchase", "within": "P1D"})
    )
    assert asked["mail"]["conversions"] == {
        "event": "purchase",
        "within": "P1D",
        "count": 1,
        "rate": 0.1429,
    }

    one = await ok(api.get("/templates/welcome/stats", params={"journey_id": hello}))
    assert one["journey_id"] == hello
    assert [j["journey_id"] for j in one["journeys"]] == [hello]
    assert (one["mail"]["sent"], one["mail"]["delivered"], one["mail"]["bounced_hard"]) == (
        2,
        1,
        1,
    )
    assert one["mail"]["clicked"]["links"] == [{"url": SHOP_A, "unique": 1, "total": 1}]
    assert one["mail"]["conversions"] is None


async def test_no_mails_yet_gives_zeros_and_no_rates(api: httpx.AsyncClient) -> None:
    await template(api, "welcome")
    await template(api, "nudge")
    journey = await active_journey(api, WELCOME)
    stats = await ok(api.get(f"/journeys/{journey['id']}/stats"))
    mail = _step(stats, "welcome")["mail"]
    assert (mail["sent"], mail["delivered"], mail["skipped"]["total"]) == (0, 0, 0)
    assert mail["skipped"]["by_reason"] == ZERO_REASONS
    assert mail["clicked"] == {"unique": 0, "total": 0, "links": []}
    assert mail["rates"] == {"open": None, "click": None, "click_to_open": None}
    assert mail["conversions"] == {"event": "purchase", "within": "P7D", "count": 0, "rate": None}
    assert stats["mail"]["rates"]["open"] is None
    assert stats["sends"]["sent"] == 0

    asked = {"conversion": "signup"}
    signups = await ok(api.get(f"/journeys/{journey['id']}/stats", params=asked))
    nothing = {"event": "signup", "within": "P7D", "count": 0, "rate": None}
    assert _step(signups, "nudge")["mail"]["conversions"] == nothing
    assert signups["mail"]["conversions"] == nothing

    unsent = await ok(api.get("/templates/nudge/stats"))
    assert unsent["journeys"] == [] and unsent["mail"]["sent"] == 0
    assert unsent["mail"]["rates"]["click_to_open"] is None
    assert unsent["mail"]["conversions"] is None
    unsent = await ok(api.get("/templates/nudge/stats", params=asked))
    assert unsent["mail"]["conversions"] == nothing


@sqlite_only
@pytest.mark.parametrize(
    ("params", "field", "words"),
    [
        pytest.param({"conversion": "purchase", "within": "P1M"}, "within", "P1M", id="months"),
        pytest.param({"conversion": "purchase", "within": "soon"}, "within", "soon", id="text"),
        pytest.param({"within": "P7D"}, "within", "needs `conversion`", id="alone"),
        pytest.param({"conversion": ""}, "conversion", "at least 1", id="empty"),
    ],
)
async def test_a_bad_conversion_request_names_the_parameter(
    api: httpx.AsyncClient, params: dict[str, str], field: str, words: str
) -> None:
    await template(api, "welcome")
    await template(api, "nudge")
    journey = await active_journey(api, WELCOME)
    for url in (f"/journeys/{journey['id']}/stats", "/templates/welcome/stats"):
        response = await api.get(url, params=params)
        assert response.status_code == 422, response.text
        [entry] = response.json()["detail"]
        assert entry["loc"] == ["query", field]
        assert words in entry["msg"]


@sqlite_only
async def test_template_stats_404s_and_scopes(
    api: httpx.AsyncClient, api_engine: Engine, dev_env: WorkflowEnvironment, task_queue: str
) -> None:
    await template(api, "welcome")
    missing = await api.get("/templates/nothing/stats")
    assert missing.status_code == 404 and "nothing" in missing.json()["detail"]
    unknown = await api.get("/templates/welcome/stats", params={"journey_id": 999})
    assert unknown.status_code == 404 and "journey" in unknown.json()["detail"]

    app = make_app(engine=api_engine, temporal=dev_env.client, task_queue=task_queue)
    async with keyed_client(app, new_key(api_engine, Scope.support)) as support:
        assert (await support.get("/templates/welcome/stats")).status_code == 200
    async with keyed_client(app, new_key(api_engine, Scope.app)) as caller:
        assert (await caller.get("/templates/welcome/stats")).status_code == 403


async def test_a_click_without_a_reported_open_counts_as_opened(
    api: httpx.AsyncClient, api_engine: Engine
) -> None:
    # Images blocked: the pixel never loaded, but the person clicked. Without counting
    # the click as an open, click-to-open would be 2 / 1 = 200 %.
    await template(api, "welcome")
    await template(api, "nudge")
    journey = (await active_journey(api, WELCOME))["id"]
    with Session(api_engine) as session:
        _template_version(session, "welcome", LINKS)
        session.commit()
    _write(
        api_engine,
        journey,
        "welcome",
        "welcome",
        [
            Mail(SendStatus.sent, sent_at=T, feedback=[_open(), _click(0)]),
            Mail(SendStatus.sent, sent_at=T, feedback=[_click(1)]),
            Mail(SendStatus.sent, sent_at=T, feedback=[_open(machine=True)]),
        ],
    )
    mail = _step(await ok(api.get(f"/journeys/{journey}/stats")), "welcome")["mail"]
    assert (mail["opened"]["unique"], mail["opened"]["unique_with_machine"]) == (2, 3)
    assert (mail["opened"]["total"], mail["opened"]["human_total"]) == (2, 1)
    assert mail["rates"]["click_to_open"] == 1.0
