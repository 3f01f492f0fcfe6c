"""Every JSON answer of the fake validates against Atlassian's OpenAPI documents (tests/specs/),
over every endpoint and every seeded object of a 1,000-issue / 400-page site; and declares no
key the document does not know.

Documented exceptions (where the documents and observed Atlassian behaviour differ, see
docs/ATLASSIAN_API.md):
- `GET|POST /rest/api/3/search`: the document still describes a 200 `SearchResults`; Atlassian
  removed the endpoint (CHANGE-2046) and answers 410 `{"errorMessages": [...]}`: the fake does that.
- `GET /rest/servicedeskapi/requesttype` is `x-experimental`; the document lists no 412, but
  Atlassian answers 412 without `X-ExperimentalApi: opt-in`: the fake does that.
- Confluence v2 `Link` header: the document's example carries `rel="base"` next to `rel="next"`;
  live answers keep `rel="base"` on the last page too: so does the fake (only `rel="next"` goes).
- Jira v3 `textarea` custom fields: `/field` says `schema.type: string`, but v3 returns ADF
  documents for them (the v3 document's "Version" narrative): so does the fake; v2 gives strings.
- Server/DC flavour: no Data Center OpenAPI document exists; its Jira answers are checked
  against the Cloud v3 schemas of the same operations (`SearchResults`, `FieldDetails`, `User`,
  `ServerInformation`) and the JSM ones against the same JSM document, plus the recorded real
  payloads in `test_fake_payloads.py`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest
import requests

from tests.fake_atlassian import FakeAtlassian
from tests.specs.validate import assert_conforms, checker

if TYPE_CHECKING:
    from collections.abc import Iterator

JQL_ALL = "updated >= 0 ORDER BY updated ASC"
SDS = "/rest/servicedeskapi"


@pytest.fixture(scope="module")
def cloud() -> Iterator[FakeAtlassian]:
    with FakeAtlassian(flavour="cloud", seed=23, issues=1000, pages=400) as fake:
        yield fake


@pytest.fixture(scope="module")
def server() -> Iterator[FakeAtlassian]:
    with FakeAtlassian(flavour="server", seed=23, issues=400, pages=100) as fake:
        yield fake


def session(fake: FakeAtlassian) -> requests.Session:
    s = fake.client()
    s.headers["X-ExperimentalApi"] = "opt-in"
    return s


def get(s: requests.Session, url: str, **params: Any) -> Any:
    r = s.get(url, params=params, timeout=30)
    assert r.status_code == 200, r.text[:300]
    return r.json()


def test_jira_search_jql_every_issue_all_fields(cloud: FakeAtlassian) -> None:
    s = session(cloud)
    seen = 0
    token = None
    while True:
        params: dict[str, Any] = {"jql": JQL_ALL, "fields": "*all", "maxResults": 100}
        if token:
            params["nextPageToken"] = token
        body = get(s, cloud.url + "/rest/api/3/search/jql", **params)
        assert_conforms("jira", body, "/rest/api/3/search/jql")
        seen += len(body["issues"])
        token = body.get("nextPageToken")
        if not token:
            break
    assert seen == cloud.data.issue_count()
    r = s.post(cloud.url + "/rest/api/3/search/jql", json={"jql": JQL_ALL, "maxResults": 5000}, timeout=30)
    assert_conforms("jira", r.json(), "/rest/api/3/search/jql", "post")


def test_jira_other_endpoints(cloud: FakeAtlassian) -> None:
    s = session(cloud)
    assert_conforms("jira", get(s, cloud.url + "/rest/api/3/field"), "/rest/api/3/field")
    assert_conforms("jira", get(s, cloud.url + "/rest/api/3/myself"), "/rest/api/3/myself")
    assert_conforms("jira", requests.get(cloud.url + "/rest/api/3/serverInfo", timeout=10).json(), "/rest/api/3/serverInfo")
    assert_conforms("jira", get(s, cloud.url + "/rest/api/3/project"), "/rest/api/3/project")
    count = s.post(cloud.url + "/rest/api/3/search/approximate-count", json={"jql": "project = SDA"}, timeout=10)
    assert_conforms("jira", count.json(), "/rest/api/3/search/approximate-count", "post")
    assert count.json() == {"count": len(cloud.data.issues(["SDA"]))}
    for ref in cloud.data.issues()[::20]:
        assert_conforms("jira", get(s, f"{cloud.url}/rest/api/3/issue/{ref.key}"), "/rest/api/3/issue/{issueIdOrKey}")
        assert_conforms("jira", get(s, f"{cloud.url}/rest/api/3/issue/{ref.key}/comment", maxResults=2),
                 "/rest/api/3/issue/{issueIdOrKey}/comment")
        history = get(s, f"{cloud.url}/rest/api/3/issue/{ref.key}/changelog", maxResults=2)
        assert_conforms("jira", history, "/rest/api/3/issue/{issueIdOrKey}/changelog")


@pytest.mark.parametrize(("flavour", "search"), [("cloud", "/rest/api/3/search/jql"),
                                                 ("cloud", "/rest/api/2/search/jql"),
                                                 ("server", "/rest/api/2/search")])
def test_jira_field_values_match_field_metadata(flavour: str, search: str, request: pytest.FixtureRequest) -> None:
    """Each custom field value has the JSON type its `/field` schema announces (exception:
    v3 textarea = ADF, see the module docstring)."""
    fake: FakeAtlassian = request.getfixturevalue(flavour)
    s = session(fake)
    v3 = "/api/3/" in search
    meta = {f["id"]: f["schema"] for f in get(s, fake.url + search.split("/search")[0] + "/field") if f["custom"]}
    json_type = {"number": (int, float), "string": str, "date": str, "datetime": str, "array": list,
                 "option": dict, "option-with-child": dict, "user": dict, "group": dict, "project": dict,
                 "version": dict, "sd-customerrequesttype": dict}
    issues = get(s, fake.url + search, jql="project in (SDA, SWA)", fields="*all", maxResults=100)["issues"]
    assert len(issues) == 100
    for issue in issues:
        for fid, schema in meta.items():
            value = issue["fields"][fid]
            if value is None:
                continue
            if schema["custom"].endswith(":textarea") and v3:
                assert value["type"] == "doc"
                continue
            assert isinstance(value, json_type[schema["type"]]), (fid, schema, value)


def test_confluence_v2_every_page_every_body_format(cloud: FakeAtlassian) -> None:
    s = session(cloud)
    assert_conforms("confluence", get(s, cloud.confluence_url + "/api/v2/spaces", limit=250), "/spaces")
    for dfmt in ("plain", "view"):
        spaces = get(s, cloud.confluence_url + "/api/v2/spaces", limit=2, **{"description-format": dfmt,
                                                                             "include-icon": "true"})
        assert spaces["results"][0]["description"][dfmt]["value"] and spaces["results"][0]["icon"]["path"]
        assert "description-format" in spaces["_links"]["next"]
        assert_conforms("confluence", spaces, "/spaces")
    for fmt in ("storage", "atlas_doc_format", None):
        url: str | None = cloud.confluence_url + "/api/v2/pages?limit=250&sort=modified-date" + (
            f"&body-format={fmt}" if fmt else "")
        n = 0
        while url:
            body = get(s, url)
            assert_conforms("confluence", body, "/pages")
            n += len(body["results"])
            url = cloud.url + body["_links"]["next"] if "next" in body["_links"] else None
        assert n == cloud.data.page_count()
    space = cloud.data.spaces[1]["id"]
    assert_conforms("confluence", get(s, f"{cloud.confluence_url}/api/v2/spaces/{space}/pages", limit=250),
             "/spaces/{id}/pages")
    for fmt in ("storage", "atlas_doc_format"):
        blogs = get(s, cloud.confluence_url + "/api/v2/blogposts", limit=250, **{"body-format": fmt})
        assert len(blogs["results"]) == cloud.data.page_count("blogpost")
        assert_conforms("confluence", blogs, "/blogposts")
    assert_conforms("confluence", get(s, f"{cloud.confluence_url}/api/v2/spaces/{space}/blogposts", limit=250),
             "/spaces/{id}/blogposts")
    for ref in cloud.data.blogposts()[::10]:
        assert_conforms("confluence", get(s, f"{cloud.confluence_url}/api/v2/blogposts/{ref.id}", **{"body-format": "storage"}),
                 "/blogposts/{id}")
    for ref in cloud.data.pages()[::25]:
        assert_conforms("confluence", get(s, f"{cloud.confluence_url}/api/v2/pages/{ref.id}", **{"body-format": "storage"}),
                 "/pages/{id}")


def walk_jsm(s: requests.Session, url: str, path: str) -> list[dict]:
    values: list[dict] = []
    next_url: str | None = url
    while next_url:
        body = get(s, next_url)
        assert_conforms("jsm", body, path)
        values += body["values"]
        next_url = body["_links"].get("next")
    return values


@pytest.mark.parametrize("flavour", ["cloud", "server"])
def test_jsm_every_endpoint_every_request(flavour: str, request: pytest.FixtureRequest) -> None:
    fake: FakeAtlassian = request.getfixturevalue(flavour)
    s = session(fake)
    base = fake.jira_url + SDS
    desks = walk_jsm(s, base + "/servicedesk?limit=2", SDS + "/servicedesk")
    for d in desks:
        assert_conforms("jsm", get(s, f"{base}/servicedesk/{d['id']}"), SDS + "/servicedesk/{serviceDeskId}")
        walk_jsm(s, f"{base}/servicedesk/{d['id']}/requesttype", SDS + "/servicedesk/{serviceDeskId}/requesttype")
    walk_jsm(s, base + "/requesttype?limit=4", SDS + "/requesttype")
    reqs = walk_jsm(s, base + "/request?limit=100", SDS + "/request")
    assert len(reqs) == len(fake.data.issues([d["projectKey"] for d in desks]))
    for r in reqs[::15]:
        assert_conforms("jsm", get(s, f"{base}/request/{r['issueKey']}"), SDS + "/request/{issueIdOrKey}")
    expand = "serviceDesk,requestType,participant,status,sla,action"
    full = get(s, f"{base}/request/{reqs[0]['issueKey']}", expand=expand)
    assert {"serviceDesk", "requestType", "participants", "status", "sla", "actions"} <= set(full)
    assert_conforms("jsm", full, SDS + "/request/{issueIdOrKey}")
    assert_conforms("jsm", get(s, f"{base}/request", expand=expand, limit=30), SDS + "/request")
    assert_conforms("jsm", requests.get(base + "/info", timeout=10).json(), SDS + "/info")


def test_server_jira_answers_against_the_cloud_schemas(server: FakeAtlassian) -> None:
    s = session(server)
    start, total = 0, None
    while total is None or start < total:
        body = get(s, server.url + "/rest/api/2/search", jql=JQL_ALL, fields="*all", startAt=start, maxResults=100)
        assert_conforms("jira", body, "/rest/api/3/search")
        total = body["total"]
        start += len(body["issues"])
    assert start == server.data.issue_count()
    assert_conforms("jira", get(s, server.url + "/rest/api/2/field"), "/rest/api/3/field")
    assert_conforms("jira", get(s, server.url + "/rest/api/2/myself"), "/rest/api/3/myself")
    assert_conforms("jira", get(s, server.url + "/rest/api/2/serverInfo"), "/rest/api/3/serverInfo")


def test_documented_exception_old_search_is_410_not_the_documented_200(cloud: FakeAtlassian) -> None:
    doc = checker("jira").doc["paths"]["/rest/api/3/search"]["get"]
    assert doc.get("deprecated") is True and "200" in doc["responses"]
    r = session(cloud).get(cloud.url + "/rest/api/3/search", params={"jql": "project = SDA"}, timeout=10)
    assert r.status_code == 410
    assert set(r.json()) == {"errorMessages"}


def test_documented_exception_experimental_412(cloud: FakeAtlassian) -> None:
    op = checker("jsm").doc["paths"][SDS + "/requesttype"]["get"]
    assert op.get("x-experimental") is True and "412" not in op["responses"]
    s = session(cloud)
    del s.headers["X-ExperimentalApi"]
    assert s.get(cloud.url + SDS + "/requesttype", timeout=10).status_code == 412
