"""Missing or partial sites do not fail the run: unknown ``project_keys`` are a warning (checked
once, in one request), a failed time-zone lookup widens the window (the contract's fallback),
search results out of ``updated`` order are handled without loss, repeats or a traceback."""

from __future__ import annotations

import orjson
import pytest

from tests.fake_atlassian.http import FakeResponse
from tests.tapdriver import discover, fake_config, run_tap, select

PROJECT_LOOKUP = {"cloud": "/rest/api/3/project/search", "server": "/rest/api/2/project"}
SEARCH = {"cloud": "/rest/api/3/search/jql", "server": "/rest/api/2/search"}


def jira(fake, **kw):  # noqa: ANN001, ANN003, ANN201
    config = fake_config(fake, products=["jira_service_desk"], **kw)
    return config, select(discover(config), ["jira_issues", "jira_issue_comments"])


@pytest.mark.parametrize("flavour", ["cloud", "server"])
def test_unknown_project_keys_warn_and_the_rest_are_read(fake_factory, flavour) -> None:  # noqa: ANN001
    fake = fake_factory(flavour=flavour)
    config, catalog = jira(fake, project_keys=["SDA", "NOPE", "swb"])
    fake.log.clear()
    run = run_tap(config, catalog=catalog)
    assert run.returncode == 0, run.last_stderr_line
    warnings = [ln for ln in run.stderr.splitlines() if "WARNING" in ln and "project_keys" in ln]
    assert len(warnings) == 1 and "NOPE not found" in warnings[0] and "reading SDA, SWB" in warnings[0]
    keys = {r["key"].split("-")[0] for r in run.records["jira_issues"]}
    assert keys == {"SDA", "SWB"}
    expected = {i.key for i in fake.data.issues() if i.project_key in {"SDA", "SWB"}}
    assert {r["key"] for r in run.records["jira_issues"]} == expected
    assert len([e for e in fake.log if e.path == PROJECT_LOOKUP[flavour]]) == 1  # once for every stream
    assert all(e.status < 400 for e in fake.log if e.path == SEARCH[flavour])


@pytest.mark.parametrize("flavour", ["cloud", "server"])
def test_no_existing_project_key_is_one_clear_line(fake_factory, flavour) -> None:  # noqa: ANN001
    fake = fake_factory(flavour=flavour)
    config, catalog = jira(fake, project_keys=["NOPE", "NADA"])
    run = run_tap(config, catalog=catalog)
    assert run.returncode == 1
    assert "project_keys: none of NOPE, NADA is a project this login can see" in run.last_stderr_line
    assert "Traceback" not in run.stderr


@pytest.mark.parametrize(("flavour", "status"), [("cloud", "404"), ("server", "403")])
def test_a_failed_time_zone_lookup_widens_the_window(fake_factory, flavour, status) -> None:  # noqa: ANN001
    fake = fake_factory(flavour=flavour)
    fake.control.inject(r"/rest/api/\d/myself$", status, times=None)
    fake.control.inject(r"/rest/api/user/current$", status, times=None)
    config = fake_config(fake)
    catalog = select(discover(config), ["jira_issues", "confluence_pages"])
    first = run_tap(config, catalog=catalog)
    assert first.returncode == 0, first.last_stderr_line
    zone_warnings = [ln for ln in first.stderr.splitlines() if "WARNING" in ln and "time zone is unknown" in ln]
    assert len(zone_warnings) == 1 and "| jira: " in zone_warnings[0] and "widened by 14 hours" in zone_warnings[0]
    assert len(first.records["jira_issues"]) == fake.data.issue_count()
    issue = fake.data.issues()[3]
    page = fake.data.pages()[2]
    fake.control.touch("issue", issue.key)
    fake.control.touch("page", page.id)
    second = run_tap(config, catalog=catalog, state=first.last_state)
    assert second.returncode == 0, second.last_stderr_line
    marks = {s: v["replication_key_value"] for s, v in first.last_state["bookmarks"].items()
             if "replication_key_value" in v}
    # the touched records, and nothing older than the bookmarks (a boundary repeat is allowed)
    issues = second.records.get("jira_issues", [])
    pages = second.records.get("confluence_pages", [])
    assert issue.key in [r["key"] for r in issues] and str(page.id) in [str(r["id"]) for r in pages]
    assert all(r["updated"] >= marks["jira_issues"] for r in issues)
    assert all(r["last_modified"] >= marks["confluence_pages"] for r in pages)
    assert len(issues) < fake.data.issue_count() // 2 and len(pages) < fake.data.page_count() // 2
    # Confluence asks for the zone once it searches incrementally (its first run reads by id)
    assert any("WARNING" in ln and "| confluence: the searching user's time zone is unknown" in ln
               for ln in second.stderr.splitlines())


@pytest.mark.parametrize("flavour", ["cloud", "server"])
def test_search_results_out_of_updated_order_lose_and_repeat_nothing(fake_factory, flavour) -> None:  # noqa: ANN001
    # A lagging index sorts an issue by its old `updated` but answers its current one: the
    # answer's order is not the records' order. Recorded from real sites; here the fake's
    # answers are re-ordered in place (first and last hit of every page swapped).
    fake = fake_factory(flavour=flavour)
    route = next(r for r in fake.routes if r.method == "GET" and r.pattern.fullmatch(SEARCH[flavour]))

    def lagging(req):  # noqa: ANN001, ANN202
        answer = route.handler(req)
        body = answer.json if answer.json is not None else orjson.loads(answer.payload())
        issues = body.get("issues") if isinstance(body, dict) else None
        if issues and len(issues) > 1:
            issues[0], issues[-1] = issues[-1], issues[0]
        return FakeResponse(answer.status, json=body, headers=[h for h in answer.headers
                                                             if h[0].lower() != "content-length"])

    fake.route("GET", SEARCH[flavour], lagging, product="jira")
    config, catalog = jira(fake, page_size=10)
    catalog = select(catalog, ["jira_issues"])
    run = run_tap(config, catalog=catalog)
    assert run.returncode == 0, run.last_stderr_line
    assert "Traceback" not in run.stderr and "InvalidStreamSortException" not in run.stderr
    keys = [r["key"] for r in run.records["jira_issues"]]
    assert sorted(keys) == sorted(i.key for i in fake.data.issues())  # each once
    final = run.last_state["bookmarks"]["jira_issues"]["replication_key_value"]
    assert final == max(r["updated"] for r in run.records["jira_issues"])
    # every mid-run bookmark is a value already emitted and never moves back
    emitted, values = set(), []
    for message in run.messages:
        if message["type"] == "RECORD":
            emitted.add(message["record"]["updated"])
        elif message["type"] == "STATE":
            value = (message["value"]["bookmarks"].get("jira_issues") or {}).get("replication_key_value")
            if value:
                assert value in emitted
                values.append(value)
    assert values == sorted(values)
    again = run_tap(config, catalog=catalog, state=run.last_state)
    assert again.returncode == 0
    assert again.records.get("jira_issues", []) == []  # nothing unchanged comes back
