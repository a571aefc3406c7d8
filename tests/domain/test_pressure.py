"""Contact pressure: frequency caps, quiet hours and the send window, judged together on
the relation's own clock.

Amsterdam changes on 2027-03-28 (02:00 CET -> 03:00 CEST, at 01:00 UTC) and on
2027-10-31 (03:00 CEST -> 02:00 CET, at 01:00 UTC).
"""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from domain.pressure import ContactPressure, QuietHours, Verdict, decide, zone_for
from domain.schema import WEEKDAYS, TimeWindow, Weekday

AMSTERDAM = ZoneInfo("Europe/Amsterdam")
TOKYO = ZoneInfo("Asia/Tokyo")
HOUR = timedelta(hours=1)
DAY = timedelta(days=1)
NIGHTS = QuietHours(start="21:00", end="09:00")
WORKDAYS: list[Weekday] = ["mon", "tue", "wed", "thu", "fri"]


def local(zone: ZoneInfo, year: int, month: int, day: int, hour: int, minute: int) -> datetime:
    """A wall-clock time in `zone`, as the UTC instant the rules receive."""
    return datetime(year, month, day, hour, minute, tzinfo=zone).astimezone(UTC)


def judge(
    now: datetime,
    policy: ContactPressure | None = None,
    *,
    zone: ZoneInfo = AMSTERDAM,
    window: TimeWindow | None = None,
    recent: list[datetime] | None = None,
    transactional: bool = False,
) -> Verdict:
    return decide(
        now=now,
        policy=policy or ContactPressure(),
        zone=zone,
        window=window,
        recent=recent or [],
        transactional=transactional,
    )


def until(verdict: Verdict) -> datetime:
    assert not verdict.allowed and verdict.until is not None, verdict
    return verdict.until


def window(start: str, end: str, days: list[Weekday] | None = None) -> TimeWindow:
    return TimeWindow(
        days=days or list(WEEKDAYS), start=time.fromisoformat(start), end=time.fromisoformat(end)
    )


def test_the_default_policy_holds_nothing_back() -> None:
    at_night = local(AMSTERDAM, 2027, 6, 15, 3, 0)
    many = [at_night - timedelta(minutes=m) for m in range(1, 50)]
    assert judge(at_night, recent=many) == Verdict(allowed=True)


def test_two_a_day_waits_until_the_oldest_of_the_last_24_hours_ages_out() -> None:
    now = datetime(2027, 6, 15, 12, 0, tzinfo=UTC)
    policy = ContactPressure(per_day=2)
    # 25 hours ago no longer counts: the day is rolling, not the calendar day.
    assert judge(now, policy, recent=[now - 25 * HOUR, now - 3 * HOUR]).allowed

    verdict = judge(now, policy, recent=[now - 20 * HOUR, now - 3 * HOUR])
    assert until(verdict) == now - 20 * HOUR + DAY
    assert verdict.rule == "cap_day" and verdict.capped
    assert verdict.detail == "at most 2 a day: 2 in the last 24 hours"
    # Three already (the cap was lowered meanwhile): two have to age out.
    crowded = judge(now, policy, recent=[now - 20 * HOUR, now - 10 * HOUR, now - 3 * HOUR])
    assert until(crowded) == now - 10 * HOUR + DAY
    assert crowded.detail == "at most 2 a day: 3 in the last 24 hours"


def test_two_at_midnight_are_two_in_the_same_day() -> None:
    policy = ContactPressure(per_day=2)
    late = local(AMSTERDAM, 2027, 6, 14, 23, 59)
    verdict = judge(late + 2 * timedelta(minutes=1), policy, recent=[late, late])
    assert until(verdict) == late + DAY


def test_five_a_week_waits_until_the_oldest_of_the_last_7_days_ages_out() -> None:
    now = datetime(2027, 6, 15, 12, 0, tzinfo=UTC)
    policy = ContactPressure(per_day=2, per_week=5)
    sent = [now - timedelta(days=d, hours=1) for d in (6, 5, 4, 3, 2)]
    verdict = judge(now, policy, recent=sent)
    assert until(verdict) == sent[0] + timedelta(days=7)
    assert verdict.rule == "cap_week"
    assert verdict.detail == "at most 5 a week: 5 in the last 7 days"
    assert judge(now, policy, recent=sent[1:]).allowed


def test_the_moment_satisfies_every_cap_at_once() -> None:
    now = datetime(2027, 6, 15, 12, 0, tzinfo=UTC)
    policy = ContactPressure(per_day=2, per_week=3)
    # The day cap frees up in 2 hours; by then the week still holds 3, one of them until
    # 5 days from now.
    sent = [now - 2 * DAY, now - 22 * HOUR, now - 1 * HOUR]
    verdict = judge(now, policy, recent=sent)
    assert until(verdict) == sent[0] + timedelta(days=7)
    assert verdict.rule == "cap_week"


def test_a_mail_due_at_23_in_amsterdam_waits_until_09_there() -> None:
    policy = ContactPressure(quiet_hours=NIGHTS)
    verdict = judge(local(AMSTERDAM, 2027, 6, 14, 23, 0), policy)
    assert until(verdict) == local(AMSTERDAM, 2027, 6, 15, 9, 0)
    assert verdict.rule == "quiet_hours" and not verdict.capped
    assert verdict.detail == "quiet hours 21:00-09:00 (Europe/Amsterdam)"
    assert until(judge(local(AMSTERDAM, 2027, 6, 15, 8, 59), policy)) == local(
        AMSTERDAM, 2027, 6, 15, 9, 0
    )
    assert until(judge(local(AMSTERDAM, 2027, 6, 15, 21, 0), policy)) == local(
        AMSTERDAM, 2027, 6, 16, 9, 0
    )
    assert judge(local(AMSTERDAM, 2027, 6, 15, 9, 0), policy).allowed
    assert judge(local(AMSTERDAM, 2027, 6, 15, 20, 59), policy).allowed


def test_quiet_hours_within_one_day() -> None:
    lunch = ContactPressure(quiet_hours=QuietHours(start="12:00", end="14:00"))
    assert until(judge(local(AMSTERDAM, 2027, 6, 15, 13, 0), lunch)) == local(
        AMSTERDAM, 2027, 6, 15, 14, 0
    )
    assert judge(local(AMSTERDAM, 2027, 6, 15, 23, 0), lunch).allowed
    assert judge(local(AMSTERDAM, 2027, 6, 15, 11, 59), lunch).allowed


def test_tokyo_and_amsterdam_each_wait_for_their_own_09_00() -> None:
    policy = ContactPressure(quiet_hours=NIGHTS)
    now = datetime(2027, 6, 14, 22, 0, tzinfo=UTC)  # 00:00 in Amsterdam, 07:00 in Tokyo
    in_amsterdam = until(judge(now, policy, zone=AMSTERDAM))
    in_tokyo = until(judge(now, policy, zone=TOKYO))
    assert in_amsterdam.astimezone(AMSTERDAM).time() == time(9, 0)
    assert in_tokyo.astimezone(TOKYO).time() == time(9, 0)
    assert in_tokyo == datetime(2027, 6, 15, 0, 0, tzinfo=UTC)
    assert in_amsterdam == datetime(2027, 6, 15, 7, 0, tzinfo=UTC)
    assert judge(now, policy, zone=TOKYO).detail == "quiet hours 21:00-09:00 (Asia/Tokyo)"


@pytest.mark.parametrize(
    ("evening", "morning_utc", "offset"),
    [
        # Spring: the night is an hour shorter; 09:00 is CEST (UTC+2).
        (datetime(2027, 3, 27, 23, 0), datetime(2027, 3, 28, 7, 0, tzinfo=UTC), 2),
        # Autumn: the night is an hour longer; 09:00 is CET (UTC+1).
        (datetime(2027, 10, 30, 23, 0), datetime(2027, 10, 31, 8, 0, tzinfo=UTC), 1),
    ],
)
def test_quiet_hours_end_at_09_local_across_a_dst_change(
    evening: datetime, morning_utc: datetime, offset: int
) -> None:
    policy = ContactPressure(quiet_hours=NIGHTS)
    moment = until(judge(evening.replace(tzinfo=AMSTERDAM).astimezone(UTC), policy))
    assert moment == morning_utc
    there = moment.astimezone(AMSTERDAM)
    assert there.time() == time(9, 0)
    assert there.utcoffset() == timedelta(hours=offset)
    # Tokyo keeps no summer time: the same night there ends at 00:00 UTC either way.
    tokyo = until(judge(evening.replace(tzinfo=TOKYO).astimezone(UTC), policy, zone=TOKYO))
    assert tokyo.astimezone(TOKYO).time() == time(9, 0)


def test_quiet_hours_ending_in_the_skipped_hour_end_when_the_clock_jumps_past() -> None:
    # 02:30 does not exist on 2027-03-28 in Amsterdam: the clock goes 01:59 -> 03:00.
    policy = ContactPressure(quiet_hours=QuietHours(start="23:00", end="02:30"))
    moment = until(judge(local(AMSTERDAM, 2027, 3, 28, 0, 30), policy))
    assert moment == datetime(2027, 3, 28, 1, 0, tzinfo=UTC)  # 03:00 CEST
    assert moment.astimezone(AMSTERDAM).time() == time(3, 0)


def test_the_send_window_and_quiet_hours_together() -> None:
    policy = ContactPressure(quiet_hours=NIGHTS)
    early = window("08:00", "10:00", WORKDAYS)
    # Friday 23:00: the window reopens Monday 08:00, still quiet until 09:00.
    friday_night = local(AMSTERDAM, 2027, 6, 18, 23, 0)
    verdict = judge(friday_night, policy, window=early)
    assert until(verdict) == local(AMSTERDAM, 2027, 6, 21, 9, 0)
    assert verdict.rule == "quiet_hours"

    # Friday 18:00: not quiet yet, but the window is shut until Monday.
    office = window("09:00", "17:00", WORKDAYS)
    verdict = judge(local(AMSTERDAM, 2027, 6, 18, 18, 0), policy, window=office)
    assert until(verdict) == local(AMSTERDAM, 2027, 6, 21, 9, 0)
    assert verdict.rule == "send_window"
    assert verdict.detail == "send window mon,tue,wed,thu,fri 09:00-17:00 (Europe/Amsterdam)"

    # The window in the relation's zone: Monday 09:00 in Tokyo.
    in_tokyo = until(judge(local(TOKYO, 2027, 6, 18, 18, 0), policy, zone=TOKYO, window=office))
    assert in_tokyo == local(TOKYO, 2027, 6, 21, 9, 0)


def test_a_cap_that_frees_up_at_night_waits_for_the_morning() -> None:
    policy = ContactPressure(per_day=1, quiet_hours=NIGHTS)
    now = local(AMSTERDAM, 2027, 6, 15, 20, 0)
    # Free at 02:00, but that is the night: 09:00, held by the quiet hours, not the cap.
    night = judge(now, policy, recent=[local(AMSTERDAM, 2027, 6, 15, 2, 0)])
    assert until(night) == local(AMSTERDAM, 2027, 6, 16, 9, 0)
    assert night.rule == "quiet_hours" and not night.capped
    # Free at 12:00 tomorrow: the cap is what holds it back (a `skip` step skips it).
    noon = judge(now, policy, recent=[local(AMSTERDAM, 2027, 6, 15, 12, 0)])
    assert until(noon) == local(AMSTERDAM, 2027, 6, 16, 12, 0)
    assert noon.rule == "cap_day" and noon.capped


def test_transactional_mail_bypasses_caps_and_quiet_hours_but_not_the_window() -> None:
    policy = ContactPressure(per_day=1, per_week=1, quiet_hours=NIGHTS)
    night = local(AMSTERDAM, 2027, 6, 15, 23, 0)
    recent = [night - HOUR, night - 2 * HOUR]
    assert not judge(night, policy, recent=recent).allowed
    assert judge(night, policy, recent=recent, transactional=True).allowed

    office = window("09:00", "17:00", WORKDAYS)
    verdict = judge(night, policy, recent=recent, window=office, transactional=True)
    assert until(verdict) == local(AMSTERDAM, 2027, 6, 16, 9, 0)
    assert verdict.rule == "send_window"


def test_a_window_inside_the_quiet_hours_never_opens() -> None:
    policy = ContactPressure(quiet_hours=NIGHTS)
    late = window("22:00", "23:00")
    verdict = judge(local(AMSTERDAM, 2027, 6, 15, 12, 0), policy, window=late)
    assert not verdict.allowed and verdict.until is None
    assert verdict.rule == "send_window"
    assert "never opens outside the quiet hours 21:00-09:00" in verdict.detail
    # A receipt is not held by quiet hours: it goes at 22:00.
    receipt = judge(local(AMSTERDAM, 2027, 6, 15, 12, 0), policy, window=late, transactional=True)
    assert until(receipt) == local(AMSTERDAM, 2027, 6, 15, 22, 0)


@pytest.mark.parametrize(
    ("body", "where", "words"),
    [
        ({"per_day": 0}, ("per_day",), "greater than or equal to 1"),
        ({"per_week": -1}, ("per_week",), "greater than or equal to 1"),
        ({"soft_bounce_limit": 0}, ("soft_bounce_limit",), "greater than or equal to 1"),
        ({"machine_open_seconds": -1}, ("machine_open_seconds",), "greater than or equal"),
        ({"quiet_hours": {"start": "25:00", "end": "09:00"}}, ("quiet_hours", "start"), "HH:MM"),
        ({"quiet_hours": {"start": "21:00", "end": "9:00"}}, ("quiet_hours", "end"), "HH:MM"),
        ({"quiet_hours": {"start": "21:00\n", "end": "09:00"}}, ("quiet_hours", "start"), "HH:MM"),
        ({"quiet_hours": {"start": "21:00", "end": "21:00"}}, ("quiet_hours",), "the same"),
        ({"quiet_hours": {"start": "21:00"}}, ("quiet_hours", "end"), "required"),
        ({"per_month": 3}, ("per_month",), "not permitted"),
    ],
)
def test_a_bad_policy_is_refused_naming_the_field(
    body: dict[str, Any], where: tuple[str, ...], words: str
) -> None:
    with pytest.raises(ValidationError) as raised:
        ContactPressure.model_validate(body)
    [error] = raised.value.errors()
    assert error["loc"] == where
    assert words in error["msg"]


def test_the_policy_round_trips_as_json() -> None:
    policy = ContactPressure(per_day=2, per_week=5, quiet_hours=NIGHTS)
    stored = policy.model_dump(mode="json")
    assert stored["quiet_hours"] == {"start": "21:00", "end": "09:00"}
    assert ContactPressure.model_validate(stored) == policy
    assert ContactPressure() == ContactPressure.model_validate({})
    assert ContactPressure().per_day is None and ContactPressure().quiet_hours is None


def test_the_relations_own_zone_unless_it_is_unknown() -> None:
    assert zone_for("Asia/Tokyo", "Europe/Amsterdam") == TOKYO
    assert zone_for(None, "Europe/Amsterdam") == AMSTERDAM
    assert zone_for("", "Europe/Amsterdam") == AMSTERDAM
    for nonsense in ("Mars/Olympus", "../../etc/passwd", "Europe", "Asia/Tokyo\x00"):
        assert zone_for(nonsense, "Europe/Amsterdam") == AMSTERDAM, nonsense
    assert zone_for("Mars/Olympus", "Nowhere/Else") == ZoneInfo("UTC")


_ZONES = st.sampled_from(
    [AMSTERDAM, TOKYO, ZoneInfo("America/New_York"), ZoneInfo("Australia/Sydney")]
)
_CLOCKS = st.builds(lambda h, m: f"{h:02d}:{m:02d}", st.integers(0, 23), st.sampled_from([0, 30]))
_NOW = st.datetimes(
    min_value=datetime(2027, 1, 1), max_value=datetime(2028, 12, 31), timezones=st.just(UTC)
)


@st.composite
def _policies(draw: st.DrawFn) -> ContactPressure:
    start, end = draw(_CLOCKS), draw(_CLOCKS)
    quiet = QuietHours(start=start, end=end) if start != end and draw(st.booleans()) else None
    return ContactPressure(
        per_day=draw(st.none() | st.integers(1, 3)),
        per_week=draw(st.none() | st.integers(1, 8)),
        quiet_hours=quiet,
    )


@st.composite
def _windows(draw: st.DrawFn) -> TimeWindow | None:
    if draw(st.booleans()):
        return None
    start, end = sorted(draw(st.lists(st.integers(0, 47), min_size=2, max_size=2, unique=True)))
    days = draw(st.lists(st.sampled_from(WEEKDAYS), min_size=1, max_size=7, unique=True))
    return TimeWindow(days=days, start=_half(start), end=_half(end))


def _half(index: int) -> time:
    return time(index // 2, 30 * (index % 2))


@settings(max_examples=300, deadline=None)
@given(
    now=_NOW,
    policy=_policies(),
    zone=_ZONES,
    window=_windows(),
    ago=st.lists(st.integers(0, 8 * 24 * 60), max_size=10),
    transactional=st.booleans(),
)
def test_until_is_the_first_moment_every_rule_allows(
    now: datetime,
    policy: ContactPressure,
    zone: ZoneInfo,
    window: TimeWindow | None,
    ago: list[int],
    transactional: bool,
) -> None:
    recent = [now - timedelta(minutes=m) for m in ago]
    verdict = judge(
        now, policy, zone=zone, window=window, recent=recent, transactional=transactional
    )
    if verdict.allowed or verdict.until is None:
        return
    moment = verdict.until
    assert moment > now
    again = judge(
        moment, policy, zone=zone, window=window, recent=recent, transactional=transactional
    )
    assert again.allowed, (verdict, again)
    # A second earlier, the rule that set it still held the mail back.
    before = judge(
        moment - timedelta(seconds=1),
        policy,
        zone=zone,
        window=window,
        recent=recent,
        transactional=transactional,
    )
    assert not before.allowed, verdict
