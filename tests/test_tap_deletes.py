"""Deleted issues and comments become tombstones (docs/SETTINGS.md "Deletes"), Cloud and Server/DC.

The id sweep asks for ids only; its state is runs of consecutive ids (kilobytes for 200,000
issues); a project_keys shard never tombstones an issue it does not read (one moved out of it).
"""

from __future__ import annotations

import datetime as dt
import json
import random

import pytest

from tap_atlassian.state_sets import Groups, IdRuns, Versions
from tests.tapdriver import discover, fake_config, run_tap, select

UTC = dt.timezone.utc
EVERY_RUN = 1e-6  # delete_sweep_hours: a sweep on every run
SEARCH = {"cloud": ("/rest/api/3/search/jql", "5000"), "server": ("/rest/api/2/search", "1000")}


def only(fake, streams: list[str], **overrides):  # noqa: ANN001, ANN201
    config = fake_config(fake, **overrides)
    return config, select(discover(config), streams)


def tombstones(run, stream: str) -> list[dict]:  # noqa: ANN001
    return [r for r in run.records.get(stream, []) if r.get("_sdc_deleted_at")]


def minutes_ago(n: int) -> str:
    return (dt.datetime.now(UTC) - dt.timedelta(minutes=n)).strftime("%Y-%m-%dT%H:%M:%S.000Z")


def sweep_requests(fake, flavour: str) -> list[dict]:  # noqa: ANN001
    path, _ = SEARCH[flavour]
    return [e for e in fake.control.read_log()
            if e["path"].endswith(path) and "created <=" in " ".join(e["query"].get("jql", []))]


# ---------------------------------------------------------------- the compact encodings


def test_200000_mostly_consecutive_ids_cost_under_10_kb() -> None:
    rng = random.Random(15)
    ids = set(range(10_000, 210_500))
    ids -= set(rng.sample(sorted(ids), 500))  # 500 deleted issues scattered through the site
    runs = IdRuns.from_ids(ids)
    text = runs.encode()
    assert len(ids) == 200_000
    assert len(text) < 10_000, len(text)
    assert set(IdRuns.decode(text)) == ids
    assert len(IdRuns.decode(IdRuns.from_ids(range(1_000_000)).encode())) == 1_000_000
    assert len(IdRuns.from_ids(range(10_000, 1_010_000)).encode()) < 20


def test_id_runs_set_operations_match_python_sets() -> None:
    rng = random.Random(3)
    for _ in range(50):
        a = {rng.randrange(300) for _ in range(rng.randrange(200))}
        b = {rng.randrange(300) for _ in range(rng.randrange(200))}
        ra, rb = IdRuns.from_ids(a), IdRuns.from_ids(b)
        assert ra.difference(rb) == sorted(a - b)
        assert set(ra.intersection(rb)) == a & b
        assert set(ra.union(b)) == a | b
        assert all((x in ra) == (x in a) for x in range(-2, 302))
        assert IdRuns.decode(ra.encode()) == ra


def test_versions_and_groups_round_trip_and_unreadable_text_is_empty() -> None:
    versions = Versions({10_001: 1_717_200_000_123, 10_500: 1_717_200_000_000, 99: 5})
    assert Versions.decode(versions.encode()).pairs == versions.pairs
    groups = Groups({10_000: [3, 1, 2], 10_007: [70, 75]})
    groups.put(10_000, [3, 1, 2])
    assert Groups.decode(groups.encode()).groups == {10_000: [1, 2, 3], 10_007: [70, 75]}
    for text in ("zz|!!", "", None):
        assert not Versions.decode(text).pairs
        assert not Groups.decode(text).groups
        assert not IdRuns.decode(text).runs


# ---------------------------------------------------------------- issues


@pytest.mark.parametrize("flavour", ["cloud", "server"])
@pytest.mark.parametrize("hours", [EVERY_RUN, 0])
def test_deleted_issue_gives_one_tombstone(fake_factory, flavour: str, hours: float) -> None:  # noqa: ANN001
    fake = fake_factory(flavour=flavour, seed=3, size="small")
    config, catalog = only(fake, ["jira_issues", "jsm_requests"], delete_sweep_hours=hours)
    first = run_tap(config, catalog=catalog)
    assert first.returncode == 0, first.last_stderr_line
    assert not tombstones(first, "jira_issues")
    request_id = first.records["jsm_requests"][4]["issueId"]  # an issue of a service desk project
    software_id = next(r["id"] for r in first.records["jira_issues"] if r["key"].startswith("SW"))
    fake.control.delete("issue", request_id)
    fake.control.delete("issue", software_id)
    fake.control.clear_log()
    second = run_tap(config, catalog=catalog, state=first.last_state)
    assert second.returncode == 0, second.last_stderr_line
    if hours:
        issues = tombstones(second, "jira_issues")
        assert sorted(r["id"] for r in issues) == sorted([request_id, software_id])
        assert set(issues[0]) == {"id", "updated", "_sdc_deleted_at"} and issues[0]["updated"] is None
        assert [r["issueId"] for r in tombstones(second, "jsm_requests")] == [request_id]
        path, page = SEARCH[flavour]
        sweeps = sweep_requests(fake, flavour)
        assert sweeps, "no sweep request"
        assert all(e["query"]["fields"] == ["id"] and e["query"]["maxResults"] == [page] for e in sweeps)
        bookmark = first.last_state["bookmarks"]["jira_issues"]["replication_key_value"]
        assert second.last_state["bookmarks"]["jira_issues"]["replication_key_value"] == bookmark
    else:
        assert not tombstones(second, "jira_issues") and not tombstones(second, "jsm_requests")
        assert not sweep_requests(fake, flavour)
        assert "live_ids" not in second.last_state["bookmarks"]["jira_issues"]
    third = run_tap(config, catalog=catalog, state=second.last_state)
    assert third.returncode == 0, third.last_stderr_line
    assert not tombstones(third, "jira_issues") and not tombstones(third, "jsm_requests")


@pytest.mark.parametrize("flavour", ["cloud", "server"])
def test_a_shard_never_tombstones_an_issue_it_does_not_read(fake_factory, flavour: str) -> None:  # noqa: ANN001
    fake = fake_factory(flavour=flavour, seed=4, size="small")
    config_a, catalog = only(fake, ["jira_issues"], delete_sweep_hours=EVERY_RUN, project_keys=["SWA"])
    config_b = {**config_a, "project_keys": ["SWB"]}
    a1, b1 = run_tap(config_a, catalog=catalog), run_tap(config_b, catalog=catalog)
    assert a1.returncode == 0 and b1.returncode == 0, a1.last_stderr_line + b1.last_stderr_line
    moved, deleted_a = a1.ids("jira_issues")[:2]
    deleted_b = b1.ids("jira_issues")[0]
    fake.jira_deletes.move_issue(moved, "SWB")
    fake.control.touch("issue", moved, at=minutes_ago(3))  # out of the current minute (search lag 0)
    fake.control.delete("issue", deleted_a)
    fake.control.delete("issue", deleted_b)
    a2 = run_tap(config_a, catalog=catalog, state=a1.last_state)
    b2 = run_tap(config_b, catalog=catalog, state=b1.last_state)
    assert a2.returncode == 0 and b2.returncode == 0, a2.last_stderr_line + b2.last_stderr_line
    assert [r["id"] for r in tombstones(a2, "jira_issues")] == [deleted_a]
    assert [r["id"] for r in tombstones(b2, "jira_issues")] == [deleted_b]
    live_b = {r["id"]: r for r in b2.records["jira_issues"] if not r.get("_sdc_deleted_at")}
    assert live_b[moved]["key"].startswith("SWB-")
    a3 = run_tap(config_a, catalog=catalog, state=a2.last_state)
    assert a3.returncode == 0, a3.last_stderr_line
    assert not tombstones(a3, "jira_issues") and not a3.records.get("jira_issues")


@pytest.mark.parametrize("flavour", ["cloud", "server"])
def test_a_real_sweep_of_12000_issues(fake_factory, flavour: str) -> None:  # noqa: ANN001
    """A state from before the sweep existed: the next run sweeps (no tombstones), then deletes show."""
    fake = fake_factory(flavour=flavour, seed=11, issues=12_000)
    config, catalog = only(fake, ["jira_issues"], delete_sweep_hours=EVERY_RUN)
    state = {"bookmarks": {"jira_issues": {"replication_key": "updated",
                                           "replication_key_value": "2030-01-01T00:00:00.000Z"}}}
    first = run_tap(config, catalog=catalog, state=state)
    assert first.returncode == 0, first.last_stderr_line
    assert not first.records.get("jira_issues")
    bookmark = first.last_state["bookmarks"]["jira_issues"]
    assert set(IdRuns.decode(bookmark["live_ids"])) == {int(r.id) for r in fake.data.issues()}
    deleted = [str(10_000 + i) for i in (0, 17, 4_999, 5_000, 11_999)]
    for ident in deleted:
        fake.control.delete("issue", ident)
    fake.control.clear_log()
    second = run_tap(config, catalog=catalog, state=first.last_state)
    assert second.returncode == 0, second.last_stderr_line
    assert sorted(r["id"] for r in tombstones(second, "jira_issues")) == sorted(deleted)
    pages = len(sweep_requests(fake, flavour))
    assert pages == (3 if flavour == "cloud" else 12)
    assert len(json.dumps(second.last_state)) < 10_000


# ---------------------------------------------------------------- comments


@pytest.mark.parametrize("flavour", ["cloud", "server"])
@pytest.mark.parametrize("hours", [EVERY_RUN, 0])
def test_deleted_comment_gives_one_tombstone(fake_factory, flavour: str, hours: float) -> None:  # noqa: ANN001
    fake = fake_factory(flavour=flavour, seed=5, size="small")
    config, catalog = only(fake, ["jira_issue_comments"], delete_sweep_hours=hours)
    first = run_tap(config, catalog=catalog)
    assert first.returncode == 0, first.last_stderr_line
    comment = first.records["jira_issue_comments"][7]
    issue = comment["issueId"]
    siblings = {r["id"] for r in first.records["jira_issue_comments"] if r["issueId"] == issue} - {comment["id"]}
    deleted_issue = next(r["issueId"] for r in first.records["jira_issue_comments"] if r["issueId"] != issue)
    orphans = sorted(r["id"] for r in first.records["jira_issue_comments"] if r["issueId"] == deleted_issue)
    fake.control.delete("comment", comment["id"])  # Jira moves the issue's updated
    fake.control.delete("issue", deleted_issue)  # and its comments with it
    fake.control.touch("issue", issue, at=minutes_ago(3))  # out of the current minute (search lag 0)
    second = run_tap(config, catalog=catalog, state=first.last_state)
    assert second.returncode == 0, second.last_stderr_line
    live = {r["id"] for r in second.records["jira_issue_comments"] if not r.get("_sdc_deleted_at")}
    assert live == siblings
    gone = tombstones(second, "jira_issue_comments")
    if hours:
        assert [(r["id"], r["issueId"]) for r in gone if r["issueId"] == issue] == [(comment["id"], issue)]
        assert gone[0]["issueUpdated"] == second.records["jira_issue_comments"][0]["issueUpdated"]
        assert sorted(r["id"] for r in gone if r["issueId"] == deleted_issue) == orphans
        assert len(gone) == 1 + len(orphans)
        assert "children" in second.last_state["bookmarks"]["jira_issue_comments"]
    else:
        assert gone == []
        assert "children" not in second.last_state["bookmarks"]["jira_issue_comments"]
    third = run_tap(config, catalog=catalog, state=second.last_state)
    assert third.returncode == 0, third.last_stderr_line
    assert not tombstones(third, "jira_issue_comments")


def test_a_server_that_validates_ids_anyway_is_read_issue_by_issue(fake_factory) -> None:  # noqa: ANN001
    fake = fake_factory(flavour="server", seed=3, size="small")
    fake.jira_deletes.strict_ids = True
    config, catalog = only(fake, ["jira_issues"], delete_sweep_hours=EVERY_RUN)
    first = run_tap(config, catalog=catalog)
    assert first.returncode == 0, first.last_stderr_line
    gone = first.ids("jira_issues")[9]
    fake.control.delete("issue", gone)
    fake.control.clear_log()
    second = run_tap(config, catalog=catalog, state=first.last_state)
    assert second.returncode == 0, second.last_stderr_line
    assert [r["id"] for r in tombstones(second, "jira_issues")] == [gone]
    log = fake.control.read_log()
    assert any(e["status"] == 400 and f"id in ({gone})" in " ".join(e["query"].get("jql", [])) for e in log)
    assert any(e["path"] == f"/rest/api/2/issue/{gone}" and e["status"] == 404 for e in log)


@pytest.mark.parametrize("flavour", ["cloud", "server"])
def test_a_request_moved_out_of_the_service_desks_is_gone_moved_to_another_desk_is_not(
        fake_factory, flavour: str) -> None:  # noqa: ANN001
    fake = fake_factory(flavour=flavour, seed=3, size="small")
    config, catalog = only(fake, ["jira_issues", "jsm_requests"], delete_sweep_hours=EVERY_RUN,
                           project_keys=["SDA", "SWA"])
    first = run_tap(config, catalog=catalog)
    assert first.returncode == 0, first.last_stderr_line
    sda = [r["issueId"] for r in first.records["jsm_requests"]]
    to_software, to_other_desk = sda[0], sda[1]
    fake.jira_deletes.move_issue(to_software, "SWA")  # still read by this shard's jira_issues
    fake.jira_deletes.move_issue(to_other_desk, "SDB")  # a desk of another shard
    for ident in (to_software, to_other_desk):
        fake.control.touch("issue", ident, at=minutes_ago(3))
    second = run_tap(config, catalog=catalog, state=first.last_state)
    assert second.returncode == 0, second.last_stderr_line
    assert [r["issueId"] for r in tombstones(second, "jsm_requests")] == [to_software]
    assert not tombstones(second, "jira_issues")


@pytest.mark.parametrize("flavour", ["cloud", "server"])
def test_an_issue_emitted_by_a_killed_run_is_still_reported_deleted(fake_factory, flavour: str) -> None:  # noqa: ANN001
    fake = fake_factory(flavour=flavour, seed=3, size="small")
    config, catalog = only(fake, ["jira_issues"], delete_sweep_hours=EVERY_RUN, page_size=5)
    first = run_tap(config, catalog=catalog)
    assert first.returncode == 0, first.last_stderr_line
    added = [fake.control.add("issue", "SWA", at=minutes_ago(30 - n))["id"] for n in range(20)]
    killed = run_tap(config, catalog=catalog, state=first.last_state, stop_after_records=12)
    emitted = [i for i in killed.ids("jira_issues") if i in added]
    assert len(emitted) >= 10, emitted
    fake.control.delete("issue", emitted[7])
    resumed = run_tap(config, catalog=catalog, state=killed.last_state)
    assert resumed.returncode == 0, resumed.last_stderr_line
    assert [r["id"] for r in tombstones(resumed, "jira_issues")] == [emitted[7]]
