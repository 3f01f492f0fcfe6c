"""Incremental runs: touched records and nothing else, time zones, a killed run resumed."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from tests.tapdriver import discover, fake_config, run_tap, select

UTC = dt.timezone.utc
STREAM_KEYS = {"jira_issues": ("issue", "id", "updated"), "jsm_requests": ("issue", "issueId", "updated"),
               "confluence_pages": ("page", "id", "last_modified")}


def ts(value: str) -> dt.datetime:
    return dt.datetime.fromisoformat(value.replace("Z", "+00:00"))


def iso(value: dt.datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def only(fake, streams: list[str], **overrides):  # noqa: ANN001, ANN201
    config = fake_config(fake, **overrides)
    return config, select(discover(config), streams)


@pytest.mark.parametrize("flavour", ["cloud", "server"])
@pytest.mark.parametrize("stream", ["jira_issues", "jsm_requests", "confluence_pages"])
def test_second_run_emits_touched_records_only(fake_factory, flavour: str, stream: str) -> None:  # noqa: ANN001
    fake = fake_factory(flavour=flavour, seed=3, size="small")
    config, catalog = only(fake, [stream], page_size=7)
    kind, key, rk = STREAM_KEYS[stream]
    first = run_tap(config, catalog=catalog)
    assert first.returncode == 0, first.last_stderr_line
    records = first.records[stream]
    bookmark = first.last_state["bookmarks"][stream]["replication_key_value"]
    assert bookmark == max(r[rk] for r in records)
    boundary = {str(r[key]) for r in records if r[rk] == bookmark}
    # touch 3 records that are not at the boundary, 10 minutes ago
    touched = [str(r[key]) for r in records if str(r[key]) not in boundary][:3]
    when = dt.datetime.now(UTC) - dt.timedelta(minutes=10)
    for ident in touched:
        fake.control.touch(kind, ident, at=iso(when))
    second = run_tap(config, catalog=catalog, state=first.last_state)
    assert second.returncode == 0, second.last_stderr_line
    got = [str(r[key]) for r in second.records.get(stream, [])]
    assert set(touched) <= set(got), "a touched record was missed"
    assert set(got) - set(touched) <= boundary, "an unchanged older record was emitted again"
    assert len(got) == len(set(got)), "a record was emitted twice in one run"
    new_bookmark = second.last_state["bookmarks"][stream]["replication_key_value"]
    assert ts(new_bookmark) >= when.replace(microsecond=when.microsecond // 1000 * 1000)
    # a third run with nothing changed emits at most the boundary again
    third = run_tap(config, catalog=catalog, state=second.last_state)
    assert {str(r[key]) for r in third.records.get(stream, [])} <= set(touched)


@pytest.mark.parametrize("tz", ["Etc/GMT+8", "Etc/GMT-8"])  # UTC-8 and UTC+8 (POSIX signs)
@pytest.mark.parametrize("stream", ["jira_issues", "confluence_pages"])
def test_record_one_minute_after_bookmark_in_a_far_time_zone(fake_factory, tz: str, stream: str) -> None:  # noqa: ANN001
    fake = fake_factory(flavour="cloud", seed=5, size="small", jira_tz=tz, confluence_tz=tz)
    config, catalog = only(fake, [stream], search_lag_minutes=2)
    kind, key, rk = STREAM_KEYS[stream]
    first = run_tap(config, catalog=catalog)
    assert first.returncode == 0, first.last_stderr_line
    bookmark = ts(first.last_state["bookmarks"][stream]["replication_key_value"])
    ids = [str(r[key]) for r in first.records[stream] if ts(r[rk]) < bookmark]
    just_after, recent = ids[0], ids[1]
    fake.control.touch(kind, just_after, at=iso(bookmark + dt.timedelta(minutes=1)))
    fake.control.touch(kind, recent, at=iso(dt.datetime.now(UTC) - dt.timedelta(minutes=4)))
    second = run_tap(config, catalog=catalog, state=first.last_state)
    assert second.returncode == 0, second.last_stderr_line
    got = {str(r[key]) for r in second.records.get(stream, [])}
    assert just_after in got, "the record one minute after the bookmark was missed"
    assert recent in got, "a record older than search_lag_minutes was missed"
    boundary = {str(r[key]) for r in first.records[stream] if ts(r[rk]) == bookmark}
    assert got - {just_after, recent} <= boundary


def test_record_inside_the_search_lag_waits_for_the_next_run(fake_factory) -> None:  # noqa: ANN001
    fake = fake_factory(flavour="server", seed=5, size="small")
    config, catalog = only(fake, ["jira_issues"], search_lag_minutes=30)
    first = run_tap(config, catalog=catalog)
    issue = first.records["jira_issues"][0]["id"]
    fake.control.touch("issue", issue, at=iso(dt.datetime.now(UTC) - dt.timedelta(minutes=5)))
    second = run_tap(config, catalog=catalog, state=first.last_state)
    assert issue not in {r["id"] for r in second.records.get("jira_issues", [])}
    later = run_tap({**config, "search_lag_minutes": 1}, catalog=catalog, state=second.last_state)
    assert issue in {r["id"] for r in later.records.get("jira_issues", [])}


@pytest.mark.parametrize("flavour", ["cloud", "server"])
@pytest.mark.parametrize("stream", ["jira_issues", "confluence_pages"])
def test_killed_run_resumes_without_gaps(fake_factory, flavour: str, stream: str) -> None:  # noqa: ANN001
    fake = fake_factory(flavour=flavour, seed=9, size="small", issues=150, pages=120)
    kind, key, rk = STREAM_KEYS[stream]
    config, catalog = only(fake, [stream], page_size=10,
                           start_date="2000-01-01T00:00:00Z")  # incremental from the first run
    killed = run_tap(config, catalog=catalog, stop_after_records=65)
    assert killed.returncode != 0
    emitted = {str(r[key]) for r in killed.records[stream]}
    state = killed.last_state
    mark = state["bookmarks"][stream].get("replication_key_value")
    assert mark is not None, "no resumable state was written before the kill"
    resumed = run_tap(config, catalog=catalog, state=state)
    assert resumed.returncode == 0, resumed.last_stderr_line
    again = {str(r[key]) for r in resumed.records[stream]}
    want = {r.id for r in (fake.data.issues() if kind == "issue" else fake.data.pages())}
    assert emitted | again == want, f"lost: {sorted(want - emitted - again)[:5]}"
    assert len(again) < len(want), "the resumed run started over instead of resuming"


@pytest.mark.parametrize("stream", ["jira_issues", "confluence_pages"])
def test_server_offsets_shifting_mid_run_lose_nothing(fake_factory, stream: str) -> None:  # noqa: ANN001
    """An already-read record changes between two pages (and leaves the window): with plain
    offsets the next page would start one record too far; keyset paging loses nothing."""
    fake = fake_factory(flavour="server", seed=4, size="small")
    kind, key, _rk = STREAM_KEYS[stream]
    path = "/rest/api/2/search" if kind == "issue" else "/rest/api/content/search"
    original = fake._find(type("R", (), {"method": "GET", "host": "main", "path": path})())  # noqa: SLF001
    calls: list[str] = []

    def shifting(req):  # noqa: ANN001, ANN202
        if len(calls) == 1:  # before the second page: touch the first record read
            fake.control.touch(kind, calls[0])
        resp = original.handler(req)
        if "updated DESC" in (req.arg("jql") or ""):  # a sliced search's probe of issue times
            return resp
        if not calls:  # the first answer with records
            body = json.loads(resp.payload())
            found = body.get("issues") or body.get("results")
            if found:
                calls.append(str(found[0]["id"]))
        else:
            calls.append("")
        return resp

    fake.route("GET", path, shifting, product=original.product)
    config, catalog = only(fake, [stream], page_size=6, start_date="2000-01-01T00:00:00Z",
                           search_lag_minutes=5)
    run = run_tap(config, catalog=catalog)
    assert run.returncode == 0, run.last_stderr_line
    got = [str(r[key]) for r in run.records[stream]]
    want = {r.id for r in (fake.data.issues() if kind == "issue" else fake.data.pages())}
    assert set(got) == want and len(got) == len(want)


@pytest.mark.parametrize("flavour", ["cloud", "server"])
def test_start_date_bounds_the_first_run(fake_factory, flavour: str) -> None:  # noqa: ANN001
    fake = fake_factory(flavour=flavour, seed=6, size="small")
    streams = ["jira_issues", "confluence_pages", "jsm_requests"]
    config, catalog = only(fake, streams)
    full = run_tap(config, catalog=catalog)
    start = sorted(r["updated"] for r in full.records["jira_issues"])[30]
    run = run_tap({**config, "start_date": start}, catalog=catalog)
    assert run.returncode == 0, run.last_stderr_line
    for stream in streams:
        _kind, key, rk = STREAM_KEYS[stream]
        want = {str(r[key]) for r in full.records[stream] if ts(r[rk]) >= ts(start)}
        assert {str(r[key]) for r in run.records.get(stream, [])} == want, stream


@pytest.mark.parametrize("flavour", ["cloud", "server"])
def test_user_without_a_time_zone_still_misses_nothing(fake_factory, flavour: str) -> None:  # noqa: ANN001
    """A /myself answer without timeZone: the window is widened by 14 h and filtered by UTC."""
    from tests.fake_atlassian import FakeResponse  # noqa: PLC0415

    fake = fake_factory(flavour=flavour, seed=5, size="small", jira_tz="Etc/GMT+8")
    api = "3" if flavour == "cloud" else "2"
    original = fake._find(type("R", (), {"method": "GET", "host": "main", "path": f"/rest/api/{api}/myself"})())  # noqa: SLF001

    def no_zone(req):  # noqa: ANN001, ANN202
        body = json.loads(original.handler(req).payload())
        body.pop("timeZone", None)
        return FakeResponse(json=body)

    fake.route("GET", f"/rest/api/{api}/myself", no_zone, product="jira")
    config, catalog = only(fake, ["jira_issues"], page_size=9)
    first = run_tap(config, catalog=catalog)
    assert first.returncode == 0, first.last_stderr_line
    bookmark = ts(first.last_state["bookmarks"]["jira_issues"]["replication_key_value"])
    older = [r["id"] for r in first.records["jira_issues"] if ts(r["updated"]) < bookmark]
    fake.control.touch("issue", older[0], at=iso(bookmark + dt.timedelta(minutes=1)))
    second = run_tap(config, catalog=catalog, state=first.last_state)
    assert second.returncode == 0, second.last_stderr_line
    got = {r["id"] for r in second.records.get("jira_issues", [])}
    boundary = {r["id"] for r in first.records["jira_issues"] if ts(r["updated"]) == bookmark}
    assert older[0] in got and got - {older[0]} <= boundary
