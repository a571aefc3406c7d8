"""Triggers decide admission from an event or a segment change, as the seeds describe."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from domain.definition import parse_definition


def trigger(spec: dict[str, Any]) -> Any:
    definition = parse_definition(
        {"name": "t", "triggers": [spec], "steps": [{"id": "end", "type": "exit"}]}
    )
    return definition.triggers[0]


@pytest.mark.parametrize(
    ("amount", "admitted"),
    [
        (9.99, False),
        (10, True),
        ("10.00", True),
        (55, True),
        (100, True),
        ("100.01", False),
        (None, False),
        ("ten", False),
        (True, False),
    ],
)
def test_donation_bounds_are_inclusive_and_need_a_number(amount: Any, admitted: bool) -> None:
    donation = trigger({"type": "donation", "min_amount": 10, "max_amount": 100})
    assert donation.admits("donation", {"amount": amount}) is admitted


def test_donation_fund_and_campaign_must_match_when_named() -> None:
    donation = trigger({"type": "donation", "fund": "Water", "campaign": "winter"})
    assert donation.admits("donation", {"fund": "water", "campaign": "Winter"})
    assert not donation.admits("donation", {"fund": "water"})
    assert not donation.admits("donation", {"fund": "food", "campaign": "winter"})
    assert not donation.admits("registration", {"fund": "water", "campaign": "winter"})


def test_registration_form_and_any_event_with_a_payload_condition() -> None:
    newsletter = trigger({"type": "registration", "form": "newsletter"})
    assert newsletter.admits("registration", {"form": "Newsletter"})
    assert not newsletter.admits("registration", {"form": "webinar"})
    assert trigger({"type": "registration"}).admits("registration", {})
    big = trigger(
        {
            "type": "event",
            "event": "purchase",
            "where": {"field": "total", "op": "gte", "value": 100},
        }
    )
    assert big.admits("purchase", {"total": "250"})
    assert not big.admits("purchase", {"total": 99})
    assert not big.admits("download", {"total": 250})


def test_segment_entry_and_shift() -> None:
    entry = trigger({"type": "segment_entry", "segment": "vip"})
    assert entry.admits_change(frozenset({"vip"}), frozenset())
    assert not entry.admits_change(frozenset(), frozenset({"vip"}))
    shift = trigger({"type": "segment_shift", "from": "buyer", "to": "ambassador"})
    assert shift.admits_change(frozenset({"ambassador"}), frozenset({"buyer"}))
    assert not shift.admits_change(frozenset({"ambassador"}), frozenset({"visitor"}))
    assert not shift.admits_change(frozenset({"buyer"}), frozenset({"ambassador"}))


@pytest.mark.parametrize(
    ("spec", "where", "says"),
    [
        (
            {"type": "donation", "min_amount": 50, "max_amount": 10},
            ("triggers", 0, "donation"),
            "min_amount must not be above max_amount",
        ),
        (
            {"type": "segment_shift", "from": "a", "to": "a"},
            ("triggers", 0, "segment_shift"),
            "must be different segments",
        ),
        (
            {"type": "recurring_date", "field": "email"},
            ("triggers", 0, "recurring_date", "field"),
            "not a date field",
        ),
        (
            {"type": "recurring_date", "field": "birth_date", "days_before": 400},
            ("triggers", 0, "recurring_date", "days_before"),
            "less than or equal to 365",
        ),
        ({"type": "event", "event": "has space"}, ("triggers", 0, "event", "event"), "pattern"),
    ],
)
def test_bad_triggers_are_refused_naming_the_field(
    spec: dict[str, Any], where: tuple[Any, ...], says: str
) -> None:
    with pytest.raises(ValidationError) as refused:
        trigger(spec)
    (error,) = refused.value.errors()
    assert error["loc"] == where
    assert says in error["msg"]
