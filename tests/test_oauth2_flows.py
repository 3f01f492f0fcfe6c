"""The OAuth 2.0 grants, site lookup and token store without a server.

The grants and the site lookup are flows (like the Crowd and Okta logins): each test plays
Atlassian by answering the requests the flow yields. The token store and the retry policy
run over a ``requests`` session whose transport adapter plays the token endpoint, so the
settings-file transaction (lock, rotation, adoption) is checked in milliseconds too.
"""

from __future__ import annotations

import json
import time
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from requests.adapters import BaseAdapter

from tap_atlassian.auth.base import AuthError
from tap_atlassian.auth.flow import FlowRequest, FlowResponse, drive
from tap_atlassian.auth.oauth2_grant import AtlassianOAuth2, expiring
from tap_atlassian.auth.oauth2_sites import TokenRefusedError, accessible_resources, pick_site
from tap_atlassian.auth.oauth2_tokens import SECTION, TokenStore
from tap_atlassian.config import ConfigError, Settings
from tap_atlassian.settings_file import SettingsFile

TOKEN_URL = "https://auth.example.com/oauth/token"
API = "https://api.example.com"
SECRET = "client-s3cret"


def settings(tmp_path=None, **extra) -> Settings:
    return Settings.from_config({
        "url": "https://acme.atlassian.net", "auth_scheme": "oauth", "deployment": "cloud",
        "oauth_client_id": "client-1", "oauth_client_secret": SECRET,
        "oauth_token_url": TOKEN_URL, "oauth_authorization_url": "https://auth.example.com/authorize",
        "oauth_api_url": API, "callback_url": "http://localhost:8765/cb",
        "oauth_settings_location": str(tmp_path / "OAuthSettings.txt") if tmp_path else None,
        "max_retries": 2, "retry_initial_wait_seconds": 0, "retry_max_wait_seconds": 0, **extra})


def answer(status: int, body: object = b"", url: str = TOKEN_URL, **headers: str) -> FlowResponse:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    return FlowResponse(status=status, url=url, body=raw, headers=headers)


def play(flow, *answers: FlowResponse) -> tuple[list[FlowRequest], object]:
    """Feed ``answers`` to the flow; (what it sent, what it returned)."""
    sent = [next(flow)]
    for reply in answers:
        try:
            sent.append(flow.send(reply))
        except StopIteration as stop:
            return sent, stop.value
    raise AssertionError("the flow wants more answers")


def fail(flow, *answers: FlowResponse, error=AuthError) -> str:
    with pytest.raises(error) as info:
        play(flow, *answers)
    return str(info.value)


TOKENS = {"access_token": "at-new", "refresh_token": "rt-new", "expires_in": 3600,
          "scope": "read:jira-work offline_access", "token_type": "Bearer"}


# -- the protocol (oauth2_grant) -----------------------------------------------------------

def test_authorization_url_is_atlassians_shape():
    url = AtlassianOAuth2(settings()).authorization_url("read:jira-work offline_access", "st-1")
    parts = urlsplit(url)
    assert f"{parts.scheme}://{parts.netloc}{parts.path}" == "https://auth.example.com/authorize"
    assert parts.query.startswith("audience=api.atlassian.com&")
    assert {k: v[0] for k, v in parse_qs(parts.query).items()} == {
        "audience": "api.atlassian.com", "client_id": "client-1",
        "scope": "read:jira-work offline_access", "redirect_uri": "http://localhost:8765/cb",
        "state": "st-1", "response_type": "code", "prompt": "consent"}
    again = AtlassianOAuth2(settings()).authorization_url("read:jira-work")
    assert parse_qs(urlsplit(again).query)["state"][0]  # a random state when none is given


def test_code_grant_posts_json_and_returns_what_to_store():
    before = time.time()
    sent, stored = play(AtlassianOAuth2(settings()).code_grant("the-code"), answer(200, TOKENS))
    (request,) = sent
    assert (request.method, request.url, request.follow_redirects) == ("POST", TOKEN_URL, False)
    assert request.headers["Content-Type"] == "application/json"
    assert request.json == {"grant_type": "authorization_code", "code": "the-code",
                            "redirect_uri": "http://localhost:8765/cb",
                            "client_id": "client-1", "client_secret": SECRET}
    assert stored["access_token"] == "at-new" and stored["refresh_token"] == "rt-new"
    assert stored["client_id"] == "client-1" and stored["scope"] == TOKENS["scope"]
    assert before + 3590 <= stored["expires_at"] <= time.time() + 3600
    assert stored["obtained_at"].endswith("+00:00")


def test_refresh_grant_spends_the_token_and_keeps_it_when_none_comes_back():
    oauth = AtlassianOAuth2(settings())
    sent, stored = play(oauth.refresh_grant("rt-old"), answer(200, TOKENS))
    assert sent[0].json == {"grant_type": "refresh_token", "refresh_token": "rt-old",
                            "client_id": "client-1", "client_secret": SECRET}  # no scope
    assert stored["refresh_token"] == "rt-new"
    no_rotation = {k: v for k, v in TOKENS.items() if k != "refresh_token"}
    _, kept = play(oauth.refresh_grant("rt-old"), answer(200, no_rotation))
    assert kept["refresh_token"] == "rt-old"


def test_refused_refresh_names_step_url_and_atlassians_words_and_what_to_do():
    refused = {"error": "invalid_grant", "error_description": "Unknown or invalid refresh token."}
    message = fail(AtlassianOAuth2(settings()).refresh_grant("rt-old"), answer(403, refused))
    assert message.startswith(f"oauth (OAuth 2.0): refreshing the access token at {TOKEN_URL} failed: "
                              "403 invalid_grant: Unknown or invalid refresh token.; ")
    assert "tap-atlassian-auth login" in message and "rt-old" not in message and SECRET not in message


def test_code_refused_and_server_down_and_an_answer_without_token():
    oauth = AtlassianOAuth2(settings())
    used = fail(oauth.code_grant("c"), answer(403, {"error": "invalid_grant",
                                                    "error_description": "Invalid authorization code"}))
    assert "exchanging the authorization code" in used and "the code is used once" in used
    page = b"<html><body><h1>Service Unavailable</h1></body></html>"
    down = fail(oauth.code_grant("c"), answer(503, page))
    assert down.endswith("failed: 503 Service Unavailable") and "<" not in down  # no advice on a 5xx
    empty = fail(oauth.code_grant("c"), answer(200, {"token_type": "Bearer"}))
    assert empty.endswith("the answer has no access_token")


def test_expiring_means_within_60_seconds_or_unknown():
    now = time.time()
    assert expiring({"expires_at": now + 45})
    assert not expiring({"expires_at": now + 120})
    assert expiring({"expires_at": now - 5})
    assert expiring({"access_token": "x"})


# -- the site (oauth2_sites) ---------------------------------------------------------------

SITES = [{"id": "c-1", "name": "acme", "url": "https://acme.atlassian.net", "scopes": ["read:jira-work"]},
         {"id": "c-2", "name": "other", "url": "https://other.atlassian.net", "scopes": []}]


def test_accessible_resources_and_picking_the_site():
    sent, resources = play(accessible_resources(API, "at-1", refreshes=True, off=False),
                           answer(200, SITES, url=API))
    assert sent[0].url == f"{API}/oauth/token/accessible-resources"
    assert sent[0].headers["Authorization"] == "Bearer at-1"
    assert pick_site(resources, "https://acme.atlassian.net/wiki/")["id"] == "c-1"
    with pytest.raises(ConfigError) as info:
        pick_site(resources, "https://nope.atlassian.net")
    message = str(info.value)
    assert message.startswith("url: no site this OAuth token can access is https://nope.atlassian.net")
    assert "other https://other.atlassian.net (cloud id c-2)" in message


def test_accessible_resources_refusals():
    refused = answer(401, {"code": 401, "message": "Unauthorized"}, url=API)
    fail(accessible_resources(API, "at-1", refreshes=True, off=False), refused, error=TokenRefusedError)
    off = fail(accessible_resources(API, "at-1", refreshes=False, off=True), refused)
    assert "401 Unauthorized" in off and "initiate_oauth OFF never refreshes" in off
    again = fail(accessible_resources(API, "at-1", refreshes=False, off=False), refused)
    assert "401 Unauthorized" in again and "OFF" not in again
    assert fail(accessible_resources(API, "at-1", refreshes=True, off=False),
                answer(200, {"sites": []}, url=API)).endswith("expected a JSON list")


# -- the token store and the retry policy over a transport that plays the token endpoint ----

class Endpoint(BaseAdapter):
    """A ``requests`` transport: answers each request with the next of ``replies``
    (a status and JSON body, or an exception to raise); keeps the JSON bodies sent."""

    def __init__(self, *replies) -> None:
        super().__init__()
        self.replies = list(replies)
        self.bodies: list[dict] = []

    def send(self, request, **kwargs):  # noqa: ARG002
        self.bodies.append(json.loads(request.body) if request.body else {})
        reply = self.replies.pop(0)
        if isinstance(reply, Exception):
            raise reply
        status, body = reply
        response = requests.Response()
        response.status_code, response.url, response.request = status, request.url, request
        response._content = json.dumps(body).encode()  # noqa: SLF001
        response.headers["Content-Type"] = "application/json"
        response.reason = {200: "OK", 403: "Forbidden", 503: "Service Unavailable"}.get(status, "")
        return response

    def close(self) -> None:
        pass


def session_with(endpoint: Endpoint) -> requests.Session:
    session = requests.Session()
    session.mount("https://", endpoint)
    return session


def seed(tmp_path, **section) -> SettingsFile:
    file = SettingsFile(tmp_path / "OAuthSettings.txt", SECRET)
    file.save({SECTION: {"client_id": "client-1", "access_token": "at-old", "refresh_token": "rt-old",
                         "expires_at": time.time() + 3600, "scope": "read:jira-work", **section}})
    return file


def test_refresh_saves_the_rotated_pair_before_handing_it_out(tmp_path):
    file = seed(tmp_path, cloud_id="c-1", site_url="https://acme.atlassian.net")
    endpoint = Endpoint((200, TOKENS))
    store = TokenStore(settings(tmp_path), "read:jira-work", session=session_with(endpoint))
    tokens = store.refresh(held="at-old", rejected="at-old")
    assert tokens["access_token"] == "at-new" and store.refreshes == 1
    assert endpoint.bodies[0]["refresh_token"] == "rt-old"
    on_disk = file.load()[SECTION]
    assert on_disk["refresh_token"] == "rt-new" and on_disk["cloud_id"] == "c-1"  # site kept


def test_a_token_another_process_refreshed_is_adopted_without_spending(tmp_path):
    seed(tmp_path, access_token="at-from-elsewhere")
    endpoint = Endpoint()  # any request would fail: there is no answer to give
    store = TokenStore(settings(tmp_path), "read:jira-work", session=session_with(endpoint))
    tokens = store.refresh(held="at-old", rejected="at-old")
    assert tokens["access_token"] == "at-from-elsewhere"
    assert store.refreshes == 0 and endpoint.bodies == []


def test_a_failed_refresh_leaves_the_file_as_it_was(tmp_path):
    file = seed(tmp_path)
    before = file.path.read_bytes()
    refused = {"error": "invalid_grant", "error_description": "Unknown or invalid refresh token."}
    store = TokenStore(settings(tmp_path), "read:jira-work", session=session_with(Endpoint((403, refused))))
    with pytest.raises(AuthError, match="403 invalid_grant"):
        store.refresh(held="at-old", rejected="at-old")
    assert file.path.read_bytes() == before


def test_obtain_refreshes_stored_tokens_near_expiry_and_refuses_an_empty_file_in_refresh_mode(tmp_path):
    seed(tmp_path, expires_at=time.time() + 30)
    store = TokenStore(settings(tmp_path), "s", session=session_with(Endpoint((200, TOKENS))))
    assert store.obtain(desktop=False)["access_token"] == "at-new"
    empty = TokenStore(settings(tmp_path / "b"), "s", session=session_with(Endpoint()))
    with pytest.raises(AuthError, match="no tokens in the settings file .* initiate_oauth is REFRESH"):
        empty.obtain(desktop=False)


def test_the_retry_policy_is_the_clients_and_the_last_answer_reaches_the_flow(tmp_path):
    down = (503, {"message": "down for maintenance"})
    # two retries (max_retries 2): the third answer is used
    endpoint = Endpoint(down, requests.ConnectionError("reset"), (200, TOKENS))
    tokens = drive(AtlassianOAuth2(settings()).code_grant("c"), session_with(endpoint), settings=settings())
    assert tokens["access_token"] == "at-new" and len(endpoint.bodies) == 3
    # retries spent: the flow reads the server's words
    endpoint = Endpoint(down, down, down)
    with pytest.raises(AuthError) as info:
        drive(AtlassianOAuth2(settings()).code_grant("c"), session_with(endpoint), settings=settings())
    assert str(info.value).endswith("failed: 503 down for maintenance") and len(endpoint.bodies) == 3
    # no settings (a flow run outside a tap run): one try
    endpoint = Endpoint(down, (200, TOKENS))
    with pytest.raises(AuthError, match="503"):
        drive(AtlassianOAuth2(settings()).code_grant("c"), session_with(endpoint))
    assert len(endpoint.bodies) == 1
