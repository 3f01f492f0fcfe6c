"""The fake's Jira catalog endpoints (tests/fake_atlassian/jira_catalog.py): every answer validates
against the Jira Cloud v3 document (no undeclared key), paging returns every seeded object once,
filters and hidden projects behave as documented, Cloud and Server/DC.

Server/DC has no OpenAPI document: its answers are checked against the Cloud schemas of the same
objects (`Project`, `Version`, `ProjectComponent`, `User`, `FoundGroups`...), except what Jira DC
sends and the Cloud document does not declare: users' `deleted` flag and projects' `projectKeys`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest

from tests.fake_atlassian import FakeAtlassian
from tests.fake_atlassian.jira_catalog_data import GROUPS, RESOLUTIONS, group_id
from tests.specs.validate import assert_conforms

if TYPE_CHECKING:
    from collections.abc import Iterator

    import requests

V3 = "/rest/api/3"
V2 = "/rest/api/2"


@pytest.fixture(scope="module")
def cloud() -> Iterator[FakeAtlassian]:
    with FakeAtlassian(flavour="cloud", seed=11, size="small") as fake:
        yield fake


@pytest.fixture(scope="module")
def server() -> Iterator[FakeAtlassian]:
    with FakeAtlassian(flavour="server", seed=11, size="small", jira_context="/jira") as fake:
        yield fake


def get(s: requests.Session, url: str, status: int = 200, **params: Any) -> Any:
    r = s.get(url, params=params, timeout=30)
    assert r.status_code == status, r.text[:300]
    return r.json()


def pages(s: requests.Session, url: str, spec_path: str, size: int, **params: Any) -> list[dict]:
    """Every value of a PageBean endpoint, each page validated."""
    out: list[dict] = []
    start = 0
    while True:
        body = get(s, url, startAt=start, maxResults=size, **params)
        assert_conforms("jira", body, spec_path)
        assert body["startAt"] == start and body["total"] >= len(body["values"])
        out += body["values"]
        if body["isLast"]:
            assert "nextPage" not in body
            return out
        assert body["nextPage"]
        start += len(body["values"])


@pytest.mark.parametrize("size", [3, 100])
def test_cloud_paged_endpoints_every_object_once_and_conform(cloud: FakeAtlassian, size: int) -> None:
    s = cloud.client()
    u = cloud.url + V3
    projects = pages(s, u + "/project/search", f"{V3}/project/search", size,
                     expand="description,lead,issueTypes,url,projectKeys,insight")
    assert [p["key"] for p in projects] == sorted(p["key"] for p in cloud.data.projects)
    for p in projects:
        assert p["description"] and p["lead"]["accountId"] and p["issueTypes"] and p["url"]
        assert "insight" in p and "projectKeys" not in p  # Cloud's `Project` declares none
    assert any("projectCategory" in p for p in projects) and any("projectCategory" not in p for p in projects)
    catalog = cloud.jira_catalog.data
    for p in cloud.data.projects:
        versions = pages(s, f"{u}/project/{p['id']}/version", f"{V3}/project/{{projectIdOrKey}}/version", size)
        assert [v["id"] for v in versions] == [v.id for v in catalog.versions[p["idx"]]]
        assert all(v["projectId"] == int(p["id"]) for v in versions)
        listed = get(s, f"{u}/project/{p['key']}/versions")
        assert_conforms("jira", listed, f"{V3}/project/{{projectIdOrKey}}/versions")
        assert [v["id"] for v in listed] == [v["id"] for v in versions]
        comps = pages(s, f"{u}/project/{p['id']}/component", f"{V3}/project/{{projectIdOrKey}}/component", size)
        assert [c["id"] for c in comps] == [c.id for c in catalog.components[p["idx"]]]
        assert all(c["projectId"] == int(p["id"]) and c["project"] == p["key"] for c in comps)
        assert_conforms("jira", get(s, f"{u}/project/{p['id']}/components"), f"{V3}/project/{{projectIdOrKey}}/components")
    assert len(catalog.versions[0]) > 10 and len(catalog.components[0]) > 5
    assert catalog.versions[len(cloud.data.projects) - 1] == []
    resolutions = pages(s, u + "/resolution/search", f"{V3}/resolution/search", size)
    assert [r["id"] for r in resolutions] == [r[0] for r in RESOLUTIONS]
    groups = pages(s, u + "/group/bulk", f"{V3}/group/bulk", size)
    assert [(g["name"], g["groupId"]) for g in groups] == [(g, group_id(g)) for g in GROUPS]


@pytest.mark.parametrize("size", [5, 1000])
def test_cloud_users_search_is_a_bare_list_until_empty(cloud: FakeAtlassian, size: int) -> None:
    s = cloud.client()
    seen: list[str] = []
    start = 0
    while True:
        body = get(s, cloud.url + V3 + "/users/search", startAt=start, maxResults=size)
        assert_conforms("jira", body, f"{V3}/users/search")
        if not body:
            break
        seen += [u["accountId"] for u in body]
        start += len(body)
    assert seen == [u["account_id"] for u in cloud.data.users]


def test_cloud_lookup_lists_conform(cloud: FakeAtlassian) -> None:
    s = cloud.client()
    for path in ("/issuetype", "/status", "/priority", "/resolution", "/project"):
        body = get(s, cloud.url + V3 + path)
        assert body, path
        assert_conforms("jira", body, V3 + path)
    assert_conforms("jira", get(s, cloud.url + V3 + "/groups/picker", query="jira"), f"{V3}/groups/picker")


def test_cloud_project_search_filters(cloud: FakeAtlassian) -> None:
    s = cloud.client()
    url = cloud.url + V3 + "/project/search"
    assert [p["key"] for p in get(s, url, keys=["SWB", "SDA"])["values"]] == ["SDA", "SWB"]
    assert [p["key"] for p in get(s, url, keys="SWB,SDA", orderBy="-key")["values"]] == ["SWB", "SDA"]
    assert "description" not in get(s, url)["values"][0]  # expansions only when asked
    assert get(s, url, maxResults=500)["maxResults"] == 100
    get(s, url, 400, keys=[f"K{i}" for i in range(51)])


def test_hidden_project_leaves_listings_and_answers_404(cloud: FakeAtlassian) -> None:
    s = cloud.client()
    catalog = cloud.jira_catalog
    catalog.hide_project("SWA")
    try:
        keys = [p["key"] for p in get(s, cloud.url + V3 + "/project/search")["values"]]
        assert "SWA" not in keys and "SWB" in keys
        assert "SWA" not in [p["key"] for p in get(s, cloud.url + V3 + "/project")]
        body = get(s, cloud.url + V3 + "/project/SWA/version", 404)
        assert body["errorMessages"] == ["No project could be found with key 'SWA'."]
        get(s, cloud.url + V3 + "/project/99999/components", 404)
    finally:
        catalog.hide_project("SWA", hidden=False)
    assert get(s, cloud.url + V3 + "/project/SWA/version")["values"] is not None


def test_server_endpoints_conform_and_list_everything(server: FakeAtlassian) -> None:
    s = server.client()
    u = server.jira_url + V2
    projects = get(s, u + "/project", expand="description,lead,url,projectKeys,issueTypes")
    assert all(p.pop("projectKeys") == [p["key"]] for p in projects)  # DC only: Cloud's `Project` has none
    assert_conforms("jira", projects, f"{V3}/project")
    assert [p["key"] for p in projects] == sorted(p["key"] for p in server.data.projects)
    assert all(p["lead"]["key"] and "accountId" not in p["lead"] and p["issueTypes"] for p in projects)
    catalog = server.jira_catalog.data
    for p in server.data.projects:
        versions = get(s, f"{u}/project/{p['id']}/versions")
        assert_conforms("jira", versions, f"{V3}/project/{{projectIdOrKey}}/versions")
        assert [v["id"] for v in versions] == [v.id for v in catalog.versions[p["idx"]]]
        comps = get(s, f"{u}/project/{p['key']}/components")
        assert_conforms("jira", comps, f"{V3}/project/{{projectIdOrKey}}/components")
        assert [c["id"] for c in comps] == [c.id for c in catalog.components[p["idx"]]]
        assert all("leadAccountId" not in c for c in comps)
    for path in ("/issuetype", "/status", "/priority", "/resolution"):
        assert_conforms("jira", get(s, u + path), V3 + path)
    # paged forms are Cloud-only
    get(s, u + "/project/search", 404)
    get(s, u + "/users/search", 404)


def test_server_user_search(server: FakeAtlassian) -> None:
    s = server.client()
    url = server.jira_url + V2 + "/user/search"
    everyone = get(s, url, username=".", includeInactive="true", maxResults=1000)
    assert all(x.pop("deleted") is False for x in everyone)  # DC only: Cloud's `User` has none
    assert_conforms("jira", everyone, f"{V3}/user/search")
    assert [x["key"] for x in everyone] == [x["key"] for x in server.data.users]
    active = get(s, url, username=".", maxResults=1000)
    assert len(active) == len(everyone) - 1  # one seeded user is inactive
    assert [x["key"] for x in get(s, url, username=".", includeInactive="true", startAt=4, maxResults=3)] == \
        [x["key"] for x in server.data.users[4:7]]
    get(s, url, 400)  # username is required


def test_server_group_picker_is_capped(server: FakeAtlassian) -> None:
    s = server.client()
    url = server.jira_url + V2 + "/groups/picker"
    body = get(s, url, maxResults=1000)
    assert_conforms("jira", body, f"{V3}/groups/picker")
    assert [g["name"] for g in body["groups"]] == GROUPS and body["total"] == len(GROUPS)
    server.jira_catalog.group_picker_limit = 5
    try:
        body = get(s, url, maxResults=1000)
        assert len(body["groups"]) == 5 and body["total"] == len(GROUPS)
        assert body["header"] == f"Showing 5 of {len(GROUPS)} matching groups"
    finally:
        server.jira_catalog.group_picker_limit = 20
    assert [g["name"] for g in get(s, url, query="jira-")["groups"]] == [g for g in GROUPS if "jira-" in g]
