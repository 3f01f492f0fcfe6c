"""JQL/CQL subsets and their time-zone semantics, fields handling, 410 on the old search, 412
without the experimental opt-in."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

import pytest
import requests

if TYPE_CHECKING:
    from tests.fake_atlassian import FakeAtlassian

# 2024-07-01T12:00:30Z is 05:00:30 in Los Angeles (PDT, -7) and 17:30:30 in Kolkata (+5:30)
INSTANT = "2024-07-01T12:00:30Z"
INSTANT_MS = 1719835230000


def session(fake: FakeAtlassian) -> requests.Session:
    return fake.client()


def jql_ids(fake: FakeAtlassian, jql: str, status: int = 200) -> list[str] | dict:
    path = "/rest/api/3/search/jql" if fake.flavour == "cloud" else "/rest/api/2/search"
    r = session(fake).get(fake.url + path, params={"jql": jql, "maxResults": 100, "fields": "id"}, timeout=10)
    assert r.status_code == status, r.text
    body = r.json()
    return [i["id"] for i in body["issues"]] if status == 200 else body


@pytest.fixture(params=["cloud", "server"])
def fake(request: pytest.FixtureRequest, fake_factory) -> FakeAtlassian:  # noqa: ANN001
    return fake_factory(flavour=request.param, seed=7)


def test_jql_dates_are_read_in_the_myself_time_zone_at_minute_granularity(fake: FakeAtlassian) -> None:
    ref = fake.control.touch("issue", "SWA-2", at=INSTANT)
    myself = session(fake).get(f"{fake.url}/rest/api/2/myself", timeout=10).json()
    assert myself["timeZone"] == "America/Los_Angeles"
    newer = 'project = SWA AND updated >= "{}"'
    assert ref["id"] in jql_ids(fake, newer.format("2024-07-01 05:00"))  # LA wall clock
    assert ref["id"] in jql_ids(fake, newer.format("2024/07/01 05:00"))
    assert ref["id"] not in jql_ids(fake, newer.format("2024-07-01 05:01"))
    assert ref["id"] not in jql_ids(fake, newer.format("2024-07-01 12:00"))  # UTC wall clock: 7 h later
    assert ref["id"] in jql_ids(fake, 'project = SWA AND updated <= "2024-07-01 05:01"')
    assert ref["id"] not in jql_ids(fake, 'project = SWA AND updated < "2024-07-01 05:00"')
    # epoch milliseconds, unquoted, are instants
    assert ref["id"] in jql_ids(fake, f"project = SWA AND updated >= {INSTANT_MS}")
    assert ref["id"] not in jql_ids(fake, f"project = SWA AND updated > {INSTANT_MS}")
    assert ref["id"] in jql_ids(fake, f"updated >= {INSTANT_MS - 1} AND updated <= {INSTANT_MS}")


def test_jql_time_zone_is_a_constructor_parameter(fake_factory) -> None:  # noqa: ANN001
    fake = fake_factory(jira_tz="Pacific/Kiritimati")  # +14
    ref = fake.control.touch("issue", "SDA-1", at=INSTANT)
    assert ref["id"] in jql_ids(fake, 'updated >= "2024-07-02 02:00"')
    assert ref["id"] not in jql_ids(fake, 'updated >= "2024-07-02 02:01"')


def test_jql_updated_rendering_and_order(fake: FakeAtlassian) -> None:
    s = session(fake)
    path = "/rest/api/3/search/jql" if fake.flavour == "cloud" else "/rest/api/2/search"
    body = s.get(fake.url + path, params={"jql": "project in (SDA, SWB) ORDER BY updated ASC, key ASC",
                                          "fields": "updated,project", "maxResults": 100}, timeout=10).json()
    stamps = [i["fields"]["updated"] for i in body["issues"]]
    assert all(re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}[+-]\d{4}", t) for t in stamps)
    refs = sorted(fake.data.issues(["SDA", "SWB"]), key=lambda r: (r.updated, int(r.id)))
    assert [i["id"] for i in body["issues"]] == [r.id for r in refs]
    assert {i["fields"]["project"]["key"] for i in body["issues"]} == {"SDA", "SWB"}
    desc = jql_ids(fake, "project = SDA ORDER BY id DESC")
    assert desc == sorted(desc, key=int, reverse=True)


@pytest.mark.parametrize(("jql", "message"), [
    ('project = SDA OR updated >= "2024-01-01 00:00"', "OR"),
    ("labels = urgent", "Field 'labels' does not exist"),
    ('updated >= "yesterday"', "Date value 'yesterday'"),
    ('updated >= "-5d"', "Date value"),
    ("project in (NOPE)", "The value 'NOPE' does not exist for the field 'project'."),
    ("project = SDA ORDER BY summary", "Not able to sort using field 'summary'."),
    ("project = SDA AND", "Expecting a field name"),
    ("project ~ SDA", "operator '~'"),
])
def test_jql_outside_the_subset_is_jiras_400(fake: FakeAtlassian, jql: str, message: str) -> None:
    body = jql_ids(fake, jql, status=400)
    assert isinstance(body, dict)
    assert body["errors"] == {}
    assert message in body["errorMessages"][0]


def test_cloud_search_jql_must_be_bounded(fake_cloud: FakeAtlassian) -> None:
    body = jql_ids(fake_cloud, "ORDER BY key DESC", status=400)
    assert "Unbounded JQL" in body["errorMessages"][0]  # type: ignore[index]


def test_fields_handling(fake_cloud: FakeAtlassian, fake_server: FakeAtlassian) -> None:
    c = session(fake_cloud)
    url = fake_cloud.url + "/rest/api/3/search/jql"
    default = c.get(url, params={"jql": "project = SDA", "maxResults": 2}, timeout=10).json()
    assert default["issues"] == [{"id": default["issues"][0]["id"]}, {"id": default["issues"][1]["id"]}]
    named = c.get(url, params={"jql": "project = SDA", "maxResults": 1, "fields": "summary,customfield_10025"},
                  timeout=10).json()["issues"][0]
    assert set(named["fields"]) == {"summary", "customfield_10025"}
    assert named["key"].startswith("SDA-")
    every = c.get(url, params={"jql": "project = SDA", "maxResults": 1, "fields": "*all,-comment"},
                  timeout=10).json()["issues"][0]["fields"]
    assert "comment" not in every
    assert sum(k.startswith("customfield_") for k in every) >= 20
    assert every["description"]["type"] == "doc"  # ADF on v3
    v2 = c.post(fake_cloud.url + "/rest/api/2/search/jql",
                json={"jql": "project = SDA", "maxResults": 1, "fields": ["description"]}, timeout=10).json()
    assert isinstance(v2["issues"][0]["fields"]["description"], str)  # wiki markup on v2
    server = session(fake_server).get(fake_server.url + "/rest/api/2/search",
                                      params={"jql": "project = SDA", "maxResults": 1}, timeout=10).json()
    fields = server["issues"][0]["fields"]
    assert "summary" in fields and "comment" not in fields  # *navigable by default
    assert isinstance(fields["description"], str)
    assert "accountId" not in fields["reporter"] and fields["reporter"]["name"]


@pytest.mark.parametrize("path", ["/rest/api/3/search", "/rest/api/2/search"])
@pytest.mark.parametrize("method", ["GET", "POST"])
def test_old_search_is_gone_on_cloud(fake_cloud: FakeAtlassian, path: str, method: str) -> None:
    r = session(fake_cloud).request(method, fake_cloud.url + path, params={"jql": "project = SDA"},
                                    json={"jql": "project = SDA"} if method == "POST" else None, timeout=10)
    assert r.status_code == 410
    assert "CHANGE-2046" in r.json()["errorMessages"][0]
    assert "/rest/api/3/search/jql" in r.json()["errorMessages"][0]


@pytest.mark.parametrize("flavour", ["cloud", "server"])
def test_experimental_jsm_endpoint_needs_opt_in(fake_factory, flavour: str) -> None:  # noqa: ANN001
    fake = fake_factory(flavour=flavour)
    s = session(fake)
    url = fake.jira_url + "/rest/servicedeskapi/requesttype"
    r = s.get(url, timeout=10)
    assert r.status_code == 412
    assert "X-ExperimentalApi: opt-in" in r.json()["errorMessage"]
    r = s.get(url, headers={"X-ExperimentalApi": "opt-in"}, timeout=10)
    assert r.status_code == 200
    assert r.json()["size"] == 15
    assert fake.log[-1].headers["x-experimentalapi"] == "opt-in"
    # not experimental: no header needed
    assert s.get(fake.jira_url + "/rest/servicedeskapi/request", timeout=10).status_code == 200


def test_jsm_requests_are_the_service_desk_issues(fake_cloud: FakeAtlassian) -> None:
    s = session(fake_cloud)
    ref = fake_cloud.control.touch("issue", "SDB-3", at=INSTANT)
    req = s.get(fake_cloud.url + "/rest/servicedeskapi/request/SDB-3", timeout=10).json()
    assert req["issueId"] == ref["id"]
    assert req["currentStatus"]["statusDate"]["epochMillis"] == INSTANT_MS
    issue = s.get(fake_cloud.url + "/rest/api/3/issue/SDB-3", params={"fields": "updated,summary"}, timeout=10).json()
    assert issue["id"] == req["issueId"]
    assert req["requestFieldValues"][0]["value"] == issue["fields"]["summary"]
    assert jql_ids(fake_cloud, f"project = SDB AND updated >= {INSTANT_MS}") == [ref["id"]]
    assert s.get(fake_cloud.url + "/rest/servicedeskapi/request/SWA-1", timeout=10).status_code == 404


def cql_ids(fake: FakeAtlassian, cql: str, status: int = 200) -> list[str] | dict:
    r = session(fake).get(fake.confluence_url + "/rest/api/content/search", params={"cql": cql, "limit": 100},
                          timeout=10)
    assert r.status_code == status, r.text
    return [c["id"] for c in r.json()["results"]] if status == 200 else r.json()


def test_cql_lastmodified_is_read_in_the_user_time_zone(fake: FakeAtlassian) -> None:
    page = fake.data.pages(["HR"])[2]
    fake.control.touch("page", page.id, at=INSTANT)
    me = session(fake).get(fake.confluence_url + "/rest/api/user/current", timeout=10).json()
    assert me["timeZone"] == "Asia/Kolkata"
    q = 'type = page and space = "HR" and lastmodified >= "{}"'
    assert page.id in cql_ids(fake, q.format("2024-07-01 17:30"))
    assert page.id not in cql_ids(fake, q.format("2024-07-01 17:31"))
    assert page.id in cql_ids(fake, q.format("2024-07-01 17:00"))  # read as UTC it would be 5 h too late
    assert page.id in cql_ids(fake, 'type in (page) and space in ("HR","ENG") and lastmodified <= "2024-07-01 17:31"')
    got = cql_ids(fake, 'type = page and lastmodified >= "2020/01/01" order by lastmodified asc')
    refs = sorted(fake.data.pages(), key=lambda p: (p.modified, int(p.id)))
    assert got == [p.id for p in refs][:100]


@pytest.mark.parametrize("cql", ["type = page or space = HR", "label = x", 'lastmodified >= "now"',
                                 "type = page order by score", ""])
def test_cql_outside_the_subset_is_400(fake: FakeAtlassian, cql: str) -> None:
    body = cql_ids(fake, cql, status=400)
    assert body["statusCode"] == 400  # type: ignore[index]
    assert body["message"].startswith("Could not parse cql")  # type: ignore[index]


def test_touch_bumps_page_version_and_v2_modified_date(fake_cloud: FakeAtlassian) -> None:
    s = session(fake_cloud)
    page = fake_cloud.data.pages()[4]
    fake_cloud.control.touch("page", page.id, at=INSTANT)
    got = s.get(f"{fake_cloud.confluence_url}/api/v2/pages/{page.id}", timeout=10).json()
    assert got["version"]["number"] == page.version + 1
    assert got["version"]["createdAt"] == "2024-07-01T12:00:30.000Z"
    newest = s.get(f"{fake_cloud.confluence_url}/api/v2/pages?sort=-modified-date&limit=1", timeout=10).json()
    assert newest["results"][0]["id"] == page.id


def test_search_index_lag_hides_fresh_writes_from_jql_and_cql_only(fake: FakeAtlassian) -> None:
    s = session(fake)
    fake.control.set_index_lag(600)
    ref = fake.control.touch("issue", "SDC-4")  # written now: not in the search index yet
    old = fake.control.touch("issue", "SDC-5", at=INSTANT)  # an old `updated`, but written now too
    added = fake.control.add("issue", "SDC")
    hits = jql_ids(fake, "project = SDC")
    assert not {ref["id"], old["id"], added["id"]} & set(hits)
    assert len(hits) == len(fake.data.issues(["SDC"])) - 3
    api = "3" if fake.flavour == "cloud" else "2"
    assert s.get(f"{fake.url}/rest/api/{api}/issue/SDC-4", timeout=10).status_code == 200  # direct reads see it
    page = fake.data.pages(["ENG"])[1]
    fake.control.touch("page", page.id)
    assert page.id not in cql_ids(fake, 'type = page and space = "ENG"')
    fake.control.set_index_lag(0)
    assert {ref["id"], old["id"], added["id"]} <= set(jql_ids(fake, "project = SDC"))
    assert page.id in cql_ids(fake, 'type = page and space = "ENG"')
