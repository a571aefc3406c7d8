"""Templates in the store: versions, their links, pins at activation, and `recent` records
rendered in the render processes (on SQLite and PostgreSQL)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from activities.mail.render import TemplateSource, recent_types
from activities.mail.sources import source_of_version
from domain.definition import parse_definition
from store import journeys, templates
from store.db import session_scope
from store.facts import (
    load_relation,
    recent_events,
    render_context,
    template_for_send,
)
from store.models import Event, Relation, Template, TemplateVersion, Trip
from store.template_links import links_in
from tests.support.rendering import shared_render_pool

WELCOME = {
    "key": "welcome",
    "name": "Welcome",
    "subject": "Welcome, {{ relation.first_name }}",
    "html": '<p>Hi {{ relation.first_name }}, <a href="https://example.org/start">start</a></p>',
}


def test_links_are_the_literal_web_links_in_order_each_once() -> None:
    source = """
    <p>{{ relation.first_name }}, {% if relation.vip %}<b>dear</b>{% endif %}</p>
    <a href="https://example.org/a?x=1&amp;y=2">one</a>
    <A HREF=' http://example.org/b '>two</A>
    <a href="https://example.org/a?x=1&amp;y=2">one again</a>
    <a href="https://example.org/{{ event.order_id }}">computed: untracked</a>
    <a href="{% if relation.vip %}https://vip.example.org{% endif %}">computed too</a>
    <a href="mailto:help@example.org">mail</a> <a href="#top">top</a> <a href="/relative">r</a>
    <a href="javascript:alert(1)">js</a> <a>no href</a> <link href="https://example.org/css">
    <mj-button href="https://example.org/c">MJML's button</mj-button>
    """
    assert links_in(source) == [
        "https://example.org/a?x=1&y=2",
        "http://example.org/b",
        "https://example.org/c",
    ]


def _version_numbers(session: Session, key: str) -> list[int]:
    return [v.version for v in templates.versions(session, key)]


def test_every_edit_of_the_content_is_a_new_version_and_a_no_op_is_not(
    any_engine: Engine,
) -> None:
    with Session(any_engine) as session:
        created = templates.create(session, WELCOME)
        assert created.version == 1
        (first,) = templates.versions(session, "welcome")
        assert (first.version, first.links) == (1, ["https://example.org/start"])

        assert templates.update(session, "welcome", {"subject": "Hello"}).version == 2
        # Same content again, and a new name only: no new version.
        assert templates.update(session, "welcome", {"subject": "Hello"}).version == 2
        assert templates.update(session, "welcome", {"name": "Renamed"}).version == 2
        mjml = (
            '<mjml><mj-body><mj-button href="https://example.org/mjml">Go</mj-button>'
            "</mj-body></mjml>"
        )
        assert templates.update(session, "welcome", {"mjml": mjml, "html": ""}).version == 3
        assert _version_numbers(session, "welcome") == [1, 2, 3]
        third = templates.version_of(session, "welcome", 3)
        # The links of what is sent: the MJML's, not the (now empty) html's.
        assert third.links == ["https://example.org/mjml"]
        # Old versions keep their content.
        assert templates.version_of(session, "welcome", 2).subject == "Hello"
        assert templates.version_of(session, "welcome", 1).subject == WELCOME["subject"]


def test_a_deleted_key_created_again_goes_on_numbering(any_engine: Engine) -> None:
    with Session(any_engine) as session:
        templates.create(session, WELCOME)
        templates.update(session, "welcome", {"subject": "Two"})
        templates.delete(session, "welcome")
        again = templates.create(session, {**WELCOME, "subject": "Three"})
        # Sent mails of versions 1 and 2 still find their links under (key, version).
        assert again.version == 3
        assert templates.version_of(session, "welcome", 1).subject == WELCOME["subject"]


def test_a_version_from_before_links_were_kept_gets_them_once(any_engine: Engine) -> None:
    # What migration 0006 leaves: version 1 of an existing template, links '[]'.
    with session_scope(any_engine) as session:
        session.add(Template(key="old", subject="s", html=WELCOME["html"]))
        session.add(
            TemplateVersion(template_key="old", version=1, subject="s", html=WELCOME["html"])
        )
    # Found in the reader's transaction (a send's claim), kept when it commits.
    with session_scope(any_engine) as session:
        assert templates.version_of(session, "old", 1).links == ["https://example.org/start"]
    with Session(any_engine) as session:
        stored = session.exec(
            select(TemplateVersion).where(col(TemplateVersion.template_key) == "old")
        ).one()
        assert stored.links == ["https://example.org/start"]


def _activate_welcome_journey(session: Session) -> int:
    definition = parse_definition(
        {
            "name": "Welcome",
            "steps": [
                {"id": "welcome", "type": "send_email", "template": "welcome"},
                {"id": "end", "type": "exit"},
            ],
        }
    )
    journey = journeys.create(session, definition)
    assert journey.id is not None
    journeys.activate(session, journey.id)
    return journey.id


def _trip(session: Session, journey_id: int, version: int) -> str:
    relation = Relation(first_name="Anna")
    session.add(relation)
    session.flush()
    assert relation.id is not None
    trip_id = f"trip:{journey_id}:{relation.id}:1"
    session.add(
        Trip(
            id=trip_id,
            journey_id=journey_id,
            journey_version=version,
            relation_id=relation.id,
            number=1,
        )
    )
    session.commit()
    return trip_id


def test_a_journey_sends_the_version_it_was_activated_with_until_published(
    any_engine: Engine,
) -> None:
    with Session(any_engine) as session:
        templates.create(session, WELCOME)
        journey_id = _activate_welcome_journey(session)
        trip_id = _trip(session, journey_id, 1)
        templates.update(session, "welcome", {"subject": "Edited"})

        scheduled = template_for_send(session, trip_id, "welcome")
        assert scheduled is not None and scheduled.version == 1
        assert scheduled.subject == WELCOME["subject"]

        pin = templates.publish(session, "welcome", journey_id)
        assert (pin.journey_version, pin.template_version) == (1, 2)
        published = template_for_send(session, trip_id, "welcome")
        assert published is not None and published.subject == "Edited"

        # Deactivated and activated again (same definition, same version): the pin stays.
        journeys.deactivate(session, journey_id)
        templates.update(session, "welcome", {"subject": "Third"})
        journeys.activate(session, journey_id)
        kept = templates.pinned(session, journey_id, 1, "welcome")
        assert kept is not None and kept.version == 2


def test_a_version_activated_before_pins_sends_the_latest(any_engine: Engine) -> None:
    with Session(any_engine) as session:
        templates.create(session, WELCOME)
        templates.update(session, "welcome", {"subject": "Latest"})
        found = templates.pinned(session, journey_id=999, journey_version=1, key="welcome")
        assert found is not None and found.subject == "Latest"
        assert templates.pinned(session, 999, 1, "missing") is None
        assert template_for_send(session, "trip:999:1:1", "welcome") is None


def test_a_template_written_straight_into_the_table_is_its_own_version(
    any_engine: Engine,
) -> None:
    with session_scope(any_engine) as session:
        session.add(Template(key="fixture", subject="s", html="<p>x</p>"))
    with Session(any_engine) as session:
        found = templates.latest(session, "fixture")
        assert found is not None and (found.version, found.html) == (1, "<p>x</p>")
        assert _version_numbers(session, "fixture") == [1]


# --- recent records ------------------------------------------------------------------------

ORDERS = """{% for p in recent.purchase -%}
{{ p.occurred_at | date('d MMMM') }}: {% for line in p.lines %}{{ line.qty }}x {{ line.sku }}
{%- if not loop.last %}, {% endif %}{% endfor %} = {{ p.total | currency('EUR') }}
{% else %}no orders yet
{% endfor %}"""

BASE = datetime(2026, 3, 1, 12, tzinfo=UTC)


def _relation_with_purchases(engine: Engine, purchases: list[dict[str, Any]]) -> int:
    with session_scope(engine) as session:
        relation = Relation(first_name="Anna", locale="nl_NL", timezone="Europe/Amsterdam")
        session.add(relation)
        session.flush()
        assert relation.id is not None
        for day, payload in enumerate(purchases):
            # Stored oldest last, so order comes from occurred_at, not from insertion.
            session.add(
                Event(
                    relation_id=relation.id,
                    type="purchase",
                    payload=payload,
                    occurred_at=BASE + timedelta(days=len(purchases) - day),
                )
            )
        session.add(Event(relation_id=relation.id, type="donation", payload={}, occurred_at=BASE))
        return relation.id


def _render_orders(engine: Engine, relation_id: int) -> str:
    source = TemplateSource(key="orders", version="1", subject="Your orders", html="x", text=ORDERS)
    types = recent_types(source)
    with Session(engine) as session:
        record = load_relation(session, relation_id)
        assert record is not None
        recent = recent_events(session, relation_id, types)
    assert set(recent) == {"purchase"}  # only what the template reads
    # The shared pool renders a template with loops in a child process: the context
    # crosses a process boundary as it will in the worker.
    return shared_render_pool().render(source, render_context(record, recent=recent)).text


def test_a_repeating_block_over_recent_purchases_lists_them_newest_first(
    any_engine: Engine,
) -> None:
    relation_id = _relation_with_purchases(
        any_engine,
        [
            {"total": 12.5, "lines": [{"sku": "tea", "qty": 2}]},
            {"total": 1234.5, "lines": [{"sku": "chair", "qty": 1}, {"sku": "lamp", "qty": 3}]},
            {"total": 3, "lines": []},
        ],
    )
    assert _render_orders(any_engine, relation_id) == (
        "4 maart: 2x tea = €\u00a012,50\n"
        "3 maart: 1x chair, 3x lamp = €\u00a01.234,50\n"
        "2 maart:  = €\u00a03,00\n"
    )


def test_recent_holds_the_last_ten_and_nothing_for_a_relation_without_any(
    any_engine: Engine,
) -> None:
    many = _relation_with_purchases(any_engine, [{"total": n, "lines": []} for n in range(12)])
    lines = _render_orders(any_engine, many).splitlines()
    assert len(lines) == 10
    assert lines[0].endswith("€\u00a00,00") and lines[-1].endswith("€\u00a09,00")

    none = _relation_with_purchases(any_engine, [])
    assert _render_orders(any_engine, none) == "no orders yet\n"


def test_a_stored_version_renders_through_its_source(any_engine: Engine) -> None:
    with Session(any_engine, expire_on_commit=False) as session:
        templates.create(session, WELCOME)
        version = templates.version_of(session, "welcome", 1)
        relation = Relation(first_name="Anna")
        session.add(relation)
        session.commit()
        assert relation.id is not None
        record = load_relation(session, relation.id)
    assert record is not None
    source = source_of_version(version)
    mail = shared_render_pool().render(source, render_context(record))
    assert mail.subject == "Welcome, Anna"
    assert mail.text == "Hi Anna, start (https://example.org/start)\n"
