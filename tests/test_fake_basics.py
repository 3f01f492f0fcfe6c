"""The fake site's core: start-up, URLs per flavour, auth rejection, serverInfo without credentials."""

from __future__ import annotations

import requests

from tests.fake_atlassian import FakeAtlassian


def basic(fake: FakeAtlassian) -> tuple[str, str]:
    c = fake.credentials
    return c["user"], c.get("api_token") or c["password"]


def test_cloud_urls_and_server_info_without_credentials(fake_cloud: FakeAtlassian) -> None:
    assert fake_cloud.jira_url == fake_cloud.url
    assert fake_cloud.confluence_url == fake_cloud.url + "/wiki"
    for v in ("2", "3"):
        r = requests.get(f"{fake_cloud.url}/rest/api/{v}/serverInfo", timeout=5)
        assert r.status_code == 200
        assert r.json()["deploymentType"] == "Cloud"
    assert fake_cloud.log[-1].auth is None


def test_server_context_paths_and_separate_confluence_host(fake_factory) -> None:  # noqa: ANN001
    fake = fake_factory(flavour="server", jira_context="/jira", confluence_context="/confluence",
                        confluence_host="separate", deployment_type="DataCenter")
    assert fake.jira_url == fake.url + "/jira"
    assert fake.confluence_url.startswith("http://localhost:")
    assert fake.confluence_url.endswith("/confluence")
    info = requests.get(fake.jira_url + "/rest/api/2/serverInfo", timeout=5).json()
    assert info["deploymentType"] == "DataCenter"
    auth = basic(fake)
    assert requests.get(fake.confluence_url + "/rest/api/space", auth=auth, timeout=5).status_code == 200
    # Confluence is not served on Jira's host, nor Jira on Confluence's
    assert requests.get(fake.url + "/confluence/rest/api/space", auth=auth, timeout=5).status_code == 404
    base2 = fake.confluence_url.rsplit("/confluence", 1)[0]
    assert requests.get(base2 + "/jira/rest/api/2/myself", auth=auth, timeout=5).status_code == 404
    assert requests.get(fake.jira_url + "/rest/api/2/myself", auth=auth, timeout=5).status_code == 200


def test_basic_and_pat_accepted_and_logged_without_secrets(fake_cloud: FakeAtlassian) -> None:
    r = requests.get(fake_cloud.url + "/rest/api/3/myself", auth=basic(fake_cloud), timeout=5)
    assert r.status_code == 200
    assert r.json()["timeZone"] == "America/Los_Angeles"
    pat = fake_cloud.credentials["personal_access_token"]
    r = requests.get(fake_cloud.confluence_url + "/rest/api/user/current",
                     headers={"Authorization": f"Bearer {pat}"}, timeout=5)
    assert r.status_code == 200
    assert r.json()["timeZone"] == "Asia/Kolkata"
    kinds = [(e.auth, e.auth_scheme) for e in fake_cloud.log]
    assert kinds == [("basic", "Basic"), ("pat", "Bearer")]
    dumped = repr(fake_cloud.control.read_log())
    for secret in (fake_cloud.credentials["api_token"], pat):
        assert secret not in dumped


def test_wrong_or_missing_credentials_get_atlassians_401(fake_cloud: FakeAtlassian, fake_server: FakeAtlassian) -> None:
    r = requests.get(fake_cloud.url + "/rest/api/3/myself", auth=("x@example.com", "nope"), timeout=5)
    assert r.status_code == 401
    assert r.text.startswith("Basic authentication with passwords is deprecated.")
    assert r.headers["Content-Type"].startswith("text/plain")
    r = requests.get(fake_cloud.url + "/rest/api/3/myself", timeout=5)
    assert r.status_code == 401
    assert r.text == "Client must be authenticated to access this resource."
    r = requests.get(fake_cloud.confluence_url + "/api/v2/spaces", timeout=5)
    assert r.status_code == 401
    assert r.json() == {"code": 401, "message": "Unauthorized"}
    r = requests.get(fake_server.url + "/rest/api/2/search?jql=project=SDA",
                     headers={"Authorization": "Bearer wrong"}, timeout=5)
    assert r.status_code == 401
    assert r.json()["errorMessages"] == [
        "You are not authenticated. Authentication required to perform this operation."]
    assert r.headers["X-Seraph-LoginReason"] == "AUTHENTICATED_FAILED"
    r = requests.get(fake_server.url + "/rest/api/space", auth=(fake_server.credentials["user"], "bad"), timeout=5)
    assert r.status_code == 401
    assert "Basic Authentication Failure - Reason : AUTHENTICATED_FAILED" in r.text  # Tomcat's HTML page
    r = requests.get(fake_server.url + "/rest/api/space", timeout=5)
    assert r.status_code == 401
    assert r.json()["statusCode"] == 401
    assert all(e.status == 401 and e.auth is None for e in fake_server.log)


def test_revoked_credentials_are_refused_until_restored(fake_server: FakeAtlassian) -> None:
    pat = {"Authorization": "Bearer " + fake_server.credentials["personal_access_token"]}
    url = fake_server.url + "/rest/api/2/myself"
    fake_server.control.revoke("pat")
    assert requests.get(url, headers=pat, timeout=5).status_code == 401
    assert requests.get(url, auth=basic(fake_server), timeout=5).status_code == 200
    fake_server.control.restore()
    assert requests.get(url, headers=pat, timeout=5).status_code == 200


def test_same_seed_same_data_other_seed_other_data() -> None:
    a = FakeAtlassian(seed=3)
    b = FakeAtlassian(seed=3)
    c = FakeAtlassian(seed=4)
    assert [i.updated for i in a.data.issues()] == [i.updated for i in b.data.issues()]
    assert [i.updated for i in a.data.issues()] != [i.updated for i in c.data.issues()]


def test_stop_hangs_up_on_keep_alive_clients() -> None:
    import threading

    before = set(threading.enumerate())
    fake = FakeAtlassian().start()
    s = fake.client()
    assert s.get(fake.url + "/rest/api/3/myself", timeout=5).status_code == 200  # connection kept alive
    started = set(threading.enumerate()) - before
    assert len(started) >= 2  # the listener and the keep-alive connection's handler
    fake.stop()
    for t in started:
        t.join(timeout=5)
    assert [t for t in started if t.is_alive()] == []


def test_concurrent_clients_while_data_changes(fake_factory) -> None:  # noqa: ANN001
    from concurrent.futures import ThreadPoolExecutor

    fake = fake_factory(issues=300, pages=120)

    def walk(n: int) -> int:
        s = fake.client()
        seen = 0
        for _ in range(3):
            token = None
            while True:
                params = {"jql": "updated >= 0 ORDER BY updated ASC", "maxResults": 50, "fields": "summary,updated"}
                if token:
                    params["nextPageToken"] = token
                body = s.get(fake.url + "/rest/api/3/search/jql", params=params, timeout=30).json()
                seen += len(body["issues"])
                token = body.get("nextPageToken")
                if not token:
                    break
            assert s.get(fake.confluence_url + "/api/v2/pages?limit=250", timeout=30).status_code == 200
            assert s.get(fake.url + "/rest/servicedeskapi/request?limit=100", timeout=30).status_code == 200
        return seen

    with ThreadPoolExecutor(4) as pool:
        futures = [pool.submit(walk, n) for n in range(4)]
        for i, ref in enumerate(fake.data.issues()[:40]):
            fake.control.touch("issue", ref.key)
            fake.control.touch("page", fake.data.pages()[i].id)
        results = [f.result() for f in futures]
    assert all(r >= 3 * 250 for r in results)
    assert {e.status for e in fake.log} == {200}


def test_render_cache_size_is_a_constructor_option(fake_factory) -> None:  # noqa: ANN001
    unbounded = fake_factory(issues=50, render_cache=None)
    small = fake_factory(issues=50, render_cache=3)
    for fake in (unbounded, small):
        fake.client().get(fake.url + "/rest/api/3/search/jql", params={"jql": "updated >= 0", "fields": "*all"},
                          timeout=10)
    assert unbounded.jira._issue_bytes.cache_info().currsize == 50
    assert small.jira._issue_bytes.cache_info().currsize == 3


def test_malformed_json_body_is_a_400(fake_cloud: FakeAtlassian) -> None:
    r = fake_cloud.client().post(fake_cloud.url + "/rest/api/3/search/jql", data=b"{not json",
                                 headers={"Content-Type": "application/json"}, timeout=5)
    assert r.status_code == 400
    assert r.json()["errorMessages"][0].startswith("Unexpected character")


def test_identity_module_seams(fake_factory) -> None:  # noqa: ANN001
    from tests.fake_atlassian import FakeHTTPError, FakeRequest, FakeResponse, Identity

    fake = fake_factory(flavour="server", install_idp=False)

    def token_auth(req: FakeRequest) -> Identity | None:
        value = req.headers.get("x-test-token")
        if value == "refused":
            raise FakeHTTPError(403, {"errorMessages": ["token refused"]})
        return Identity("test-token", "tester") if value == "ok" else None

    def gateway(req: FakeRequest) -> FakeResponse:  # re-dispatches an inner path, like OAuth 2.0's
        inner = FakeRequest(method=req.method, path=req.params["rest"], raw_query=req.raw_query,
                            headers=req.headers, body=req.body, host=req.host, base_url=req.base_url)
        return fake.dispatch(inner)

    fake.add_authenticator(token_auth)
    fake.route("GET", r"/ex/jira(?P<rest>/.*)", gateway, auth=False)
    fake.route("GET", r"/rest/api/2/serverInfo", lambda req: FakeResponse(json={"overridden": True}), auth=False)
    ok = requests.get(fake.url + "/ex/jira/rest/api/2/myself", headers={"X-Test-Token": "ok"}, timeout=5)
    assert ok.status_code == 200 and ok.json()["name"] == fake.data.demo_user["name"]
    assert requests.get(fake.url + "/rest/api/2/myself", headers={"X-Test-Token": "refused"}, timeout=5).status_code == 403
    assert requests.get(fake.url + "/rest/api/2/myself", headers={"X-Test-Token": "nope"}, timeout=5).status_code == 401
    assert requests.get(fake.url + "/rest/api/2/serverInfo", timeout=5).json() == {"overridden": True}  # later wins
    assert [e.path for e in fake.log] == ["/ex/jira/rest/api/2/myself", "/rest/api/2/myself", "/rest/api/2/myself",
                                          "/rest/api/2/serverInfo"]  # the inner request is not logged again


def test_seeded_json_is_identical_across_processes() -> None:
    import os
    import subprocess
    import sys
    from pathlib import Path

    script = (
        "import hashlib, orjson\n"
        "from tests.fake_atlassian.data import Store\n"
        "from tests.fake_atlassian.jira_objects import IssueBuilder\n"
        "from tests.fake_atlassian.confluence_objects import PageBuilder\n"
        "s = Store(7, 'small'); s.jira_url = 'http://x'; s.confluence_url = 'http://x/wiki'\n"
        "b, p = IssueBuilder(s), PageBuilder(s, cloud=True)\n"
        "h = hashlib.sha256()\n"
        "for i in range(60): h.update(orjson.dumps(b.issue(i, '3')))\n"
        "for i in range(45): h.update(orjson.dumps(p.v2_page(i, 'storage')))\n"
        "print(h.hexdigest())\n"
    )
    root = Path(__file__).resolve().parent.parent
    digests = {subprocess.run([sys.executable, "-c", script], cwd=root, capture_output=True, text=True, check=True,
                              env={**os.environ, "PYTHONHASHSEED": str(n)}).stdout for n in (1, 2)}
    assert len(digests) == 1
