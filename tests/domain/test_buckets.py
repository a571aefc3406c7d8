"""Export buckets on the journey's local calendar, across DST changes.

Amsterdam changes on 2027-03-28 (02:00 CET -> 03:00 CEST, at 01:00 UTC) and on
2027-10-31 (03:00 CEST -> 02:00 CET, at 01:00 UTC).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from domain.buckets import EVERY, Every, bucket_of, key_of
from domain.definition import parse_definition

AMSTERDAM = ZoneInfo("Europe/Amsterdam")
# Whole-hour changes, none, a half-hour change (Lord Howe) and one at midnight (Santiago).
ZONES = [
    "Europe/Amsterdam",
    "America/New_York",
    "Asia/Kolkata",
    "Australia/Lord_Howe",
    "America/Santiago",
]


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


@pytest.mark.parametrize(
    ("moment", "every", "key", "start", "end"),
    [
        # A day is from local midnight to local midnight: 23 and 25 hours on change days.
        (utc(2027, 3, 1, 12), "P1D", "2027-03-01", utc(2027, 2, 28, 23), utc(2027, 3, 1, 23)),
        (utc(2027, 3, 28, 12), "P1D", "2027-03-28", utc(2027, 3, 27, 23), utc(2027, 3, 28, 22)),
        (utc(2027, 10, 31, 12), "P1D", "2027-10-31", utc(2027, 10, 30, 22), utc(2027, 10, 31, 23)),
        # 23:30 UTC on 1 March is already 2 March in Amsterdam.
        (utc(2027, 3, 1, 23, 30), "P1D", "2027-03-02", utc(2027, 3, 1, 23), utc(2027, 3, 2, 23)),
        # A week runs from Monday 00:00; the one with the spring change is 167 hours.
        (utc(2027, 3, 3, 9), "P7D", "2027-W09", utc(2027, 2, 28, 23), utc(2027, 3, 7, 23)),
        (utc(2027, 3, 25, 9), "P7D", "2027-W12", utc(2027, 3, 21, 23), utc(2027, 3, 28, 22)),
        # The hour that autumn repeats is two buckets, told apart by the offset.
        (
            utc(2027, 10, 31, 0, 30),
            "PT1H",
            "2027-10-31T02+0200",
            utc(2027, 10, 31, 0),
            utc(2027, 10, 31, 1),
        ),
        (
            utc(2027, 10, 31, 1, 30),
            "PT1H",
            "2027-10-31T02+0100",
            utc(2027, 10, 31, 1),
            utc(2027, 10, 31, 2),
        ),
        # Spring skips 02:00-03:00: 01:xx is followed by 03:00.
        (
            utc(2027, 3, 28, 0, 59),
            "PT1H",
            "2027-03-28T01+0100",
            utc(2027, 3, 28, 0),
            utc(2027, 3, 28, 1),
        ),
    ],
)
def test_amsterdam_buckets(
    moment: datetime, every: Every, key: str, start: datetime, end: datetime
) -> None:
    bucket = bucket_of(moment, every, AMSTERDAM)
    assert (bucket.key, bucket.start, bucket.end) == (key, start, end)


def test_a_zone_that_skips_midnight_starts_its_day_when_the_clock_jumps() -> None:
    # Santiago, 2026-09-06: 00:00 -04 becomes 01:00 -03 (04:00 UTC); the day before ends there.
    santiago = ZoneInfo("America/Santiago")
    day = bucket_of(utc(2026, 9, 6, 12), "P1D", santiago)
    assert (day.key, day.start, day.end) == ("2026-09-06", utc(2026, 9, 6, 4), utc(2026, 9, 7, 3))
    assert bucket_of(utc(2026, 9, 6, 3, 59), "P1D", santiago).end == day.start


@settings(max_examples=150, deadline=None)
@given(
    seconds=st.integers(min_value=0, max_value=10 * 365 * 86400),
    zone_name=st.sampled_from(ZONES),
    every=st.sampled_from(EVERY),
)
def test_buckets_tile_time_without_gap_or_overlap(
    seconds: int, zone_name: str, every: Every
) -> None:
    zone = ZoneInfo(zone_name)
    moment = utc(2024, 1, 1) + timedelta(seconds=seconds, microseconds=seconds % 997)
    bucket = bucket_of(moment, every, zone)
    second = timedelta(seconds=1)
    assert bucket.start <= moment < bucket.end
    # Every instant inside shows the bucket's name, the ones just outside do not.
    assert (
        key_of(bucket.start, every, zone) == bucket.key == key_of(bucket.end - second, every, zone)
    )
    assert key_of(bucket.start - second, every, zone) != bucket.key
    assert key_of(bucket.end, every, zone) != bucket.key
    # The next bucket starts where this one ends.
    assert bucket_of(bucket.end, every, zone).start == bucket.end
    if zone_name == "Europe/Amsterdam" and every != "PT1H":
        local = bucket.start.astimezone(zone)
        assert (local.hour, local.minute) == (0, 0)
        assert every == "P1D" or local.weekday() == 0


def _export(**settings_: object) -> dict[str, object]:
    return {
        "name": "Bounces",
        "steps": [{"id": "bounced", "type": "export", "bucket": {"every": "P1D"}, **settings_}],
    }


@pytest.mark.parametrize(
    ("settings_", "field", "words"),
    [
        ({"fields": []}, "fields", "at least 1 item"),
        ({"fields": ["email", "email"]}, "fields", "named twice: email"),
        ({"fields": ["e-mail"]}, "fields", "'e-mail' is not a field name"),
        ({"fields": ["id"], "file": "../x-{bucket}.csv"}, "file", "no directory"),
        ({"fields": ["id"], "file": "exports/{bucket}.csv"}, "file", "no directory"),
        ({"fields": ["id"], "file": "{journey}.csv"}, "file", "must contain {bucket}"),
        ({"fields": ["id"], "file": "{bucket}-{who}.csv"}, "file", "unknown variable {who}"),
        ({"fields": ["id"], "file": "{bucket}.txt"}, "file", "end in .csv"),
        ({"fields": ["id"], "bucket": {"every": "P1M"}}, "bucket", "PT1H"),
    ],
)
def test_a_bad_export_step_is_refused_naming_step_and_field(
    settings_: dict[str, object], field: str, words: str
) -> None:
    with pytest.raises(ValidationError) as refused:
        parse_definition(_export(**settings_))
    errors = refused.value.errors()
    assert any(
        e["loc"][:3] == ("steps", 0, "export") and field in e["loc"] and words in e["msg"]
        for e in errors
    ), errors
