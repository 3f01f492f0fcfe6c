"""The request children (jsm_request_comments, _sla, _participants, _approvals, _feedback), Cloud and
Server/DC: every seeded object exactly once by key at two page sizes, parent ids and times,
records valid against their own schema, the opt-in header on every JSM call, a second run that
reads only the changed requests, deleted comments as tombstones, a request gone between
search and read. Expected records are read from the fake over HTTP, independently of the tap."""

from __future__ import annotations

import collections
import datetime as dt
import functools
import json
import re

import jsonschema
import pytest

from tests.tapdriver import jira_run_config, leaks, run_tap

UTC = dt.timezone.utc
SDS = "/rest/servicedeskapi"
# stream -> (resource below /request/{id}, key properties)
CHILDREN = {
    "jsm_request_comments": ("comment", ("id",)),
    "jsm_request_sla": ("sla", ("issueId", "id")),
    "jsm_request_participants": ("participant", ("issueId", "accountId")),
    "jsm_request_approvals": ("approval", ("id",)),
    "jsm_request_feedback": ("feedback", ("issueId",)),
}
CHILD_PATH = re.compile(SDS + r"/request/([^/]+)/(comment|sla|participant|approval|feedback)$")


def ts(value: str) -> dt.datetime:
    return dt.datetime.fromisoformat(value.replace("Z", "+00:00"))


def iso(value: dt.datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def requests_of(fake) -> list:  # noqa: ANN001
    return fake.data.issues([p["key"] for p in fake.data.service_desks()])


def expected(fake, stream: str, issue_ids) -> dict[tuple, str]:  # noqa: ANN001
    """Key -> issue id of every record the stream must emit, read from the fake (one page each)."""
    resource, keys = CHILDREN[stream]
    session = fake.client()
    session.headers["X-ExperimentalApi"] = "opt-in"
    out: dict[tuple, str] = {}
    for issue in issue_ids:
        resp = session.get(f"{fake.jira_url}{SDS}/request/{issue}/{resource}", params={"limit": 100}, timeout=10)
        if resource == "feedback":
            values = [resp.json()] if resp.status_code == 200 else []
            assert resp.status_code in (200, 404)
        else:
            resp.raise_for_status()
            assert resp.json()["isLastPage"], "expected set must come from one page"
            values = resp.json()["values"]
        for value in values:
            record = {**value, "issueId": str(issue)}
            record.setdefault("accountId", record.get("key"))
            out[tuple(str(record[k]) for k in keys)] = str(issue)
    return out


def key_of(stream: str, record: dict) -> tuple:
    return tuple(str(record[k]) for k in CHILDREN[stream][1])


def tap_requests(fake, since: int = 0) -> list:  # noqa: ANN001
    return [e for e in fake.log[since:] if e.headers.get("user-agent", "").startswith("tap-atlassian/")]


def child_reads(fake, stream: str, since: int = 0) -> set[str]:  # noqa: ANN001
    """The requests whose `stream` resource the tap read."""
    resource = CHILDREN[stream][0]
    return {m.group(1) for e in tap_requests(fake, since)
            if (m := CHILD_PATH.search(e.path)) and m.group(2) == resource}


@functools.cache
def validator(schema_json: str) -> jsonschema.Draft7Validator:
    return jsonschema.Draft7Validator(json.loads(schema_json), format_checker=jsonschema.Draft7Validator.FORMAT_CHECKER)


def assert_valid(run, stream: str) -> None:  # noqa: ANN001
    check = validator(json.dumps(run.schemas[stream]["schema"], sort_keys=True))
    for record in run.records.get(stream, []):
        errors = [e.message for e in check.iter_errors(record)]
        assert not errors, f"{stream} record {key_of(stream, record)}: {errors[:3]}"


@pytest.mark.parametrize("flavour", ["cloud", "server"])
@pytest.mark.parametrize("page_size", [3, 50])
def test_every_child_exactly_once(fake_factory, flavour: str, page_size: int) -> None:  # noqa: ANN001
    fake = fake_factory(flavour=flavour, seed=7, size="small", issues=45)
    config, catalog = jira_run_config(fake, CHILDREN, page_size=page_size)
    run = run_tap(config, catalog=catalog)
    assert run.returncode == 0, run.last_stderr_line
    assert set(run.records) <= set(CHILDREN), "the parent requests are not emitted unless selected"
    updated = {r.id: r.updated for r in requests_of(fake)}
    for stream in CHILDREN:
        want = expected(fake, stream, updated)
        got = [key_of(stream, r) for r in run.records.get(stream, [])]
        dupes = [k for k, n in collections.Counter(got).items() if n > 1]
        assert not dupes, f"{stream}: duplicated keys {dupes[:5]}"
        assert set(got) == set(want), f"{stream}: missing {sorted(set(want) - set(got))[:5]}, extra {sorted(set(got) - set(want))[:5]}"
        if stream == "jsm_request_feedback" and flavour == "server":
            assert not want and not child_reads(fake, stream), "Data Center has no feedback resource"
            continue
        assert want, f"{stream}: the seed has none"
        for record in run.records[stream]:
            assert record["issueId"] == want[key_of(stream, record)]
            assert ts(record["issueUpdated"]) == dt.datetime.fromtimestamp(updated[record["issueId"]] / 1000, UTC)
        newest = dt.datetime.fromtimestamp(max(updated.values()) / 1000, UTC)
        assert ts(run.last_state["bookmarks"][stream]["replication_key_value"]) == newest, \
            f"{stream}: the bookmark passes every request read, with records or not"
        assert_valid(run, stream)
        assert child_reads(fake, stream) == set(updated), f"{stream}: each request read (once per page)"
    if page_size == 3:  # a request with more comments than a page: paged by start
        assert [e for e in tap_requests(fake) if e.path.endswith("/comment") and e.query.get("start") == ["3"]]
    comments = run.records["jsm_request_comments"]
    assert {c["public"] for c in comments} == {True, False}, "public and internal comments both"
    jsm_calls = [e for e in tap_requests(fake) if SDS in e.path]
    assert jsm_calls and all(e.headers.get("x-experimentalapi") == "opt-in" for e in jsm_calls)
    assert not leaks(run, config)


def oldest_unbounded(records: list[dict], bookmark: str, n: int) -> list[str]:
    """Up to n request ids among the records, none at the bookmark (those are re-read anyway)."""
    boundary = {r["issueId"] for r in records if r["issueUpdated"] == bookmark}
    return list(dict.fromkeys(r["issueId"] for r in records if r["issueId"] not in boundary))[:n]


@pytest.mark.parametrize("flavour", ["cloud", "server"])
def test_second_run_reads_changed_requests_only_and_tombstones_deleted_comments(fake_factory, flavour: str) -> None:  # noqa: ANN001
    fake = fake_factory(flavour=flavour, seed=3, size="small", issues=45)
    config, catalog = jira_run_config(fake, CHILDREN, page_size=7)
    streams = [s for s in CHILDREN if s in {e["tap_stream_id"] for e in catalog["streams"]}]  # Server: no feedback
    first = run_tap(config, catalog=catalog)
    assert first.returncode == 0, first.last_stderr_line
    comments = first.records["jsm_request_comments"]
    bookmark = first.last_state["bookmarks"]["jsm_request_comments"]["replication_key_value"]
    boundary = {r["issueId"] for s in streams for r in first.records.get(s, [])
                if r["issueUpdated"] == first.last_state["bookmarks"][s]["replication_key_value"]}
    with_comments = oldest_unbounded(comments, bookmark, 3)
    assert len(with_comments) == 3
    gone_from, added_to, edited_on = with_comments
    when = dt.datetime.now(UTC) - dt.timedelta(minutes=10)
    jsm = fake.jsm_children
    deleted = jsm.comment_ids(gone_from)[0]
    jsm.delete_comment(gone_from, deleted, at=iso(when))
    added = jsm.add_comment(added_to, public=False, at=iso(when))
    edited = jsm.comment_ids(edited_on)[-1]
    jsm.update_comment(edited_on, edited, at=iso(when))
    participant_of = next(r.id for r in requests_of(fake) if r.id not in {*with_comments, *boundary})
    jsm.add_participant(participant_of, at=iso(when))
    sla_of = next(r.id for r in requests_of(fake) if r.id not in {*with_comments, *boundary, participant_of})
    jsm.change_sla(sla_of, "2", breached=True, at=iso(when))
    changed = {*with_comments, participant_of, sla_of}
    seen = len(fake.log)
    second = run_tap(config, catalog=catalog, state=first.last_state)
    assert second.returncode == 0, second.last_stderr_line
    for stream in streams:
        got = second.records.get(stream, [])
        assert {r["issueId"] for r in got} <= changed | boundary, f"{stream}: an unchanged request's records"
        assert child_reads(fake, stream, seen) <= changed | boundary, f"{stream}: an unchanged request was read"
        if stream != "jsm_request_feedback" or flavour == "cloud":
            assert changed <= child_reads(fake, stream, seen), f"{stream}: a changed request was not read"
        want = expected(fake, stream, changed)
        live = {key_of(stream, r) for r in got if r.get("_sdc_deleted_at") is None}
        assert set(want) <= live, f"{stream}: a changed request's records are incomplete"
        assert_valid(second, stream)
    got = second.records["jsm_request_comments"]
    tombstones = [r for r in got if r.get("_sdc_deleted_at")]
    assert [(r["id"], r["issueId"]) for r in tombstones] == [(deleted, gone_from)]
    assert ts(tombstones[0]["issueUpdated"]) >= when.replace(microsecond=0)
    live = {r["id"]: r for r in got if not r.get("_sdc_deleted_at")}
    assert deleted not in live and live[added]["public"] is False and live[edited]["body"].endswith("(edited)")
    sla = {r["id"]: r for r in second.records["jsm_request_sla"] if r["issueId"] == sla_of}
    cycles = sla["2"]["completedCycles"] + ([sla["2"]["ongoingCycle"]] if sla["2"].get("ongoingCycle") else [])
    assert cycles[-1]["breached"] is True
    third = run_tap(config, catalog=catalog, state=second.last_state)
    assert not [r for r in third.records.get("jsm_request_comments", []) if r.get("_sdc_deleted_at")], \
        "a tombstone is reported once"


def test_request_gone_between_search_and_read_is_a_warning(fake_factory) -> None:  # noqa: ANN001
    fake = fake_factory(flavour="cloud", seed=7, size="small", issues=30)
    gone = requests_of(fake)[2]
    fake.control.inject(rf"{SDS}/request/{gone.id}/", "404", None)
    config, catalog = jira_run_config(fake, ["jsm_request_comments", "jsm_request_sla"])
    run = run_tap(config, catalog=catalog)
    assert run.returncode == 0, run.last_stderr_line
    assert f"jsm_request_comments: issue {gone.key} skipped" in run.stderr
    assert f"jsm_request_sla: issue {gone.key} skipped" in run.stderr
    fake.control.clear_faults()
    others = [r.id for r in requests_of(fake) if r.id != gone.id]
    assert {key_of("jsm_request_sla", r) for r in run.records["jsm_request_sla"]} == set(
        expected(fake, "jsm_request_sla", others))


def test_project_keys_reads_only_those_desks(fake_factory) -> None:  # noqa: ANN001
    fake = fake_factory(flavour="server", seed=11, size="small", issues=45)
    desk = fake.data.service_desks()[1]["key"]
    config, catalog = jira_run_config(fake, ["jsm_request_participants"], project_keys=[desk])
    run = run_tap(config, catalog=catalog)
    assert run.returncode == 0, run.last_stderr_line
    ids = [r.id for r in fake.data.issues([desk])]
    want = expected(fake, "jsm_request_participants", ids)
    assert want and {key_of("jsm_request_participants", r) for r in run.records["jsm_request_participants"]} == set(want)
    assert all(r["accountId"].startswith("JIRAUSER") for r in run.records["jsm_request_participants"]), \
        "Server/DC: accountId is the user key"


@pytest.mark.parametrize("flavour", ["cloud", "server"])
def test_killed_run_resumes_without_gaps(fake_factory, flavour: str) -> None:  # noqa: ANN001
    fake = fake_factory(flavour=flavour, seed=9, size="small", issues=60)
    stream = "jsm_request_comments"
    config, catalog = jira_run_config(fake, [stream], page_size=5, start_date="2000-01-01T00:00:00Z")
    killed = run_tap(config, catalog=catalog, stop_after_records=40)
    assert killed.returncode != 0
    emitted = {key_of(stream, r) for r in killed.records[stream]}
    state = killed.last_state
    assert state["bookmarks"][stream].get("replication_key_value"), "no resumable state before the kill"
    resumed = run_tap(config, catalog=catalog, state=state)
    assert resumed.returncode == 0, resumed.last_stderr_line
    again = {key_of(stream, r) for r in resumed.records[stream]}
    want = set(expected(fake, stream, [r.id for r in requests_of(fake)]))
    assert emitted | again == want, f"lost: {sorted(want - emitted - again)[:5]}"
    assert len(again) < len(want), "the resumed run started over instead of resuming"
    assert not [r for r in resumed.records[stream] if r.get("_sdc_deleted_at")], "no comment was deleted"


def test_same_records_and_states_at_any_concurrency(fake_factory) -> None:  # noqa: ANN001
    fake = fake_factory(flavour="cloud", seed=4, size="small", issues=45)
    runs = []
    for workers in (1, 8):
        config, catalog = jira_run_config(fake, CHILDREN, page_size=4, max_concurrent_requests=workers)
        run = run_tap(config, catalog=catalog)
        assert run.returncode == 0, run.last_stderr_line
        runs.append(run)
    one, many = runs
    for stream in CHILDREN:
        assert [key_of(stream, r) for r in one.records[stream]] == [key_of(stream, r) for r in many.records[stream]]
    def without_run_time(states: list[dict]) -> str:  # the SDK's signpost and the sweep's time: the run's
        return re.sub(r'"(replication_key_signpost|swept_at)": "[^"]*"', "", json.dumps(states, sort_keys=True))

    assert without_run_time(one.states) == without_run_time(many.states)


@pytest.mark.parametrize("flavour", ["cloud", "server"])
def test_a_deleted_requests_comments_become_tombstones(fake_factory, flavour: str) -> None:  # noqa: ANN001
    """A deleted request takes its comments with it; like jira_issue_comments, the stream sweeps
    request ids (delete_sweep_hours) and reports each comment of a deleted request once."""
    fake = fake_factory(flavour=flavour, seed=3, size="small", issues=45)
    config, catalog = jira_run_config(fake, ["jsm_request_comments"], page_size=7, delete_sweep_hours=1e-6)
    first = run_tap(config, catalog=catalog)
    assert first.returncode == 0, first.last_stderr_line
    comments = first.records["jsm_request_comments"]
    bookmark = first.last_state["bookmarks"]["jsm_request_comments"]["replication_key_value"]
    gone = oldest_unbounded(comments, bookmark, 1)[0]
    orphans = sorted(r["id"] for r in comments if r["issueId"] == gone)
    assert orphans
    fake.control.delete("request", gone)
    second = run_tap(config, catalog=catalog, state=first.last_state)
    assert second.returncode == 0, second.last_stderr_line
    tombstones = [r for r in second.records.get("jsm_request_comments", []) if r.get("_sdc_deleted_at")]
    assert sorted((r["id"], r["issueId"]) for r in tombstones) == [(c, gone) for c in orphans]
    third = run_tap(config, catalog=catalog, state=second.last_state)
    assert third.returncode == 0, third.last_stderr_line
    assert not [r for r in third.records.get("jsm_request_comments", []) if r.get("_sdc_deleted_at")]
