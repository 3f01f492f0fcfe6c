"""Late-indexed issues: each incremental run looks back ``lookback_minutes`` before its bookmark
(docs/SETTINGS.md "Incremental semantics"), reads in full only what it had not emitted at that
version, and never emits an unchanged record twice."""

from __future__ import annotations

import datetime as dt

import pytest

from tests.tapdriver import discover, fake_config, run_tap, select

UTC = dt.timezone.utc
STREAMS = {"jira_issues": "id", "jsm_requests": "issueId", "jira_issue_comments": "issueId"}


def ts(value: str) -> dt.datetime:
    return dt.datetime.fromisoformat(value.replace("Z", "+00:00"))


def iso(value: dt.datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def issue_ids(run, stream: str) -> list[str]:  # noqa: ANN001
    key = STREAMS[stream]
    return [str(r[key]) for r in run.records.get(stream, [])]


@pytest.mark.parametrize("flavour", ["cloud", "server"])
@pytest.mark.parametrize("lookback", [720, 0])
def test_issue_indexed_after_the_first_run_is_caught(fake_factory, flavour: str, lookback: int) -> None:  # noqa: ANN001
    fake = fake_factory(flavour=flavour, seed=2, size="small")  # its latest issue is a request: one bookmark
    config = fake_config(fake, lookback_minutes=lookback, delete_sweep_hours=0)
    catalog = select(discover(config), list(STREAMS))
    fake.control.set_index_lag(3600)  # what is written now is not searchable yet
    first = run_tap(config, catalog=catalog)
    assert first.returncode == 0, first.last_stderr_line
    bookmark = ts(first.last_state["bookmarks"]["jira_issues"]["replication_key_value"])
    assert {ts(first.last_state["bookmarks"][s]["replication_key_value"]) for s in STREAMS} == {bookmark}
    late = fake.control.add("issue", "SDA", at=iso(bookmark - dt.timedelta(hours=3)))["id"]
    assert all(late not in issue_ids(first, s) for s in STREAMS)
    fake.control.set_index_lag(0)  # now it is
    fake.control.clear_log()
    second = run_tap(config, catalog=catalog, state=first.last_state)
    assert second.returncode == 0, second.last_stderr_line
    for stream in STREAMS:
        if lookback:
            assert set(issue_ids(second, stream)) == {late}, stream  # and nothing unchanged again
        else:
            assert late not in issue_ids(second, stream), stream  # the test fails without the look-back
    assert len(issue_ids(second, "jira_issues")) == len(set(issue_ids(second, "jira_issues")))
    log = fake.control.read_log()
    if lookback and flavour == "cloud":
        assert [e for e in log if e["path"] == "/rest/api/3/issue/bulkfetch" and e["method"] == "POST"]
    if lookback and flavour == "server":
        assert any(f"id in ({late})" in " ".join(e["query"].get("jql", [])) for e in log)
    spans = [e for e in log if "updated <=" in " ".join(e["query"].get("jql", []))
             and e["query"].get("fields") != ["*all"]]
    assert spans or not lookback
    # the look-back search asks for ids and times only; only the late issue is read in full
    third = run_tap(config, catalog=catalog, state=second.last_state)
    assert third.returncode == 0, third.last_stderr_line
    assert all(issue_ids(third, s) == [] for s in STREAMS), "an unchanged record was emitted again"
    assert second.last_state["bookmarks"]["jira_issues"]["replication_key_value"] == iso(bookmark)


@pytest.mark.parametrize("flavour", ["cloud", "server"])
def test_a_touched_issue_inside_the_span_is_emitted_once_at_its_new_version(fake_factory, flavour: str) -> None:  # noqa: ANN001
    fake = fake_factory(flavour=flavour, seed=8, size="small")
    config = fake_config(fake, delete_sweep_hours=0)
    catalog = select(discover(config), ["jira_issues"])
    first = run_tap(config, catalog=catalog)
    assert first.returncode == 0, first.last_stderr_line
    records = first.records["jira_issues"]
    bookmark = ts(first.last_state["bookmarks"]["jira_issues"]["replication_key_value"])
    in_span = [r["id"] for r in records if bookmark - dt.timedelta(hours=12) <= ts(r["updated"]) < bookmark]
    older = [r["id"] for r in records if ts(r["updated"]) < bookmark - dt.timedelta(hours=12)]
    assert older
    # an old issue changed to a time inside the span, indexed late: caught once
    fake.control.set_index_lag(3600)
    fake.control.touch("issue", older[0], at=iso(bookmark - dt.timedelta(hours=1)))
    hidden = run_tap(config, catalog=catalog, state=first.last_state)
    assert hidden.returncode == 0 and issue_ids(hidden, "jira_issues") == [], hidden.last_stderr_line
    fake.control.set_index_lag(0)
    second = run_tap(config, catalog=catalog, state=hidden.last_state)
    assert second.returncode == 0, second.last_stderr_line
    assert issue_ids(second, "jira_issues") == [older[0]]
    assert not set(in_span) & set(issue_ids(second, "jira_issues"))


def test_fake_bulkfetch_answers_as_the_v3_document_says(fake_cloud) -> None:  # noqa: ANN001
    from tests.specs.validate import checker

    session = fake_cloud.client()
    url = f"{fake_cloud.url}/rest/api/3/issue/bulkfetch"
    ids = [ref.id for ref in fake_cloud.data.issues()[:5]]
    fake_cloud.control.delete("issue", ids[2])
    answer = session.post(url, json={"issueIdsOrKeys": [ids[4], ids[0], ids[2], "NOPE-1"], "fields": ["*all"]},
                          timeout=30)
    assert answer.status_code == 200, answer.text[:300]
    body = answer.json()
    spec = checker("jira")
    assert not spec.errors(body, "/rest/api/3/issue/bulkfetch", "post")
    assert not spec.undeclared(body, "/rest/api/3/issue/bulkfetch", "post")
    assert [issue["id"] for issue in body["issues"]] == [ids[0], ids[4]]  # id order; gone ones left out
    assert body["issueErrors"] == []
    only_ids = session.post(url, json={"issueIdsOrKeys": [ids[0]], "fields": ["updated"]}, timeout=30).json()
    assert set(only_ids["issues"][0]["fields"]) == {"updated"}
    for bad in ({"issueIdsOrKeys": [str(10_000 + i) for i in range(101)]}, {"issueIdsOrKeys": [ids[0]], "jql": "x"},
                {"fields": ["*all"]}):
        refused = session.post(url, json=bad, timeout=30)
        assert refused.status_code == 400 and refused.json()["errorMessages"], bad


def test_look_back_pairs_stay_within_the_span_in_memory_and_in_state() -> None:
    from tap_atlassian.lookback import STATE_KEY, Lookback
    from tap_atlassian.state_sets import Versions

    state: dict = {}
    span = Lookback(state, None, 60)  # a first run, in updated order, one issue a second
    start = dt.datetime(2024, 6, 1, tzinfo=UTC)
    for n in range(50_000):
        span.emitted(str(10_000 + n), start + dt.timedelta(seconds=n))
        assert len(span.seen) <= 20_000
    span.save()
    kept = Versions.decode(state[STATE_KEY])
    assert len(kept) == 3601  # the last hour, both ends included
    later = Lookback(state, start + dt.timedelta(seconds=49_999), 60)
    assert not later.is_new("59999", start + dt.timedelta(seconds=49_999))
    assert later.is_new("59999", start + dt.timedelta(seconds=50_000))
    assert later.is_new("10000", start)
