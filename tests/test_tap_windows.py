"""Query-window literals (pure functions): zones, the repeated autumn hour, no zone."""

from __future__ import annotations

import datetime as dt

from tap_atlassian.windows import Window, iso_utc, zone

UTC = dt.timezone.utc


def at(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text).replace(tzinfo=UTC)


def test_literals_are_in_the_users_zone() -> None:
    window = Window.build(at("2024-06-01T10:05:30"), 5, zone("Asia/Shanghai"), now=at("2024-06-02T00:00:00"))
    assert window.literal(window.query_lower) == "2024-06-01 18:04"
    assert window.upper_literal() == "2024-06-02 07:55"
    assert window.admits(at("2024-06-01T10:05:30")) and not window.admits(at("2024-06-01T10:05:29"))
    assert not window.admits(at("2024-06-01T23:56:00"))


def test_lower_bound_in_the_repeated_autumn_hour_is_never_read_later() -> None:
    window = Window.build(None, 0, zone("America/Los_Angeles"), now=at("2024-12-01T00:00:00"))
    # 08:30Z is the first 01:30 (PDT); a server reading "01:30" as PST would start an hour late
    assert window.lower_literal(at("2024-11-03T08:30:00")) == "2024-11-03 00:30"
    # 09:30Z is the second 01:30 (PST): either reading is at or before it
    assert window.lower_literal(at("2024-11-03T09:30:00")) == "2024-11-03 01:30"
    assert window.lower_literal(at("2024-07-01T12:00:00")) == "2024-07-01 05:00"


def test_without_a_zone_the_query_is_widened_and_filtered_by_utc() -> None:
    window = Window.build(at("2024-06-01T10:05:00"), 5, zone("Not/AZone"), now=at("2024-06-02T00:00:00"))
    assert window.tz is None
    assert window.literal(window.query_lower) == "2024-05-31 20:04"
    assert window.upper_literal() == "2024-06-02 13:55"
    assert not window.admits(at("2024-06-01T10:04:59")) and window.admits(at("2024-06-01T10:05:00"))


def test_atlassian_timestamps_become_rfc3339_utc() -> None:
    assert iso_utc("2024-03-05T03:22:33.000-0800") == "2024-03-05T11:22:33.000Z"
    assert iso_utc("2024-03-05T16:52:33.123+05:30") == "2024-03-05T11:22:33.123Z"
    assert iso_utc("2024-03-05T11:22:33.123Z") == "2024-03-05T11:22:33.123Z"
    assert iso_utc(None) is None
