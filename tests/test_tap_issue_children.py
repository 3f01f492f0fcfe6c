"""Per-issue child streams (jira_issue_comments, jira_issue_changelogs): exactly once,
parent-driven increments, project_keys / start_date / products, Cloud and Server (changelogs on
Server through the issue's ``expand=changelog``). Expected records are read from the fake over
HTTP, independently of the tap."""

from __future__ import annotations

import collections
import datetime as dt
import re

import pytest

from tests.tapdriver import discover, fake_config, leaks, run_tap, select

UTC = dt.timezone.utc
# stream -> (child path below /rest/api/{api}/issue/{id}, records key of one page)
CHILDREN = {"jira_issue_comments": ("comment", "comments"), "jira_issue_changelogs": ("changelog", "values")}
CASES = [(stream, flavour) for stream in CHILDREN for flavour in ("cloud", "server")]
ISSUE_PATH = re.compile(r"/rest/api/[23]/issue/([^/]+)(?:/(comment|changelog))?")


def bulk(fake, stream: str) -> bool:  # noqa: ANN001
    """Cloud changelogs: read many issues at a time with `POST /rest/api/3/changelog/bulkfetch`."""
    return stream == "jira_issue_changelogs" and fake.flavour == "cloud"


def embedded(stream: str) -> bool:
    """Comments: embedded in the search (`fields=comment`), `/comment` read only when truncated."""
    return stream == "jira_issue_comments"


def expanded(fake, stream: str) -> bool:  # noqa: ANN001
    """Server changelogs: read from `GET /rest/api/2/issue/{id}?expand=changelog`, not a child path."""
    return stream == "jira_issue_changelogs" and fake.flavour == "server"


def ts(value: str) -> dt.datetime:
    return dt.datetime.fromisoformat(value.replace("Z", "+00:00"))


def iso(value: dt.datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def children_of(fake, stream: str, issue_ids) -> dict[str, str]:  # noqa: ANN001
    """Child id -> issue id, read from the fake's own endpoint in one page per issue."""
    suffix, key = CHILDREN[stream]
    api = "3" if fake.flavour == "cloud" else "2"
    session = fake.client()
    out: dict[str, str] = {}
    for issue in issue_ids:
        if expanded(fake, stream):
            resp = session.get(f"{fake.jira_url}/rest/api/2/issue/{issue}",
                               params={"expand": "changelog", "fields": "updated"}, timeout=10)
            key = "histories"
        else:
            resp = session.get(f"{fake.jira_url}/rest/api/{api}/issue/{issue}/{suffix}",
                               params={"maxResults": 100}, timeout=10)
        resp.raise_for_status()
        body = resp.json()["changelog"] if expanded(fake, stream) else resp.json()
        assert len(body[key]) == body["total"], "expected set must come from one page"
        out.update({str(c["id"]): str(issue) for c in body[key]})
    return out


def only(fake, stream: str, **overrides):  # noqa: ANN001, ANN201
    config = fake_config(fake, products=["jira_service_desk"], **overrides)
    return config, select(discover(config), [stream])


def child_requests(fake, stream: str, since: int = 0) -> list:  # noqa: ANN001
    """The tap's requests that read some issue's children (Server changelogs: expanded issue reads)."""
    tap = [e for e in fake.log[since:] if e.headers.get("user-agent", "").startswith("tap-atlassian/")]
    if expanded(fake, stream):
        return [e for e in tap if (m := ISSUE_PATH.search(e.path)) and not m.group(2)
                and "changelog" in ",".join(e.query.get("expand", []))]
    if bulk(fake, stream):
        return [e for e in tap if e.path.endswith("/changelog/bulkfetch")]
    return [e for e in tap if e.path.endswith("/" + CHILDREN[stream][0])]


def read_issue(entry) -> str:  # noqa: ANN001
    """The issue id or key a child request was for."""
    return ISSUE_PATH.search(entry.path).group(1)


def child_fault(fake, stream: str, issue_id: str) -> str:  # noqa: ANN001
    """A fault pattern (path?query) matching only the reads of one issue's children."""
    if expanded(fake, stream):
        return rf"/issue/{issue_id}\?.*\bexpand=[^&]*changelog"
    return rf"/issue/{issue_id}/{CHILDREN[stream][0]}\b"


@pytest.mark.parametrize(("stream", "flavour"), CASES)
@pytest.mark.parametrize("page_size", [3, 50])
def test_children_exactly_once(fake_factory, stream: str, flavour: str, page_size: int) -> None:  # noqa: ANN001
    fake = fake_factory(flavour=flavour, seed=7, size="small", issues=25)
    config, catalog = only(fake, stream, page_size=page_size)
    run = run_tap(config, catalog=catalog)
    assert run.returncode == 0, run.last_stderr_line
    assert set(run.records) == {stream}, "the parent issues are not emitted unless selected"
    want = children_of(fake, stream, [r.id for r in fake.data.issues()])
    got = [str(r["id"]) for r in run.records[stream]]
    dupes = [k for k, n in collections.Counter(got).items() if n > 1]
    assert not dupes, f"duplicated {stream} ids {dupes[:5]}"
    assert set(got) == set(want), f"missing {sorted(set(want) - set(got))[:5]}, extra {sorted(set(got) - set(want))[:5]}"
    issue_updated = {r.id: r.updated for r in fake.data.issues()}
    for record in run.records[stream]:
        assert record["issueId"] == want[str(record["id"])]
        assert ts(record["issueUpdated"]) == dt.datetime.fromtimestamp(issue_updated[record["issueId"]] / 1000, UTC)
    per_issue = collections.Counter(want.values())
    reads = child_requests(fake, stream)
    if expanded(fake, stream):  # one read per issue, every history in it, no other issue field
        assert collections.Counter(read_issue(e) for e in reads) == collections.Counter(
            r.id for r in fake.data.issues()), "each issue's histories must be read once"
        assert all(e.query.get("fields") == ["updated"] for e in reads)
        assert not fake.log.find("/changelog"), "Server/DC has no paged changelog resource"
        if page_size == 3:
            assert max(per_issue.values()) > 3, "no issue with more histories than a page"
    elif bulk(fake, stream):  # every issue's histories through bulkfetch, none one by one
        assert reads and not [e for e in fake.log if e.path.endswith("/changelog")
                              and e.headers.get("user-agent", "").startswith("tap-atlassian/")]
    elif embedded(stream):  # whole in the search: no issue's /comment read at all
        assert not reads
        searches = [e for e in fake.log if "/search" in e.path and e.method == "GET"
                    and "updated DESC" not in e.query["jql"][0]]  # a sliced search's probe of its newest
        assert searches and all("comment" in ",".join(e.query.get("fields", [])) for e in searches)
    mark = run.last_state["bookmarks"][stream]["replication_key_value"]
    assert mark == max(r["issueUpdated"] for r in run.records[stream])
    assert not leaks(run, config)


@pytest.mark.parametrize(("stream", "flavour"), CASES)
def test_second_run_reads_children_of_changed_issues_only(fake_factory, stream: str, flavour: str) -> None:  # noqa: ANN001
    fake = fake_factory(flavour=flavour, seed=3, size="small")
    config, catalog = only(fake, stream, page_size=7)
    first = run_tap(config, catalog=catalog)
    assert first.returncode == 0, first.last_stderr_line
    records = first.records[stream]
    bookmark = first.last_state["bookmarks"][stream]["replication_key_value"]
    boundary = {r["issueId"] for r in records if r["issueUpdated"] == bookmark}
    touched = list(dict.fromkeys(r["issueId"] for r in records if r["issueId"] not in boundary))[:3]
    when = dt.datetime.now(UTC) - dt.timedelta(minutes=10)
    for issue in touched:
        fake.control.touch("issue", issue, at=iso(when))
    seen = len(fake.log)
    second = run_tap(config, catalog=catalog, state=first.last_state)
    assert second.returncode == 0, second.last_stderr_line
    got = second.records.get(stream, [])
    issues = {r["issueId"] for r in got}
    assert set(touched) <= issues, "the children of a changed issue were missed"
    assert issues - set(touched) <= boundary, "children of an unchanged older issue were read again"
    want = children_of(fake, stream, touched)
    assert set(want) <= {str(r["id"]) for r in got}, "a changed issue's children are incomplete"
    assert len(got) == len({str(r["id"]) for r in got}), "a record was emitted twice in one run"
    if not bulk(fake, stream):  # bulkfetch names its issues in the body, which the log does not keep
        read = {read_issue(e) for e in child_requests(fake, stream, seen)}
        assert read <= set(touched) | boundary, "children of an unchanged issue were requested"
    assert ts(second.last_state["bookmarks"][stream]["replication_key_value"]) >= when.replace(microsecond=0)
    third = run_tap(config, catalog=catalog, state=second.last_state)
    assert {r["issueId"] for r in third.records.get(stream, [])} <= set(touched)


@pytest.mark.parametrize(("stream", "flavour"), CASES)
def test_project_keys_and_start_date(fake_factory, stream: str, flavour: str) -> None:  # noqa: ANN001
    fake = fake_factory(flavour=flavour, seed=11, size="small")
    project = fake.data.projects[3]["key"]
    in_project = [r for r in fake.data.issues([project])]
    start_ms = sorted(r.updated for r in in_project)[len(in_project) // 2]
    start = iso(dt.datetime.fromtimestamp(start_ms / 1000, UTC))
    config, catalog = only(fake, stream, page_size=10, project_keys=[project], start_date=start)
    run = run_tap(config, catalog=catalog)
    assert run.returncode == 0, run.last_stderr_line
    wanted_issues = [r.id for r in in_project if r.updated >= start_ms]
    want = children_of(fake, stream, wanted_issues)
    got = [str(r["id"]) for r in run.records.get(stream, [])]
    assert wanted_issues and sorted(got) == sorted(want)


def test_products_setting_owns_the_streams(fake_cloud) -> None:  # noqa: ANN001
    def names(products: list[str]) -> set[str]:
        return {s["tap_stream_id"] for s in discover(fake_config(fake_cloud, products=products))["streams"]}

    assert set(CHILDREN) <= names(["jira_service_desk"])
    assert not set(CHILDREN) & names(["confluence"])


@pytest.mark.parametrize(("stream", "flavour"), CASES)
def test_killed_run_resumes_without_gaps(fake_factory, stream: str, flavour: str) -> None:  # noqa: ANN001
    fake = fake_factory(flavour=flavour, seed=9, size="small", issues=40)
    config, catalog = only(fake, stream, page_size=10, start_date="2000-01-01T00:00:00Z")
    killed = run_tap(config, catalog=catalog, stop_after_records=75)
    assert killed.returncode != 0
    emitted = {str(r["id"]) for r in killed.records[stream]}
    state = killed.last_state
    assert state["bookmarks"][stream].get("replication_key_value"), "no resumable state before the kill"
    resumed = run_tap(config, catalog=catalog, state=state)
    assert resumed.returncode == 0, resumed.last_stderr_line
    again = {str(r["id"]) for r in resumed.records[stream]}
    want = set(children_of(fake, stream, [r.id for r in fake.data.issues()]))
    assert emitted | again == want, f"lost: {sorted(want - emitted - again)[:5]}"
    assert len(again) < len(want), "the resumed run started over instead of resuming"


# Cloud changelogs come through bulkfetch, which leaves a gone issue out rather than answer 404
@pytest.mark.parametrize(("stream", "flavour"), [c for c in CASES if c != ("jira_issue_changelogs", "cloud")])
def test_issue_gone_between_search_and_read_is_a_warning(fake_factory, stream: str, flavour: str) -> None:  # noqa: ANN001
    fake = fake_factory(flavour=flavour, seed=7, size="small", issues=12)
    gone = fake.data.issues()[4]
    if embedded(stream):  # more comments than the search embeds: its /comment is read, and is gone
        fake.jira_bulk.add_comments(gone.id, 25, at="2024-05-01T00:00:00Z")
    fake.control.inject(child_fault(fake, stream, gone.id), "404", None)
    config, catalog = only(fake, stream)
    run = run_tap(config, catalog=catalog)
    assert run.returncode == 0, run.last_stderr_line
    assert f"issue {gone.key} skipped" in run.stderr
    others = [r.id for r in fake.data.issues() if r.id != gone.id]
    fake.control.clear_faults()
    assert {str(r["id"]) for r in run.records[stream]} == set(children_of(fake, stream, others))


def test_changelogs_agree_between_cloud_and_server(fake_factory) -> None:  # noqa: ANN001
    """Server/DC discovers the stream and reads the expansion; its records match Cloud's (same seed)."""
    runs = {}
    for flavour in ("cloud", "server"):
        fake = fake_factory(flavour=flavour, seed=5, size="small")
        names = {s["tap_stream_id"] for s in discover(fake_config(fake))["streams"]}
        assert {"jira_issue_comments", "jira_issue_changelogs"} <= names
        config, catalog = only(fake, "jira_issue_changelogs", project_keys=["SWA", "SDB"])
        run = run_tap(config, catalog=catalog)
        assert run.returncode == 0, run.last_stderr_line
        runs[flavour] = run.records["jira_issue_changelogs"]

    def summary(record: dict) -> tuple:
        items = tuple((i["field"], i["fieldtype"], i["from"], i["fromString"], i["to"], i["toString"])
                      for i in record["items"])
        return record["id"], record["issueId"], record["issueUpdated"], record["created"], items

    assert runs["server"] and sorted(map(summary, runs["server"])) == sorted(map(summary, runs["cloud"]))
    assert {frozenset(r) for r in runs["server"]} == {frozenset(r) - {"historyMetadata"} for r in runs["cloud"]}
    assert all("name" in r["author"] and "accountId" not in r["author"] for r in runs["server"])
