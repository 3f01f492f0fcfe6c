"""The fake's worklog and Jira Software (agile) endpoints: every answer validates against the
vendored documents and declares no key they do not know, on Cloud and Server; the control
operations move what they should.

Documents: Jira platform v3 (`ChangedWorklogs`, `Worklog`, `PageOfWorklogs`) and the Jira
Software document (`GET /rest/agile/1.0/board`; its sprint listings declare only an example
answer, so each sprint is checked against its `SprintBean` component and each sprint's issue
listing against its `SearchResults`). Server/DC has no document: its answers are checked
against the same Cloud shapes (a Server worklog's `comment` is a wiki string, which `Worklog`
leaves untyped).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from openapi_schema_validator import OAS30Validator

from tests.specs.validate import assert_conforms, checker

UTC = dt.timezone.utc


def component_errors(spec: str, name: str, instance: Any) -> list[str]:
    ch = checker(spec)
    validator = OAS30Validator({"$ref": f"{ch.uri}#/components/schemas/{name}"}, registry=ch.registry)
    return [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(instance)]


def get(fake, path: str, **params: Any) -> Any:  # noqa: ANN001
    r = fake.client().get(fake.jira_url + path, params=params, timeout=30)
    assert r.status_code == 200, r.text[:300]
    return r.json()


@pytest.mark.parametrize("flavour", ["cloud", "server"])
def test_worklog_answers_follow_the_document(fake_factory, flavour: str) -> None:  # noqa: ANN001
    fake = fake_factory(flavour=flavour, seed=23, size="small")
    api = "3" if flavour == "cloud" else "2"
    fake.worklogs.feed_limit = 40
    since, ids, pages = 0, [], 0
    while True:
        body = get(fake, f"/rest/api/{api}/worklog/updated", since=since)
        assert_conforms("jira", body, "/rest/api/3/worklog/updated")
        ids += [v["worklogId"] for v in body["values"]]
        pages += 1
        if body["lastPage"]:
            break
        assert body["nextPage"].endswith(f"since={body['until']}")
        since = body["until"]
    assert pages > 1 and set(ids) == {w.id for w in fake.worklogs.live()}
    session = fake.client()
    listed = session.post(f"{fake.jira_url}/rest/api/{api}/worklog/list", json={"ids": ids[:1000]}, timeout=30)
    assert listed.status_code == 200
    assert_conforms("jira", listed.json(), "/rest/api/3/worklog/list", "post")
    assert len(listed.json()) == len(set(ids[:1000]))
    too_many = session.post(f"{fake.jira_url}/rest/api/{api}/worklog/list", json={"ids": list(range(1001))}, timeout=30)
    assert too_many.status_code == 400
    for issue in fake.data.issues()[:12]:
        page = get(fake, f"/rest/api/{api}/issue/{issue.key}/worklog", maxResults=5)
        assert_conforms("jira", page, "/rest/api/3/issue/{issueIdOrKey}/worklog")
        assert page["total"] == len(fake.worklogs.of_issue(issue.idx))
        field = get(fake, f"/rest/api/{api}/issue/{issue.id}", fields="worklog")["fields"]["worklog"]
        assert field["total"] == page["total"] and len(field["worklogs"]) == min(20, page["total"])
        for w in field["worklogs"]:
            assert not component_errors("jira", "Worklog", w)
        if flavour == "server":
            assert all(isinstance(w["comment"], str) for w in page["worklogs"])
    deleted = get(fake, f"/rest/api/{api}/worklog/deleted", since=0)
    assert_conforms("jira", deleted, "/rest/api/3/worklog/deleted")


def test_worklog_control_moves_the_feeds_and_the_issue(fake_cloud) -> None:  # noqa: ANN001
    fake = fake_cloud
    when = dt.datetime.now(UTC) - dt.timedelta(minutes=5)
    at = when.strftime("%Y-%m-%dT%H:%M:%S.000Z")
    ms = int(when.replace(microsecond=0).timestamp() * 1000)
    issue = fake.data.issues()[7]
    added = fake.worklogs.add(issue.id, at=at)
    assert fake.data.issue_ref(issue.id).updated == ms, "logging work changes the issue"
    victim = fake.worklogs.of_issue(fake.data.issues()[9].idx)
    victim = victim[0] if victim else fake.worklogs.live()[0]
    fake.worklogs.delete(victim.id, at=at)
    updated = get(fake, "/rest/api/3/worklog/updated", since=ms)
    assert [v["worklogId"] for v in updated["values"]] == [int(added["id"])]
    deleted = get(fake, "/rest/api/3/worklog/deleted", since=ms)
    assert [v["worklogId"] for v in deleted["values"]] == [victim.id]
    fresh = fake.worklogs.add(issue.id)  # now: the feeds leave out the last minute
    assert int(fresh["id"]) not in [v["worklogId"] for v in get(fake, "/rest/api/3/worklog/updated", since=ms)["values"]]


@pytest.mark.parametrize("flavour", ["cloud", "server"])
def test_agile_answers_follow_the_document(fake_factory, flavour: str) -> None:  # noqa: ANN001
    fake = fake_factory(flavour=flavour, seed=23, size="small")
    boards = get(fake, "/rest/agile/1.0/board", maxResults=2)
    assert_conforms("jira-software", boards, "/rest/agile/1.0/board")
    assert boards["isLast"] is False and boards["total"] > 2
    everything = get(fake, "/rest/agile/1.0/board")["values"]
    assert {b["type"] for b in everything} == {"scrum", "kanban"}
    seen: dict[int, int] = {}
    for board in everything:
        r = fake.client().get(f"{fake.jira_url}/rest/agile/1.0/board/{board['id']}/sprint", timeout=30)
        if board["type"] == "kanban":
            assert r.status_code == 400 and "does not support sprints" in r.text
            continue
        for sprint in r.json()["values"]:
            assert not component_errors("jira-software", "SprintBean", sprint), sprint
            seen[sprint["id"]] = seen.get(sprint["id"], 0) + 1
            issues = get(fake, f"/rest/agile/1.0/sprint/{sprint['id']}/issue", fields="updated")
            assert not component_errors("jira-software", "SearchResults", issues)
    assert max(seen.values()) > 1, "no sprint shown on two boards"
    states = {get(fake, f"/rest/agile/1.0/sprint/{sid}")["state"] for sid in seen}
    assert states == {"closed", "active", "future"}


def test_agile_control_and_a_site_without_jira_software(fake_server) -> None:  # noqa: ANN001
    fake = fake_server
    fake.agile._ensure()
    active = next(s for s in fake.agile.sprints.values() if s.state == "active")
    issue = next(r for r in fake.data.issues(["SWA", "SWB"]) if r.idx not in active.issues)
    fake.agile.add_to_sprint(active.id, issue.key)
    members = get(fake, f"/rest/agile/1.0/sprint/{active.id}/issue", maxResults=50)
    assert issue.key in [i["key"] for i in members["issues"]]
    fake.agile.close_sprint(active.id)
    closed = get(fake, f"/rest/agile/1.0/sprint/{active.id}")
    assert closed["state"] == "closed" and "completeDate" in closed
    fake.agile.enabled = False
    r = fake.client().get(fake.jira_url + "/rest/agile/1.0/board", timeout=30)
    assert r.status_code == 404
