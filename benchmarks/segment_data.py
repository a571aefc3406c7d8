"""Segments as a marketer defines them, and relations with data for them to look at.

Conditions come from a fixed set of shapes (a city, an age band, a donor level, a group,
"donated more than 50 to a fund within a year", a lapsed donor, ...) with varying
constants, so that a hundred segments are a hundred different conditions of the kinds
that real lists are made of: field comparisons, groups, events with payload conditions
and periods, and all/any/not around them. Everything is seeded: two runs evaluate the
same conditions on the same relations.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from datetime import date, timedelta
from typing import Any

from sqlalchemy import insert
from sqlalchemy.engine import Engine
from sqlmodel import Session

from store.membership import parse_condition
from store.models import Event, Group, GroupMember, Relation, Segment, utcnow

CITIES = (
    "Amsterdam",
    "Utrecht",
    "Rotterdam",
    "Den Haag",
    "Eindhoven",
    "Groningen",
    "Tilburg",
    "Almere",
    "Breda",
    "Nijmegen",
)
LEVELS = ("none", "bronze", "silver", "gold")
FUNDS = ("general", "water", "education", "emergency")
FORMS = ("newsletter", "gala", "volunteer", "webinar")
GROUPS = tuple(f"group_{i:02d}" for i in range(20))
EVENT_TYPES = ("donation", "registration", "purchase", "download")

Raw = dict[str, Any]


def _city(r: random.Random) -> Raw:
    return {"field": "city", "op": "eq", "value": r.choice(CITIES)}


def _age_band(r: random.Random) -> Raw:
    low = r.randrange(18, 70)
    return {
        "all": [
            {"field": "age", "op": "gte", "value": low},
            {"field": "age", "op": "lt", "value": low + r.choice((5, 10, 15))},
        ]
    }


def _levels(r: random.Random) -> Raw:
    return {"field": "donor_level", "op": "in", "value": r.sample(LEVELS[1:], 2)}


def _score(r: random.Random) -> Raw:
    return {"field": "score", "op": "gt", "value": r.randrange(0, 100)}


def _member_since(r: random.Random) -> Raw:
    since = date(2026, 1, 1) - timedelta(days=r.randrange(30, 3000))
    return {"field": "member_since", "op": "lt", "value": since.isoformat()}


def _opted_in(r: random.Random) -> Raw:
    return {
        "all": [
            {"field": "opt_in_email", "op": "eq", "value": True},
            {"field": "locale", "op": "eq", "value": r.choice(("nl", "en"))},
        ]
    }


def _group(r: random.Random) -> Raw:
    return {"in_group": r.choice(GROUPS)}


def _group_in_city(r: random.Random) -> Raw:
    return {"all": [_group(r), _city(r)]}


def _not_in_group(r: random.Random) -> Raw:
    return {"all": [{"not": _group(r)}, {"field": "newsletter", "op": "eq", "value": "yes"}]}


def _donated_within(r: random.Random) -> Raw:
    return {"event": "donation", "within": r.choice(("P30D", "P90D", "P365D"))}


def _donated_to_fund(r: random.Random) -> Raw:
    where = {
        "all": [
            {"field": "fund", "op": "eq", "value": r.choice(FUNDS)},
            {"field": "amount", "op": "gte", "value": r.choice((25, 50, 100))},
        ]
    }
    return {"event": "donation", "where": where, "within": "P365D"}


def _registered(r: random.Random) -> Raw:
    return {
        "event": "registration",
        "where": {"field": "form", "op": "eq", "value": r.choice(FORMS)},
    }


def _recent_buyer_of_level(r: random.Random) -> Raw:
    return {"all": [{"event": "purchase", "within": "P90D"}, _levels(r)]}


def _lapsed_donor(r: random.Random) -> Raw:
    within = r.choice(("P365D", "P730D"))
    return {"all": [{"event": "donation"}, {"not": {"event": "donation", "within": within}}]}


def _engaged(r: random.Random) -> Raw:
    return {"any": [_donated_within(r), _registered(r), _score(r), _group(r)]}


SHAPES: tuple[Callable[[random.Random], Raw], ...] = (
    _city,
    _age_band,
    _levels,
    _score,
    _member_since,
    _opted_in,
    _group,
    _group_in_city,
    _not_in_group,
    _donated_within,
    _donated_to_fund,
    _registered,
    _recent_buyer_of_level,
    _lapsed_donor,
    _engaged,
)


def conditions(count: int, seed: int = 7) -> list[tuple[str, Raw]]:
    """`count` segments (key, condition), cycling through the shapes; each is parsed as
    the store parses it, so a shape that drifts from the condition language fails here."""
    r = random.Random(seed)
    found = [(f"seg_{i:03d}", SHAPES[i % len(SHAPES)](r)) for i in range(count)]
    for _, condition in found:
        parse_condition(condition)
    return found


def define_segments(engine: Engine, count: int, seed: int = 7) -> None:
    """Insert the segments as rows, as the segments API would store them."""
    with Session(engine) as session:
        for key, condition in conditions(count, seed):
            session.add(Segment(key=key, name=f"Benchmark {key}", condition=condition))
        session.commit()


def custom_fields(r: random.Random) -> Raw:
    """A relation's custom fields as an import would leave them: text for dates and
    yes/no, numbers as numbers."""
    return {
        "city": r.choice(CITIES),
        "age": r.randrange(18, 90),
        "donor_level": r.choice(LEVELS),
        "score": r.randrange(0, 100),
        "member_since": (date(2026, 1, 1) - timedelta(days=r.randrange(0, 4000))).isoformat(),
        "newsletter": r.choice(("yes", "no")),
    }


def populate(engine: Engine, relations: int, events_each: int, seed: int = 11) -> list[int]:
    """`relations` relations with custom fields, in about three groups each, with
    `events_each` events of mixed types over the last two years. Returns their ids."""
    r = random.Random(seed)
    now = utcnow()
    with Session(engine) as session:
        groups = [Group(key=key, name=key) for key in GROUPS]
        people = [
            Relation(
                email=f"person{i}@segments.example",
                first_name=f"P{i}",
                locale=r.choice(("nl", "en")),
                opt_in_email=r.random() < 0.8,
                custom=custom_fields(r),
            )
            for i in range(relations)
        ]
        session.add_all([*groups, *people])
        session.flush()
        ids = [p.id for p in people if p.id is not None]
        members = {
            (g.id, person) for person in ids for g in r.sample(groups, 3) if g.id is not None
        }
        if members:
            session.execute(
                insert(GroupMember),
                [{"group_id": g, "relation_id": p, "added_at": now} for g, p in members],
            )
        rows = [_event(r, person, now) for person in ids for _ in range(events_each)]
        if rows:
            session.execute(insert(Event), rows)
        session.commit()
    return ids


def _event(r: random.Random, relation_id: int, now: Any) -> Raw:
    kind = r.choice(EVENT_TYPES)
    payload: Raw = {}
    if kind in ("donation", "purchase"):
        payload = {"amount": r.choice((5, 10, 25, 50, 100, 250)), "fund": r.choice(FUNDS)}
    elif kind == "registration":
        payload = {"form": r.choice(FORMS)}
    at = now - timedelta(days=r.uniform(0, 730))
    return {
        "relation_id": relation_id,
        "type": kind,
        "payload": payload,
        "occurred_at": at,
        "received_at": at,
        "relation_created": False,
    }
