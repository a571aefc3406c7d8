"""Wait durations as marketers write them: weeks, days and hours, never months."""

from __future__ import annotations

from datetime import timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from domain.durations import Duration


@pytest.mark.parametrize(
    ("text", "days", "exact", "words"),
    [
        ("P7D", 7, timedelta(0), "1 week"),
        ("PT12H", 0, timedelta(hours=12), "12 hours"),
        ("P2W", 14, timedelta(0), "2 weeks"),
        ("P1DT6H", 1, timedelta(hours=6), "1 day 6 hours"),
        ("PT30M", 0, timedelta(minutes=30), "30 minutes"),
        ("P1D", 1, timedelta(0), "1 day"),
        ("P9D", 9, timedelta(0), "9 days"),
        ("P1W2D", 9, timedelta(0), "9 days"),
        ("PT1H1M1S", 0, timedelta(hours=1, minutes=1, seconds=1), "1 hour 1 minute 1 second"),
        ("p3d", 3, timedelta(0), "3 days"),
    ],
)
def test_parse_and_describe(text: str, days: int, exact: timedelta, words: str) -> None:
    duration = Duration.parse(text)

    assert (duration.days, duration.exact) == (days, exact)
    assert duration.describe() == words


@pytest.mark.parametrize(
    "text",
    ["P", "PT", "P1M", "P1Y", "P1Y2D", "-P1D", "P-1D", "PT-5H", "7 days", "", "P1DT", "1D"],
)
def test_rejects_what_is_not_weeks_days_or_hours(text: str) -> None:
    with pytest.raises(ValueError, match="not an ISO-8601 duration") as caught:
        Duration.parse(text)
    # The message shows a marketer what to write instead.
    assert "P7D" in str(caught.value)


@pytest.mark.parametrize("text", ["P0D", "PT0H", "P0W", "PT0S", "P0DT0H0M"])
def test_rejects_zero(text: str) -> None:
    with pytest.raises(ValueError, match="longer than zero"):
        Duration.parse(text)


@settings(max_examples=200, deadline=None)
@given(
    weeks=st.integers(0, 60),
    days=st.integers(0, 400),
    hours=st.integers(0, 100),
    minutes=st.integers(0, 600),
)
def test_parts_add_up_and_the_words_say_the_same(
    weeks: int, days: int, hours: int, minutes: int
) -> None:
    text = "P" + (f"{weeks}W" if weeks else "") + (f"{days}D" if days else "")
    if hours or minutes:
        text += "T" + (f"{hours}H" if hours else "") + (f"{minutes}M" if minutes else "")
    if text == "P":
        with pytest.raises(ValueError):
            Duration.parse(text)
        return

    duration = Duration.parse(text)

    assert duration.days == weeks * 7 + days
    assert duration.exact == timedelta(hours=hours, minutes=minutes)
    # Read the words back: they describe the same length of time.
    units = {"week": 7 * 24 * 60, "day": 24 * 60, "hour": 60, "minute": 1}
    words = duration.describe().split()
    told = sum(
        int(amount) * units[unit.rstrip("s")]
        for amount, unit in zip(words[::2], words[1::2], strict=True)
    )
    assert told == (weeks * 7 + days) * 24 * 60 + hours * 60 + minutes
