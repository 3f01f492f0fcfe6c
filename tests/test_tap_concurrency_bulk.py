"""Fewer requests: children embedded in the search, the paged fallback, Cloud changelog bulkfetch.

The fake serves `POST /rest/api/3/changelog/bulkfetch` and caps a search's embedded comments
at 20 (`tests/fake_atlassian/jira_bulk.py`); its answers are validated against the vendored
Jira Cloud document here, then the tap is run over them at 8 requests in flight.
"""

from __future__ import annotations

import collections

import pytest

from tests.specs.validate import checker
from tests.tapdriver import discover, fake_config, run_tap, select

JQL_ALL = "updated >= 0 ORDER BY updated ASC"


def tap_entries(fake) -> list:  # noqa: ANN001
    return [e for e in fake.log if e.headers.get("user-agent", "").startswith("tap-atlassian/")]


def all_comments(fake, issue_ids) -> dict[str, str]:  # noqa: ANN001
    """Comment id -> issue id, from each issue's own /comment (one page of up to 100)."""
    api = "3" if fake.flavour == "cloud" else "2"
    s = fake.client()
    out = {}
    for issue in issue_ids:
        body = s.get(f"{fake.jira_url}/rest/api/{api}/issue/{issue}/comment", params={"maxResults": 100},
                     timeout=10).json()
        assert body["total"] == len(body["comments"])
        out.update({c["id"]: str(issue) for c in body["comments"]})
    return out


@pytest.mark.parametrize("flavour", ["cloud", "server"])
def test_embedded_comments_and_the_paged_fallback_give_every_comment_once(fake_factory, flavour: str) -> None:  # noqa: ANN001
    fake = fake_factory(flavour=flavour, seed=7, size="small", issues=30, latency_ms=5)
    big = fake.data.issues()[7]
    added = fake.jira_bulk.add_comments(big.id, 27, at="2024-05-20T10:00:00Z")  # 20 embedded of 31+
    config = fake_config(fake, page_size=10, max_concurrent_requests=8)
    catalog = select(discover(config), ["jira_issue_comments"])
    fake.log.clear()
    run = run_tap(config, catalog=catalog)
    assert run.returncode == 0, run.last_stderr_line
    want = all_comments(fake, [r.id for r in fake.data.issues()])
    got = collections.Counter(str(r["id"]) for r in run.records["jira_issue_comments"])
    assert [c for c, n in got.items() if n > 1] == [], "a comment was emitted twice"
    assert set(got) == set(want), f"missing {sorted(set(want) - set(got))[:5]}"
    assert set(added) <= set(got)
    assert all(r["issueId"] == want[str(r["id"])] for r in run.records["jira_issue_comments"])
    reads = [e for e in tap_entries(fake) if e.path.endswith("/comment")]
    assert {e.path.rsplit("/", 2)[-2] for e in reads} == {big.id}, "only the truncated issue is paged"
    assert sorted(e.arrival for e in reads) and len(reads) >= 3, "its comments are paged by 10"
    mine = [r for r in run.records["jira_issue_comments"] if r["issueId"] == big.id]
    assert [r["id"] for r in mine] == [c for c, i in want.items() if i == big.id], "oldest first"


def test_fake_changelog_bulkfetch_and_capped_search_conform_to_the_document(fake_factory) -> None:  # noqa: ANN001
    fake = fake_factory(flavour="cloud", seed=7, size="small")
    fake.jira_bulk.add_comments(fake.data.issues()[2].id, 24)
    jira = checker("jira")
    s = fake.client()
    ids = [r.id for r in fake.data.issues()]
    seen: dict[str, list[str]] = {}
    body: dict = {"issueIdsOrKeys": ids[:40], "maxResults": 7}
    pages = 0
    while True:
        answer = s.post(f"{fake.url}/rest/api/3/changelog/bulkfetch", json=body, timeout=10)
        assert answer.status_code == 200, answer.text
        page = answer.json()
        assert not jira.errors(page, "/rest/api/3/changelog/bulkfetch", "post")
        assert not jira.undeclared(page, "/rest/api/3/changelog/bulkfetch", "post")
        assert sum(len(i["changeHistories"]) for i in page["issueChangeLogs"]) <= 7
        for entry in page["issueChangeLogs"]:
            seen.setdefault(entry["issueId"], []).extend(h["id"] for h in entry["changeHistories"])
        pages += 1
        if not page.get("nextPageToken"):
            break
        body["nextPageToken"] = page["nextPageToken"]
    assert pages > 1
    for issue in ids[:40]:  # the same histories as the issue's own /changelog, each once
        own = s.get(f"{fake.url}/rest/api/3/issue/{issue}/changelog", timeout=10).json()["values"]
        assert sorted(seen.get(issue, [])) == sorted(h["id"] for h in own)
    for bad in ({"issueIdsOrKeys": []}, {"issueIdsOrKeys": ids[:2], "expand": "x"},
                {"issueIdsOrKeys": [str(i) for i in range(1001)]}):
        assert s.post(f"{fake.url}/rest/api/3/changelog/bulkfetch", json=bad, timeout=10).status_code == 400
    search = s.get(f"{fake.url}/rest/api/3/search/jql", params={"jql": JQL_ALL, "fields": "updated,comment",
                                                                 "maxResults": 100}, timeout=10).json()
    assert not jira.errors(search, "/rest/api/3/search/jql")
    pages_of = [i["fields"]["comment"] for i in search["issues"]]
    assert max(len(p["comments"]) for p in pages_of) == 20
    assert any(p["total"] > len(p["comments"]) for p in pages_of)


def test_cloud_changelogs_by_bulkfetch_equal_the_per_issue_resource(fake_factory) -> None:  # noqa: ANN001
    fake = fake_factory(flavour="cloud", seed=4, size="small", issues=45, latency_ms=5)
    config = fake_config(fake, page_size=10, max_concurrent_requests=8)
    catalog = select(discover(config), ["jira_issue_changelogs"])
    fake.log.clear()
    run = run_tap(config, catalog=catalog)
    assert run.returncode == 0, run.last_stderr_line
    tap = tap_entries(fake)
    bulk = [e for e in tap if e.path.endswith("/changelog/bulkfetch")]
    assert len(bulk) == 5, "one bulkfetch per 10 issues"
    assert not [e for e in tap if e.path.endswith("/changelog")]
    s = fake.client()
    want = []
    for ref in sorted(fake.data.issues(), key=lambda r: (r.updated, r.key)):
        own = s.get(f"{fake.url}/rest/api/3/issue/{ref.id}/changelog", timeout=10).json()["values"]
        want += [(h["id"], ref.id) for h in own]
    assert [(r["id"], r["issueId"]) for r in run.records["jira_issue_changelogs"]] == want


def test_bulk_changelogs_follow_the_next_page_token_across_answers(fake_factory) -> None:  # noqa: ANN001
    """More histories than one answer holds (1,000): every page is read and each issue gets
    all of its histories, oldest first, also when they straddle two answers."""
    from tap_atlassian import bulk
    from tap_atlassian.auth import build_authenticator
    from tap_atlassian.client import ApiClient
    from tap_atlassian.config import Settings
    from tap_atlassian.sites import Sites

    fake = fake_factory(flavour="cloud", seed=7, size="small", issues=1000)
    settings = Settings.from_config(fake_config(fake))
    site = Sites(settings).site("jira")
    client = ApiClient(settings, site, build_authenticator(settings, "jira", site))
    ids = [r.id for r in fake.data.issues()]
    fake.log.clear()
    got = bulk.bulk_changelogs(client, ids)
    calls = [e for e in fake.log if e.path.endswith("/changelog/bulkfetch")]
    assert len(calls) > 1, "the answers did not need a second page"
    s = fake.client()
    for issue in ids[::37]:
        own = s.get(f"{fake.url}/rest/api/3/issue/{issue}/changelog", timeout=10).json()["values"]
        assert [h["id"] for h in got.get(issue, [])] == [h["id"] for h in own]
    assert sum(map(len, got.values())) > bulk.BULK_CHANGELOG_PAGE
