"""Daylight saving: JQL literals are local minutes; a repeated autumn hour or a spring gap never
makes a run skip (or repeat) an issue, with the bookmark on either side of the transition."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest

from tap_atlassian.windows import Window
from tests.tapdriver import discover, fake_config, run_tap, select

UTC = dt.timezone.utc
ZONES = ["America/Los_Angeles", "Europe/Berlin"]
MINUTE = dt.timedelta(minutes=1)


def transition(zone: str, start: str) -> dt.datetime:
    """The first UTC minute from ``start`` at which the zone's offset changes."""
    tz = ZoneInfo(zone)
    t = dt.datetime.fromisoformat(start).replace(tzinfo=UTC)
    offset = t.astimezone(tz).utcoffset()
    while t.astimezone(tz).utcoffset() == offset:
        t += MINUTE
    return t


def readings(literal: str, tz: ZoneInfo) -> list[dt.datetime]:
    """Every instant a server may read a ``yyyy-MM-dd HH:mm`` literal as (both folds)."""
    local = dt.datetime.strptime(literal, "%Y-%m-%d %H:%M")
    return [local.replace(tzinfo=tz, fold=f).astimezone(UTC) for f in (0, 1)]


def exists(literal: str, tz: ZoneInfo) -> bool:
    """Whether the wall time occurs at all (not in a spring-forward gap)."""
    local = dt.datetime.strptime(literal, "%Y-%m-%d %H:%M")
    return local.replace(tzinfo=tz).astimezone(UTC).astimezone(tz).replace(tzinfo=None) == local


@pytest.mark.parametrize("zone", [*ZONES, "Australia/Lord_Howe", "Pacific/Chatham", "America/St_Johns"])
@pytest.mark.parametrize("start", ["2025-03-01T00:00:00", "2025-09-20T00:00:00"])
def test_literals_include_every_instant_of_the_window_whatever_the_reading(zone: str, start: str) -> None:
    tz = ZoneInfo(zone)
    change = transition(zone, start)
    for minutes in range(-180, 181, 1):
        instant = change + dt.timedelta(minutes=minutes, seconds=17)
        window = Window(instant, instant.replace(second=0), tz)
        lower, upper = window.lower_literal(instant), window.upper_literal()
        assert exists(lower, tz) and exists(upper, tz), (lower, upper)
        assert all(r <= instant for r in readings(lower, tz)), (zone, instant, lower)
        assert all(r >= window.upper for r in readings(upper, tz)), (zone, instant, upper)


def touch_around(fake, zone: str) -> dict[str, dt.datetime]:  # noqa: ANN001
    """Issues updated around the 2025 autumn repeated hour and the spring gap: id -> instant."""
    autumn = transition(zone, "2025-09-20T00:00:00")  # end of the repeated hour's first pass
    spring = transition(zone, "2025-03-01T00:00:00")  # the gap's start
    minutes = {"autumn": [-70, -45, -15, -1, 0, 15, 45, 70], "spring": [-30, -1, 0, 1, 30]}
    instants = [autumn + dt.timedelta(minutes=m, seconds=20) for m in minutes["autumn"]]
    instants += [spring + dt.timedelta(minutes=m, seconds=20) for m in minutes["spring"]]
    touched = {}
    for ref, instant in zip(fake.data.issues()[:len(instants)], instants):
        fake.control.touch("issue", ref.id, at=instant.strftime("%Y-%m-%dT%H:%M:%S.000Z"))
        touched[ref.id] = instant
    return touched


def state_at(bookmark: dt.datetime) -> dict:
    value = bookmark.strftime("%Y-%m-%dT%H:%M:%S.000Z")
    return {"bookmarks": {"jira_issues": {"replication_key": "updated", "replication_key_value": value}}}


@pytest.mark.parametrize("flavour", ["cloud", "server"])
@pytest.mark.parametrize("zone", ZONES)
def test_issues_around_the_transitions_are_each_emitted_once(fake_factory, flavour: str, zone: str) -> None:  # noqa: ANN001
    fake = fake_factory(flavour=flavour, seed=6, size="small", jira_tz=zone)
    touched = touch_around(fake, zone)
    config = fake_config(fake, lookback_minutes=0, delete_sweep_hours=0)
    catalog = select(discover(config), ["jira_issues"])
    times = sorted(set(touched.values()))
    # the bookmark on either side of each transition, and inside the repeated hour (both passes)
    for bookmark in [times[0] - dt.timedelta(hours=2), *times]:
        run = run_tap(config, catalog=catalog, state=state_at(bookmark.replace(microsecond=0)))
        assert run.returncode == 0, run.last_stderr_line
        got = run.ids("jira_issues")
        expected = {i for i, t in touched.items() if t >= bookmark.replace(microsecond=0)}
        assert len(got) == len(set(got)), f"emitted twice from {bookmark}"
        assert set(got) == expected, f"bookmark {bookmark}: missing {expected - set(got)}, extra {set(got) - expected}"


@pytest.mark.parametrize("zone", ZONES)
def test_runs_across_the_autumn_hour_emit_each_issue_once(fake_factory, zone: str) -> None:  # noqa: ANN001
    fake = fake_factory(flavour="cloud", seed=6, size="small", jira_tz=zone)
    touched = touch_around(fake, zone)
    config = fake_config(fake, delete_sweep_hours=0)
    catalog = select(discover(config), ["jira_issues"])
    start = min(touched.values()) - dt.timedelta(hours=1)
    first = run_tap(config, catalog=catalog, state=state_at(start))
    assert first.returncode == 0, first.last_stderr_line
    assert sorted(first.ids("jira_issues")) == sorted(touched)
    again = run_tap(config, catalog=catalog, state=first.last_state)
    assert again.returncode == 0, again.last_stderr_line
    assert again.ids("jira_issues") == [], "an unchanged issue was emitted again"
