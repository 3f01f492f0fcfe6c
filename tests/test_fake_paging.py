"""Each paging style of the fake walks to the end, without duplicates or gaps, at several page sizes."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest
import requests

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

    from tests.fake_atlassian import FakeAtlassian

SIZES = [1, 7, 25, 250]
JQL = 'project in (SDA, SWA, SDC) AND updated >= "2022-01-01 00:00" ORDER BY updated ASC'


def session(fake: FakeAtlassian) -> requests.Session:
    return fake.client()


def walk_tokens(get: Callable[[str | None], dict]) -> Iterator[dict]:
    token = None
    for _ in range(10_000):
        page = get(token)
        yield page
        if page["isLast"]:
            assert "nextPageToken" not in page
            return
        token = page["nextPageToken"]
    raise AssertionError("no end")


def assert_exact(seen: list[str], expected: list[str]) -> None:
    assert len(seen) == len(set(seen)), "duplicates"
    assert seen == expected


@pytest.fixture
def cloud(fake_factory: Callable[..., FakeAtlassian]) -> FakeAtlassian:
    return fake_factory(flavour="cloud", seed=11, issues=120, pages=70)


@pytest.fixture
def server(fake_factory: Callable[..., FakeAtlassian]) -> FakeAtlassian:
    return fake_factory(flavour="server", seed=11, issues=120, pages=70)


def expected_issue_ids(fake: FakeAtlassian, projects: list[str]) -> list[str]:
    refs = [r for r in fake.data.issues(projects) if r.updated >= 0]
    return [r.id for r in sorted(refs, key=lambda r: (r.updated, int(r.id)))]


@pytest.mark.parametrize("method", ["GET", "POST"])
@pytest.mark.parametrize("size", [1, 7, 50, 100])
def test_jira_cloud_search_jql_tokens(cloud: FakeAtlassian, method: str, size: int) -> None:
    s = session(cloud)
    url = cloud.url + "/rest/api/3/search/jql"

    def get(token: str | None) -> dict:
        if method == "GET":
            params: dict[str, Any] = {"jql": JQL, "maxResults": size, "fields": "updated"}
            if token:
                params["nextPageToken"] = token
            r = s.get(url, params=params, timeout=10)
        else:
            body: dict[str, Any] = {"jql": JQL, "maxResults": size, "fields": ["updated"]}
            if token:
                body["nextPageToken"] = token
            r = s.post(url, json=body, timeout=10)
        assert r.status_code == 200, r.text
        page = r.json()
        assert len(page["issues"]) <= size
        return page

    seen = [i["id"] for p in walk_tokens(get) for i in p["issues"]]
    assert_exact(seen, expected_issue_ids(cloud, ["SDA", "SWA", "SDC"]))


def test_jira_cloud_max_results_caps(cloud: FakeAtlassian) -> None:
    s = session(cloud)
    url = cloud.url + "/rest/api/3/search/jql"
    full = s.get(url, params={"jql": "project = SDA", "maxResults": 5000, "fields": "*all"}, timeout=10).json()
    assert len(full["issues"]) == 24
    big = cloud.data.issue_count()
    ids = s.get(url, params={"jql": "updated >= 0", "maxResults": 9999}, timeout=10).json()
    assert len(ids["issues"]) == big  # 5000 cap for id-only, > this site's size
    assert ids["isLast"] is True
    fields = s.get(url, params={"jql": "updated >= 0", "maxResults": 9999, "fields": "summary"}, timeout=10).json()
    assert len(fields["issues"]) == 100
    assert fields["isLast"] is False


@pytest.mark.parametrize("method", ["GET", "POST"])
@pytest.mark.parametrize("size", [1, 7, 50, 1000])
def test_jira_server_search_offsets(server: FakeAtlassian, method: str, size: int) -> None:
    s = session(server)
    url = server.url + "/rest/api/2/search"
    seen: list[str] = []
    start = 0
    while True:
        if method == "GET":
            r = s.get(url, params={"jql": JQL, "startAt": start, "maxResults": size, "fields": "updated"}, timeout=10)
        else:
            r = s.post(url, json={"jql": JQL, "startAt": start, "maxResults": size, "fields": ["updated"]}, timeout=10)
        page = r.json()
        assert page["startAt"] == start
        assert page["maxResults"] == size
        seen += [i["id"] for i in page["issues"]]
        start += len(page["issues"])
        if start >= page["total"] or not page["issues"]:
            break
    assert_exact(seen, expected_issue_ids(server, ["SDA", "SWA", "SDC"]))


def walk_jsm(s: requests.Session, url: str) -> tuple[list[dict], int]:
    values: list[dict] = []
    pages = 0
    next_url: str | None = url
    while next_url:
        page = s.get(next_url, timeout=10).json()
        pages += 1
        values += page["values"]
        assert page["size"] == len(page["values"])
        assert page["isLastPage"] == ("next" not in page["_links"])
        next_url = page["_links"].get("next")
    return values, pages


@pytest.mark.parametrize("flavour", ["cloud", "server"])
@pytest.mark.parametrize("limit", [1, 7, 100])
def test_jsm_start_limit_is_last_page(fake_factory: Callable[..., FakeAtlassian], flavour: str, limit: int) -> None:
    fake = fake_factory(flavour=flavour, seed=5, issues=90)
    s = session(fake)
    base = fake.jira_url + "/rest/servicedeskapi"
    desks, _ = walk_jsm(s, f"{base}/servicedesk?limit={limit}")
    assert [d["projectKey"] for d in desks] == ["SDA", "SDB", "SDC"]
    types, _ = walk_jsm(s, f"{base}/servicedesk/{desks[0]['id']}/requesttype?limit={limit}")
    assert len(types) == 5
    reqs, pages = walk_jsm(s, f"{base}/request?limit={limit}")
    expected = [r for r in fake.data.issues(["SDA", "SDB", "SDC"])]
    expected.sort(key=lambda r: (-r.updated, -int(r.id)))
    assert_exact([v["issueId"] for v in reqs], [r.id for r in expected])
    assert pages == -(-len(expected) // limit)
    one, _ = walk_jsm(s, f"{base}/request?limit={limit}&serviceDeskId={desks[1]['id']}")
    assert {v["serviceDeskId"] for v in one} == {desks[1]["id"]}
    assert len(one) == len(fake.data.issues(["SDB"]))


def walk_v2(fake: FakeAtlassian, s: requests.Session, path: str) -> list[dict]:
    results: list[dict] = []
    url: str | None = fake.confluence_url + path
    while url:
        r = s.get(url, timeout=10)
        assert r.status_code == 200, r.text
        body = r.json()
        results += body["results"]
        nxt = body["_links"].get("next")
        link_next = r.links.get("next", {}).get("url")
        assert link_next == nxt  # Link header and body agree, both absent on the last page
        assert r.links["base"]["url"] == fake.confluence_url
        if nxt:
            assert nxt.startswith("/wiki/api/v2/")
        url = fake.url + nxt if nxt else None
    return results


@pytest.mark.parametrize("size", SIZES)
def test_confluence_v2_pages_cursor(cloud: FakeAtlassian, size: int) -> None:
    s = session(cloud)
    got = walk_v2(cloud, s, f"/api/v2/pages?limit={size}&sort=modified-date&body-format=storage")
    expected = sorted(cloud.data.pages(), key=lambda p: (p.modified, int(p.id)))
    assert_exact([p["id"] for p in got], [p.id for p in expected])
    assert all(isinstance(p["body"]["storage"]["value"], str) for p in got)


@pytest.mark.parametrize("size", [1, 3, 250])
def test_confluence_v2_spaces_and_space_pages(cloud: FakeAtlassian, size: int) -> None:
    s = session(cloud)
    spaces = walk_v2(cloud, s, f"/api/v2/spaces?limit={size}")
    assert [sp["key"] for sp in spaces] == [sp["key"] for sp in cloud.data.spaces]
    sp = spaces[1]
    got = walk_v2(cloud, s, f"/api/v2/spaces/{sp['id']}/pages?limit={size}")
    assert_exact([p["id"] for p in got], [p.id for p in cloud.data.pages([sp["key"]])])
    by_param = walk_v2(cloud, s, f"/api/v2/pages?space-id={sp['id']}&limit={size}")
    assert [p["id"] for p in by_param] == [p["id"] for p in got]


def test_confluence_v2_pages_by_id_list(cloud: FakeAtlassian) -> None:
    s = session(cloud)
    ids = [p.id for p in cloud.data.pages()][5:30]
    got = walk_v2(cloud, s, "/api/v2/pages?limit=10&body-format=atlas_doc_format&id=" + ",".join(ids))
    assert [p["id"] for p in got] == ids
    assert all(isinstance(p["body"]["atlas_doc_format"]["value"], str) for p in got)
    too_many = ",".join(str(98304 + 3 * i) for i in range(251))
    assert s.get(cloud.confluence_url + "/api/v2/pages?id=" + too_many, timeout=10).status_code == 400


def walk_v1(fake: FakeAtlassian, s: requests.Session, path: str) -> list[dict]:
    results: list[dict] = []
    url: str | None = fake.confluence_url + path
    while url:
        body = s.get(url, timeout=10).json()
        assert body["size"] == len(body["results"])
        results += body["results"]
        nxt = body["_links"].get("next")
        url = body["_links"]["base"] + nxt if nxt else None
    return results


CQL = 'type = page and lastmodified >= "2022-01-01 00:00" order by lastmodified asc'


@pytest.mark.parametrize("endpoint", ["/rest/api/search", "/rest/api/content/search"])
@pytest.mark.parametrize("size", [1, 7, 25])
def test_confluence_cloud_cql_search_cursor(cloud: FakeAtlassian, endpoint: str, size: int) -> None:
    s = session(cloud)
    expand = "content.version" if endpoint == "/rest/api/search" else "version"
    got = walk_v1(cloud, s, f"{endpoint}?limit={size}&expand={expand}&cql={requests.utils.quote(CQL)}")
    ids = [(r["content"] if endpoint == "/rest/api/search" else r)["id"] for r in got]
    expected = sorted(cloud.data.pages(), key=lambda p: (p.modified, int(p.id)))
    assert_exact(ids, [p.id for p in expected])
    versions = [(r["content"] if endpoint == "/rest/api/search" else r)["version"]["number"] for r in got]
    assert versions == [p.version for p in expected]


@pytest.mark.parametrize("size", [1, 7, 50])
def test_confluence_server_offsets(server: FakeAtlassian, size: int) -> None:
    s = session(server)
    spaces = walk_v1(server, s, f"/rest/api/space?limit={size}")
    assert [sp["key"] for sp in spaces] == [sp["key"] for sp in server.data.spaces]
    key = spaces[0]["key"]
    content = walk_v1(server, s, f"/rest/api/content?type=page&spaceKey={key}&limit={size}"
                                 "&expand=body.storage,version,space,history")
    assert_exact([c["id"] for c in content], [p.id for p in server.data.pages([key])])
    assert all(c["space"]["key"] == key and c["body"]["storage"]["value"] for c in content)
    found = walk_v1(server, s, f"/rest/api/content/search?limit={size}&cql={requests.utils.quote(CQL)}")
    expected = sorted(server.data.pages(), key=lambda p: (p.modified, int(p.id)))
    assert_exact([c["id"] for c in found], [p.id for p in expected])


def test_server_search_caps(server: FakeAtlassian) -> None:
    s = session(server)
    url = server.confluence_url + "/rest/api/content/search"
    assert s.get(url, params={"cql": "type=page", "limit": 500, "expand": "body.storage"}, timeout=10).json()["limit"] == 50
    assert s.get(url, params={"cql": "type=page", "limit": 500, "expand": "version"}, timeout=10).json()["limit"] == 200
    assert s.get(url, params={"cql": "type=page", "limit": 5000}, timeout=10).json()["limit"] == 1000


def test_confserver_95396_quirk_keeps_next_past_the_end(server: FakeAtlassian) -> None:
    s = session(server)
    server.control.quirk("confserver-95396")
    key = server.data.spaces[0]["key"]
    total = len(server.data.pages([key]))
    url = f"{server.confluence_url}/rest/api/content?type=page&spaceKey={key}&limit=10&start={total - 3}"
    last = s.get(url, timeout=10).json()
    assert last["size"] == 3 and "next" in last["_links"]  # the bug: a next link on the last page
    after = s.get(server.confluence_url + last["_links"]["next"], timeout=10).json()
    assert after["results"] == [] and "next" in after["_links"]
    server.control.quirk("confserver-95396", on=False)
    assert "next" not in s.get(url, timeout=10).json()["_links"]
    with pytest.raises(ValueError, match="quirk must be one of"):
        server.control.quirk("nope")


@pytest.mark.parametrize("size", [1, 7, 200])
def test_confluence_dc_content_scan_cursor(server: FakeAtlassian, size: int) -> None:
    s = session(server)
    key = server.data.spaces[2]["key"]
    got = walk_v1_cursor(server, s, f"/rest/api/content/scan?spaceKey={key}&limit={size}&expand=version")
    assert_exact([c["id"] for c in got], [p.id for p in server.data.pages([key])])
    every = walk_v1_cursor(server, s, f"/rest/api/content/scan?limit={size}")
    assert_exact([c["id"] for c in every], [p.id for p in server.data.pages()])


def walk_v1_cursor(fake: FakeAtlassian, s: requests.Session, path: str) -> list[dict]:
    results: list[dict] = []
    url: str | None = fake.confluence_url + path
    while url:
        body = s.get(url, timeout=10).json()
        assert "start" not in body  # cursor paging, no offsets
        results += body["results"]
        nxt = body["_links"].get("next")
        url = body["_links"]["base"] + nxt if nxt else None
    return results


@pytest.mark.parametrize("size", [1, 2, 100])
def test_jira_comments_and_changelog_offsets(cloud: FakeAtlassian, size: int) -> None:
    s = session(cloud)
    ref = cloud.data.issues(["SWA"])[3]
    full = s.get(f"{cloud.url}/rest/api/3/issue/{ref.key}", params={"fields": "comment,updated"}, timeout=10).json()
    expected = [c["id"] for c in full["fields"]["comment"]["comments"]]
    seen: list[str] = []
    while True:
        page = s.get(f"{cloud.url}/rest/api/3/issue/{ref.key}/comment",
                     params={"startAt": len(seen), "maxResults": size}, timeout=10).json()
        seen += [c["id"] for c in page["comments"]]
        if len(seen) >= page["total"]:
            break
    assert_exact(seen, expected)
    history: list[dict] = []
    url: str | None = f"{cloud.url}/rest/api/3/issue/{ref.id}/changelog?maxResults={size}"
    while url:
        page = s.get(url, timeout=10).json()
        history += page["values"]
        assert page["isLast"] == ("nextPage" not in page)
        url = page.get("nextPage")
    assert len(history) == page["total"] and len({h["id"] for h in history}) == len(history)
    assert history[-1]["created"] == full["fields"]["updated"]  # the last change is the issue's `updated`


def test_jira_server_changelog_expansion(cloud: FakeAtlassian, server: FakeAtlassian) -> None:
    """Server v2 `?expand=changelog`: every history in one answer, the ones Cloud's `/changelog` pages."""
    s, c = session(server), session(cloud)
    for ref in server.data.issues(["SWA", "SDB"])[:8]:
        url = f"{server.jira_url}/rest/api/2/issue/{ref.id}"
        body = s.get(url, params={"expand": "changelog", "fields": "updated"}, timeout=10).json()
        assert set(body["fields"]) == {"updated"} and body["key"] == ref.key
        log = body["changelog"]
        histories = log["histories"]
        assert log["startAt"] == 0 and log["total"] == log["maxResults"] == len(histories) >= 1
        assert histories[-1]["created"] == body["fields"]["updated"]
        assert all(set(h) == {"id", "author", "created", "items"} and "name" in h["author"] for h in histories)
        assert all(set(i) == {"field", "fieldtype", "from", "fromString", "to", "toString"}
                   for h in histories for i in h["items"])
        paged = c.get(f"{cloud.jira_url}/rest/api/3/issue/{ref.id}/changelog", params={"maxResults": 100},
                      timeout=10).json()["values"]
        assert [(h["id"], h["created"]) for h in histories] == [(h["id"], h["created"]) for h in paged]
        assert [h["items"] for h in histories] == [
            [{k: v for k, v in i.items() if k != "fieldId"} for i in h["items"]] for h in paged]
    plain = s.get(f"{server.jira_url}/rest/api/2/issue/{ref.key}", params={"fields": "updated"}, timeout=10).json()
    assert "changelog" not in plain
    assert s.get(f"{server.jira_url}/rest/api/2/issue/{ref.key}/changelog", timeout=10).status_code == 404
    missing = s.get(f"{server.jira_url}/rest/api/2/issue/SWA-99999", params={"expand": "changelog"}, timeout=10)
    assert missing.status_code == 404 and missing.json()["errorMessages"]


def test_jsm_request_status_filter(cloud: FakeAtlassian) -> None:
    s = session(cloud)
    url = cloud.url + "/rest/servicedeskapi/request"
    every = s.get(url, params={"limit": 100}, timeout=10).json()["values"]
    closed = s.get(url, params={"limit": 100, "requestStatus": "CLOSED_REQUESTS"}, timeout=10).json()["values"]
    opened = s.get(url, params={"limit": 100, "requestStatus": "OPEN_REQUESTS"}, timeout=10).json()["values"]
    assert closed and opened
    assert {r["currentStatus"]["statusCategory"] for r in closed} == {"DONE"}
    assert "DONE" not in {r["currentStatus"]["statusCategory"] for r in opened}
    assert sorted(r["issueId"] for r in closed + opened) == sorted(r["issueId"] for r in every)


def test_jira_short_pages_quirk(cloud: FakeAtlassian) -> None:
    s = session(cloud)
    cloud.control.quirk("jira-short-pages")
    url = cloud.url + "/rest/api/3/search/jql"
    first = s.get(url, params={"jql": JQL, "maxResults": 40, "fields": "summary"}, timeout=10).json()
    assert len(first["issues"]) == 20 and first["isLast"] is False and first["nextPageToken"]
    ids_only = s.get(url, params={"jql": JQL, "maxResults": 40}, timeout=10).json()
    assert len(ids_only["issues"]) == 40  # id-only pages are not shortened
    seen = [i["id"] for p in walk_tokens(lambda t: s.get(url, params={
        "jql": JQL, "maxResults": 40, "fields": "summary", **({"nextPageToken": t} if t else {})},
        timeout=10).json()) for i in p["issues"]]
    assert_exact(seen, expected_issue_ids(cloud, ["SDA", "SWA", "SDC"]))


@pytest.mark.parametrize("size", [1, 4, 250])
def test_confluence_v2_blogposts_cursor(cloud: FakeAtlassian, size: int) -> None:
    s = session(cloud)
    got = walk_v2(cloud, s, f"/api/v2/blogposts?limit={size}&sort=-modified-date&body-format=storage")
    expected = sorted(cloud.data.blogposts(), key=lambda p: (-p.modified, -int(p.id)))
    assert_exact([p["id"] for p in got], [p.id for p in expected])
    assert expected and all("parentId" not in p and p["body"]["storage"]["value"] for p in got)
    space = cloud.data.spaces[0]
    mine = walk_v2(cloud, s, f"/api/v2/spaces/{space['id']}/blogposts?limit={size}")
    assert_exact([p["id"] for p in mine], [p.id for p in cloud.data.blogposts([space["key"]])])


def test_pages_and_blogposts_are_apart(cloud: FakeAtlassian, server: FakeAtlassian) -> None:
    s = session(cloud)
    blog, page = cloud.data.blogposts()[0], cloud.data.pages()[0]
    base = cloud.confluence_url + "/api/v2"
    assert s.get(f"{base}/blogposts/{blog.id}", timeout=10).json()["_links"]["base"] == cloud.confluence_url
    assert s.get(f"{base}/pages/{blog.id}", timeout=10).status_code == 404
    assert s.get(f"{base}/blogposts/{page.id}", timeout=10).status_code == 404
    assert s.get(f"{base}/pages", params={"id": f"{page.id},{blog.id}"}, timeout=10).json()["results"][0]["id"] == page.id
    both = walk_v1(cloud, s, "/rest/api/content/search?limit=100&cql=" + requests.utils.quote("type in (page, blogpost)"))
    assert len(both) == cloud.data.page_count() + cloud.data.page_count("blogpost")
    blogs = walk_v1(cloud, s, "/rest/api/content/search?limit=100&cql=type%3Dblogpost")
    assert {c["type"] for c in blogs} == {"blogpost"} and len(blogs) == len(cloud.data.blogposts())
    added = cloud.control.add("blogpost", "HR")
    assert added["kind"] == "blogpost"
    assert s.get(f"{base}/blogposts/{added['id']}", timeout=10).status_code == 200
    ss = session(server)
    key = server.data.spaces[1]["key"]
    listed = walk_v1(server, ss, f"/rest/api/content?type=blogpost&spaceKey={key}&limit=2")
    assert_exact([c["id"] for c in listed], [b.id for b in server.data.blogposts([key])])
    assert ss.get(server.confluence_url + "/rest/api/content?type=comment", timeout=10).status_code == 400
