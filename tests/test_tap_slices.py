"""The sliced issue search's planning (``tap_atlassian/slices.py``), seen in the fake's log.

- Planning costs no round trip of its own: one count per search (Cloud), no count per slice,
  and about one search request per page of issues.
- The window's newest issues are found in the first round, so a window whose issues stopped
  long before its upper end is not cut into empty slices.
- Uneven times are refined: a slice whose page overflows is cut again, and a minute holding
  more than a page is read page by page; records and every STATE equal a sequential run.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import re
from zoneinfo import ZoneInfo

import pytest

from tests.test_tap_concurrency import comparable, only, tap_entries
from tests.tapdriver import run_tap

RANGE = re.compile(r'updated >= "([^"]+)" AND updated < "([^"]+)"')


def sync(fake, limit: int, page_size: int):  # noqa: ANN001, ANN201
    """``jira_issues`` at ``limit`` in flight: (records and STATE, the searches the fake saw)."""
    config, catalog = only(fake, ["jira_issues"], page_size=page_size, max_concurrent_requests=limit)
    fake.log.clear()
    run = run_tap(config, catalog=catalog)
    assert run.returncode == 0, run.last_stderr_line
    return comparable(run), [e for e in tap_entries(fake) if "/search" in e.path]


def ranges(searches: list, tz: str) -> list[tuple[int, int]]:
    """The ``[a, b)`` of each slice search, in epoch ms (the literals are the user's wall time)."""
    out = []
    for e in searches:
        m = RANGE.search(e.arg("jql") or "")
        if m:
            a, b = (dt.datetime.strptime(x, "%Y-%m-%d %H:%M").replace(tzinfo=ZoneInfo(tz)) for x in m.groups())
            out.append((int(a.timestamp() * 1000), int(b.timestamp() * 1000)))
    return out


def same_as_sequential(fake, page_size: int) -> list:  # noqa: ANN001
    """Records and every STATE at 8 equal those at 1 (each issue once, in time order); the
    searches made at 8."""
    (sequential, _), (sliced, searches) = sync(fake, 1, page_size), sync(fake, 8, page_size)
    assert sliced == sequential, "the sliced search must give the sequential records and STATE"
    ids = [json.loads(r)["id"] for r in sliced[0]["jira_issues"]]
    assert ids == [r.id for r in sorted(fake.data.issues(), key=lambda r: (r.updated, r.idx))]
    return searches


@pytest.mark.parametrize("flavour", ["cloud", "server"])
def test_planning_costs_no_round_trip_of_its_own(fake_factory, flavour: str) -> None:  # noqa: ANN001
    fake = fake_factory(flavour=flavour, seed=4, size="small", issues=150, latency_ms=5)
    searches = same_as_sequential(fake, page_size=10)
    pages = math.ceil(150 / 10)
    counts = [e for e in searches if e.path.endswith("/approximate-count")]
    assert len(counts) == (1 if flavour == "cloud" else 0), "one count per search, none per slice"
    assert not [e for e in searches if e.arg("maxResults") in ("0", "1")], "no count or probe by search"
    reads = [e for e in searches if e.method == "GET"]
    # the first page, the newest issues' times, then slices of about 0.8 page each
    assert len(reads) <= 2 + math.ceil(1.25 * pages) + 2, f"{len(reads)} searches for {pages} pages"
    assert max(e.in_flight for e in reads) >= 2


def test_a_window_whose_issues_stopped_long_ago_is_not_cut_into_empty_slices(fake_factory) -> None:  # noqa: ANN001
    """The fake's issues end in mid-2024, the window (no start date) at now: the newest
    issues' times, read with the first page, bound the slices."""
    fake = fake_factory(flavour="cloud", seed=6, size="small", issues=150, latency_ms=5)
    searches = same_as_sequential(fake, page_size=10)
    times = [r.updated for r in fake.data.issues()]
    slices = ranges(searches, "America/Los_Angeles")
    assert len(slices) >= 10
    empty = [s for s in slices if not any(s[0] <= u < s[1] for u in times)]
    assert len(empty) <= 1, f"{len(empty)} of {len(slices)} slices held no issue"


def test_uneven_times_are_refined_where_a_slice_overflows(fake_factory) -> None:  # noqa: ANN001
    """Two thirds of the issues changed within two hours of one day, the rest over two years."""
    fake = fake_factory(flavour="cloud", seed=8, size="small", issues=90, latency_ms=5)
    burst = dt.datetime(2023, 3, 1, 9, 0, 7, tzinfo=dt.timezone.utc)
    for k, ref in enumerate(fake.data.issues()[:60]):
        fake.control.touch("issue", ref.id, at=(burst + dt.timedelta(seconds=113 * k)).isoformat())
    searches = same_as_sequential(fake, page_size=10)
    slices = ranges(searches, "America/Los_Angeles")
    refined = [s for s in slices if any(o != s and o[0] <= s[0] and s[1] <= o[1] for o in slices)]
    assert refined, "no slice was cut again after its page overflowed"
    in_burst = [s for s in slices if s[1] - s[0] <= 3 * 3600 * 1000]
    assert len(in_burst) >= 3, "the burst was not read as several slices"


@pytest.mark.parametrize("flavour", ["cloud", "server"])
def test_a_minute_holding_more_than_a_page_is_read_page_by_page(fake_factory, flavour: str) -> None:  # noqa: ANN001
    """25 issues within one minute, pages of 5: that minute cannot be cut by time."""
    fake = fake_factory(flavour=flavour, seed=2, size="small", issues=70, latency_ms=5)
    minute = dt.datetime(2023, 11, 5, 8, 30, 1, tzinfo=dt.timezone.utc)  # the autumn hour in Los Angeles
    for k, ref in enumerate(fake.data.issues()[10:35]):
        fake.control.touch("issue", ref.id, at=(minute + dt.timedelta(seconds=2 * k)).isoformat())
    same_as_sequential(fake, page_size=5)


def test_the_jsm_streams_of_a_run_share_one_search(fake_factory) -> None:  # noqa: ANN001
    """Six streams search the desks' issue times over the same window: asked once (twice
    when a minute boundary passes between two streams, which moves the window's upper end)."""
    fake = fake_factory(flavour="cloud", seed=7, size="small", issues=60, latency_ms=5)
    streams = ["jsm_requests", "jsm_request_comments", "jsm_request_sla", "jsm_request_participants",
               "jsm_request_approvals", "jsm_request_feedback"]
    config, catalog = only(fake, streams, products=["jira_service_desk"], start_date="2000-01-01T00:00:00Z")
    fake.log.clear()
    run = run_tap(config, catalog=catalog)
    assert run.returncode == 0, run.last_stderr_line
    assert run.records["jsm_requests"] and run.records["jsm_request_comments"]
    searches = [e for e in tap_entries(fake) if e.path == "/rest/api/3/search/jql"
                and "updated ASC" in e.arg("jql") and e.arg("fields") == "updated"]
    assert 1 <= len(searches) <= 2, f"{len(searches)} searches for {len(streams)} streams"
