"""The fake's Atlassian authorization server and gateway behave as docs/AUTH_FLOWS.md says."""

from __future__ import annotations

import requests

from tests.fake_atlassian.idp_oauth2 import CLOUD_ID, OTHER_CLOUD_ID, token_id


def grant(fake, **body):
    return requests.post(fake.url + "/oauth/token", timeout=10, json={
        "client_id": fake.oauth2.client_id, "client_secret": fake.oauth2.client_secret, **body})


def authorize(fake, **query):
    params = {"audience": "api.atlassian.com", "client_id": fake.oauth2.client_id,
              "scope": "read:jira-work offline_access", "redirect_uri": "http://localhost:9/cb",
              "state": "st", "response_type": "code", "prompt": "consent", **query}
    return requests.get(fake.url + "/authorize", params=params, allow_redirects=False, timeout=10)


def test_code_flow_rotation_grace_and_rejection(fake_cloud):
    fake = fake_cloud
    answer = authorize(fake)
    assert answer.status_code == 302
    location = answer.headers["Location"]
    assert location.startswith("http://localhost:9/cb?code=") and location.endswith("&state=st")
    code = location.split("code=")[1].split("&")[0]

    assert grant(fake, grant_type="authorization_code", code=code,
                 redirect_uri="http://localhost:9/other").status_code == 403
    first = grant(fake, grant_type="authorization_code", code=code, redirect_uri="http://localhost:9/cb")
    assert first.status_code == 403  # the failed attempt above used the code up
    code = authorize(fake).headers["Location"].split("code=")[1].split("&")[0]
    first = grant(fake, grant_type="authorization_code", code=code, redirect_uri="http://localhost:9/cb")
    assert first.status_code == 200
    tokens = first.json()
    assert set(tokens) == {"access_token", "refresh_token", "expires_in", "scope", "token_type"}

    second = grant(fake, grant_type="refresh_token", refresh_token=tokens["refresh_token"]).json()
    assert second["refresh_token"] != tokens["refresh_token"]
    # within the grace window the old one still works once more ...
    assert grant(fake, grant_type="refresh_token", refresh_token=tokens["refresh_token"]).status_code == 200
    # ... after it, 403 invalid_grant with Atlassian's words
    fake.oauth2.grace_seconds = 0
    late = grant(fake, grant_type="refresh_token", refresh_token=tokens["refresh_token"])
    assert late.status_code == 403
    assert late.json() == {"error": "invalid_grant", "error_description": "Unknown or invalid refresh token."}
    assert [s["result"] for s in fake.oauth2.spends] == ["rotated", "grace", "rejected"]
    assert fake.oauth2.spent_more_than_once() == [token_id(tokens["refresh_token"])]
    assert tokens["refresh_token"] not in repr(fake.oauth2.spends)


def test_token_endpoint_refuses_bad_clients_and_form_bodies(fake_cloud):
    fake = fake_cloud
    bad = requests.post(fake.url + "/oauth/token", timeout=10, json={
        "grant_type": "refresh_token", "client_id": fake.oauth2.client_id,
        "client_secret": "wrong", "refresh_token": "x"})
    assert bad.status_code == 401
    form = requests.post(fake.url + "/oauth/token", timeout=10, data={"grant_type": "refresh_token"})
    assert form.status_code == 415
    assert authorize(fake, audience="elsewhere").status_code == 400
    fake.oauth2.decision = "deny"
    assert "error=access_denied" in authorize(fake).headers["Location"]


def test_gateway_and_accessible_resources(fake_cloud):
    fake = fake_cloud
    token = fake.oauth2.issue("read:jira-work offline_access")["access_token"]
    bearer = {"Authorization": f"Bearer {token}"}
    sites = requests.get(fake.url + "/oauth/token/accessible-resources", headers=bearer, timeout=10).json()
    assert {s["id"] for s in sites} == {CLOUD_ID, OTHER_CLOUD_ID}
    assert next(s for s in sites if s["id"] == CLOUD_ID)["url"] == fake.url
    assert sites[0]["scopes"] == ["read:jira-work"]

    ok = requests.get(f"{fake.url}/ex/jira/{CLOUD_ID}/rest/api/3/field", headers=bearer, timeout=10)
    assert ok.status_code == 200 and isinstance(ok.json(), list)
    # the site itself does not take 3LO tokens; only the gateway does
    assert requests.get(f"{fake.url}/rest/api/3/field", headers=bearer, timeout=10).status_code == 401
    # a scope the token lacks, an unknown token, an unknown cloud id
    jsm = requests.get(f"{fake.url}/ex/jira/{CLOUD_ID}/rest/servicedeskapi/servicedesk",
                       headers=bearer, timeout=10)
    assert jsm.status_code == 401 and "scope" in jsm.json()["message"]
    assert requests.get(f"{fake.url}/ex/jira/{CLOUD_ID}/rest/api/3/field", timeout=10,
                        headers={"Authorization": "Bearer nope"}).status_code == 401
    assert requests.get(f"{fake.url}/ex/jira/not-a-site/rest/api/3/field", headers=bearer,
                        timeout=10).status_code == 404
    # short life: the token stops working
    fake.oauth2.access_token_max_uses = 1
    assert requests.get(f"{fake.url}/ex/jira/{CLOUD_ID}/rest/api/3/field", headers=bearer,
                        timeout=10).status_code == 401
