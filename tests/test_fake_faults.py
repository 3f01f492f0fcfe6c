"""Fault injection, the control API (Python and /__fake__/ HTTP), sessions and the request log."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

import pytest
import requests

from tests.fake_atlassian import Identity

if TYPE_CHECKING:
    from tests.fake_atlassian import FakeAtlassian


def session(fake: FakeAtlassian) -> requests.Session:
    return fake.client()


def test_n_times_429_with_retry_after_then_ok(fake_cloud: FakeAtlassian) -> None:
    s = session(fake_cloud)
    fault = fake_cloud.control.inject(r"/search/jql", "429", times=2, retry_after=3)
    url = fake_cloud.url + "/rest/api/3/search/jql?jql=project%3DSDA"
    for _ in range(2):
        r = s.get(url, timeout=10)
        assert r.status_code == 429
        assert r.headers["Retry-After"] == "3"
        reset = r.headers["X-RateLimit-Reset"]
        assert time.strptime(reset, "%Y-%m-%dT%H:%MZ")
        assert r.json()["errorMessages"]
    assert s.get(url, timeout=10).status_code == 200
    assert fault.hits == 2
    assert [e.status for e in fake_cloud.log.find("/search/jql")] == [429, 429, 200]


def test_429_without_retry_after_and_503_with(fake_cloud: FakeAtlassian) -> None:
    s = session(fake_cloud)
    fake_cloud.control.inject(r"/api/v2/pages", "429", retry_after=None)
    fake_cloud.control.inject(r"/api/v2/pages", "503", retry_after=2)
    url = fake_cloud.confluence_url + "/api/v2/pages"
    r = s.get(url, timeout=10)
    assert r.status_code == 429 and "Retry-After" not in r.headers
    r = s.get(url, timeout=10)
    assert r.status_code == 503 and r.headers["Retry-After"] == "2"
    assert s.get(url, timeout=10).status_code == 200


def test_403_and_404_on_one_space_only(fake_cloud: FakeAtlassian) -> None:
    s = session(fake_cloud)
    hr = fake_cloud.data.space("HR")["id"]
    fake_cloud.control.inject(rf"space-id={hr}\b", "403", times=None)
    fake_cloud.control.inject(r"/rest/servicedeskapi/request/SDB-2$", "404", times=None)
    base = fake_cloud.confluence_url + "/api/v2/pages"
    r = s.get(base, params={"space-id": hr}, timeout=10)
    assert r.status_code == 403
    assert s.get(base, params={"space-id": fake_cloud.data.space("ENG")["id"]}, timeout=10).status_code == 200
    assert s.get(base, params={"space-id": hr}, timeout=10).status_code == 403  # until cleared
    assert s.get(fake_cloud.url + "/rest/servicedeskapi/request/SDB-2", timeout=10).status_code == 404
    assert s.get(fake_cloud.url + "/rest/servicedeskapi/request/SDB-1", timeout=10).status_code == 200
    fake_cloud.control.clear_faults()
    assert s.get(base, params={"space-id": hr}, timeout=10).status_code == 200


def test_truncated_body_breaks_the_read(fake_server: FakeAtlassian) -> None:
    s = session(fake_server)
    fake_server.control.inject(r"/rest/api/2/search", "truncated")
    url = fake_server.url + "/rest/api/2/search?jql=project%3DSDA&fields=*all"
    with pytest.raises((requests.exceptions.ChunkedEncodingError, requests.exceptions.ConnectionError)):
        s.get(url, timeout=10).json()
    assert s.get(url, timeout=10).json()["total"] == 12


def test_non_json_body(fake_server: FakeAtlassian) -> None:
    s = session(fake_server)
    fake_server.control.inject(r"/rest/api/space", "non_json")
    r = s.get(fake_server.url + "/rest/api/space", timeout=10)
    assert r.status_code == 200
    assert r.headers["Content-Type"].startswith("text/html")
    with pytest.raises(requests.exceptions.JSONDecodeError):
        r.json()


def test_unauthorized_fault_acts_like_an_expired_token(fake_cloud: FakeAtlassian) -> None:
    s = session(fake_cloud)
    fake_cloud.control.inject(r"/myself", "unauthorized")
    r = s.get(fake_cloud.url + "/rest/api/3/myself", timeout=10)
    assert r.status_code == 401
    assert r.text == "Client must be authenticated to access this resource."
    assert s.get(fake_cloud.url + "/rest/api/3/myself", timeout=10).status_code == 200


def test_latency_fault_and_method_filter(fake_cloud: FakeAtlassian) -> None:
    s = session(fake_cloud)
    fault = fake_cloud.control.inject(r"/search/jql", "latency", times=1, ms=20, method="POST")
    url = fake_cloud.url + "/rest/api/3/search/jql"
    assert s.get(url, params={"jql": "project=SDA"}, timeout=10).status_code == 200
    assert fault.hits == 0  # GET does not match a POST fault
    assert s.post(url, json={"jql": "project=SDA"}, timeout=10).status_code == 200
    assert fault.hits == 1


def test_expired_sessions(fake_server: FakeAtlassian) -> None:
    sid = fake_server.new_session(Identity("session", "ada.lovelace"))
    url = fake_server.url + "/rest/api/2/myself"
    assert requests.get(url, cookies={"JSESSIONID": sid}, timeout=10).status_code == 200
    assert fake_server.log[-1].auth == "session"
    assert fake_server.log[-1].cookies == ("JSESSIONID",)
    assert fake_server.control.expire_sessions() >= 1
    assert requests.get(url, cookies={"JSESSIONID": sid}, timeout=10).status_code == 401
    assert sid not in repr(fake_server.control.read_log())


def test_http_control_api(fake_cloud: FakeAtlassian) -> None:
    s = session(fake_cloud)
    ctl = fake_cloud.url + "/__fake__/"
    info = requests.get(ctl + "info", timeout=10).json()
    assert info["jira_url"] == fake_cloud.jira_url and info["issues"] == 60
    touched = requests.post(ctl + "touch", json={"kind": "issue", "id": "SWB-1", "at": 1719835230000},
                            timeout=10).json()
    assert touched["updated"] == 1719835230000
    added = requests.post(ctl + "add", json={"kind": "issue", "container": "SDA"}, timeout=10).json()
    assert added["key"] == "SDA-13"
    page = requests.post(ctl + "add", json={"kind": "page", "container": "ENG"}, timeout=10).json()
    assert s.get(f"{fake_cloud.confluence_url}/api/v2/pages/{page['id']}", timeout=10).status_code == 200
    assert requests.post(ctl + "delete", json={"kind": "issue", "id": "SDA-13"}, timeout=10).status_code == 200
    assert s.get(fake_cloud.url + "/rest/api/3/issue/SDA-13", timeout=10).status_code == 404
    ids = s.get(fake_cloud.url + "/rest/api/3/search/jql", params={"jql": "project = SDA", "maxResults": 100},
                timeout=10).json()["issues"]
    assert added["id"] not in {i["id"] for i in ids} and len(ids) == 12
    requests.post(ctl + "faults", json={"path": "/rest/api/3/field", "kind": "503", "times": 1}, timeout=10)
    assert s.get(fake_cloud.url + "/rest/api/3/field", timeout=10).status_code == 503
    requests.post(ctl + "faults", json={"path": "/rest/api/3/field", "kind": "429", "times": None}, timeout=10)
    assert requests.delete(ctl + "faults", timeout=10).status_code == 200
    assert s.get(fake_cloud.url + "/rest/api/3/field", timeout=10).status_code == 200
    assert requests.post(ctl + "latency", json={"ms": 0}, timeout=10).json() == {"ok": True}
    assert requests.post(ctl + "revoke", json={"kind": "basic"}, timeout=10).status_code == 200
    assert s.get(fake_cloud.url + "/rest/api/3/field", timeout=10).status_code == 401
    requests.post(ctl + "restore", json={}, timeout=10)
    log = requests.get(ctl + "log", timeout=10).json()
    assert [e["status"] for e in log][-3:] == [503, 200, 401]
    assert all(not e["path"].startswith("/__fake__") for e in log)
    assert requests.delete(ctl + "log", timeout=10).status_code == 200
    assert requests.get(ctl + "log", timeout=10).json() == []
    bad = requests.post(ctl + "touch", json={"kind": "issue", "id": "NOPE-1"}, timeout=10)
    assert bad.status_code == 400
    assert requests.post(ctl + "faults", json={"path": "x", "kind": "teapot"}, timeout=10).status_code == 400
    assert requests.get(ctl + "nothing", timeout=10).status_code == 404
    assert requests.post(ctl + "touch", data=b"{oops", timeout=10).status_code == 400


def test_log_records_what_the_server_saw(fake_cloud: FakeAtlassian) -> None:
    s = session(fake_cloud)
    s.headers["User-Agent"] = "tap-atlassian-test"
    s.get(fake_cloud.url + "/rest/api/3/search/jql", params={"jql": "project = SDA", "fields": "summary"}, timeout=10)
    e = fake_cloud.log[-1]
    assert (e.method, e.path, e.status, e.auth, e.product) == ("GET", "/rest/api/3/search/jql", 200, "basic", "jira")
    assert e.arg("jql") == "project = SDA" and e.query["fields"] == ["summary"]
    assert e.headers["user-agent"] == "tap-atlassian-test"
    assert e.user == fake_cloud.credentials["user"]
    assert e.time > 0
    s.get(fake_cloud.confluence_url + "/api/v2/spaces", timeout=10)
    assert fake_cloud.log[-1].product == "confluence"


def test_fault_patterns_also_match_the_decoded_query(fake_cloud: FakeAtlassian) -> None:
    s = session(fake_cloud)
    fake_cloud.control.inject(r"project (=|in \().*SWB", "403", times=None)
    url = fake_cloud.url + "/rest/api/3/search/jql"
    assert s.get(url, params={"jql": "project = SWB"}, timeout=10).status_code == 403
    assert s.post(url, json={"jql": "project = SWB"}, timeout=10).status_code == 200  # body is not matched
    assert s.get(url, params={"jql": "project in (SDA, SWB)"}, timeout=10).status_code == 403
    assert s.get(url, params={"jql": "project = SDA"}, timeout=10).status_code == 200
