"""Atlassian's OAuth 2.0 (3LO) authorization server and API gateway, on the fake site.

``install(fake)`` (called by the fake at start-up) adds, on the main listener, what
``auth.atlassian.com`` and ``api.atlassian.com`` do (docs/AUTH_FLOWS.md "oauth, oauth_version
2.0"; docs/ATLASSIAN_API.md section 6). Point the tap at them with::

    oauth_authorization_url = fake.url + "/authorize"
    oauth_token_url         = fake.url + "/oauth/token"
    oauth_api_url           = fake.url
    url                     = fake.url            # the site's url in accessible-resources

- ``GET /authorize``: checks client, ``audience``, ``response_type=code``, ``redirect_uri``
  and auto-approves as the demo user: 302 to ``redirect_uri?code=..&state=..``. With
  ``fake.oauth2.decision = "deny"``: 302 with ``error=access_denied``.
- ``POST /oauth/token`` (JSON bodies only): ``authorization_code`` (a code is used once,
  for its ``redirect_uri``) and ``refresh_token`` grants. Refresh tokens rotate: each use
  returns a new pair; a rotated token still works for ``grace_seconds`` (Atlassian: 10
  minutes), then answers 403 ``invalid_grant`` "Unknown or invalid refresh token.". A
  refresh token is only issued when ``offline_access`` is in scope.
- ``GET /oauth/token/accessible-resources`` (Bearer): ``fake.oauth2.sites``.
- ``/ex/jira/{cloudId}/...`` and ``/ex/confluence/{cloudId}/...``: the gateway. A valid
  access token (known, not expired, under ``access_token_max_uses``) with the scope the
  path needs is let through to the fake's own Jira / Confluence routes (the inner request
  is dispatched, and logged, like any other with identity kind ``"oauth2"``); anything
  else is a gateway 401 ``{"code": 401, "message": "Unauthorized"}``.

Knobs on ``fake.oauth2`` (set them before the run): ``client_id``, ``client_secret``,
``access_token_lifetime`` (the ``expires_in`` given and enforced, seconds),
``access_token_max_uses`` (a token stops working after this many gateway calls: an
expiry in the middle of a sync without waiting), ``grace_seconds``, ``decision``,
``granted_scopes`` (None: what was asked), ``sites``; ``hold_token_answers()`` makes the
token endpoint issue a new pair and then wait before answering (``held`` is set when one
is waiting; ``release()`` lets it go): the moment to kill a client that has new tokens
server-side but has not written them.

What tests assert on: ``fake.oauth2.spends``, one entry per refresh-token use:
``{"token": <sha256 prefix>, "result": "rotated" | "grace" | "rejected", "time"}``, and
:meth:`OAuth2Server.spent_more_than_once`. Tokens are random; none is ever logged or put
into an error body.
"""

from __future__ import annotations

import hashlib
import hmac
import http.client
import os
import secrets
import sys
import threading
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, urlencode, urlsplit

from tests.fake_atlassian.http import FakeHTTPError, FakeRequest, FakeResponse, Identity

if TYPE_CHECKING:
    from tests.fake_atlassian.site import FakeAtlassian

CLIENT_ID = "fake3LOclientId0001"
CLIENT_SECRET = "fake3LOclientSecret-0001-do-not-log"
CLOUD_ID = "11111111-2222-4333-8444-555555555555"
OTHER_CLOUD_ID = "99999999-8888-4777-8666-555555555555"
GATEWAY_401 = {"code": 401, "message": "Unauthorized"}
SCOPE_401 = {"code": 401, "message": "Unauthorized; scope does not match"}
INVALID_REFRESH = {"error": "invalid_grant", "error_description": "Unknown or invalid refresh token."}
# Gateway path prefix (after /ex/{product}/{cloudId}) -> scopes of which one is needed.
PATH_SCOPES = (
    ("jira", "/rest/servicedeskapi/", ("read:servicedesk-request",)),
    ("jira", "/rest/api/", ("read:jira-work", "read:jira-user")),
    ("confluence", "/wiki/", ("read:confluence-content.all", "read:confluence-content.summary",
                              "read:confluence-space.summary", "search:confluence",
                              "read:space:confluence", "read:page:confluence",
                              "read:confluence-user")),
)


def token_id(token: str) -> str:
    """The name a token goes by in the spend log (a hash prefix, never the token)."""
    return hashlib.sha256(token.encode()).hexdigest()[:16]


@dataclass
class _Refresh:
    scope: str
    state: str = "active"  # "active" | "rotated"
    rotated_at: float = 0.0


@dataclass
class _Access:
    scope: str
    expires_at: float
    uses: int = 0


@dataclass
class OAuth2Server:
    """The state of the fake authorization server (``fake.oauth2``)."""

    fake: Any
    client_id: str = CLIENT_ID
    client_secret: str = CLIENT_SECRET
    access_token_lifetime: float = 3600
    access_token_max_uses: int | None = None
    grace_seconds: float = 600
    decision: str = "approve"
    granted_scopes: str | None = None
    sites: list[dict[str, Any]] = field(default_factory=list)
    spends: list[dict[str, Any]] = field(default_factory=list)
    held: threading.Event = field(default_factory=threading.Event)
    _hold: bool = False
    _release: threading.Event = field(default_factory=threading.Event)
    _codes: dict[str, dict[str, Any]] = field(default_factory=dict)
    _issued_codes: list[str] = field(default_factory=list)
    _refresh: dict[str, _Refresh] = field(default_factory=dict)
    _access: dict[str, _Access] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    # ---------------------------------------------------------------- test helpers

    def hold_token_answers(self) -> None:
        """From now on the token endpoint issues tokens, sets ``held``, and waits."""
        self._release.clear()
        self.held.clear()
        self._hold = True

    def release(self) -> None:
        """Let held token answers go (and stop holding)."""
        self._hold = False
        self._release.set()

    def spent_more_than_once(self) -> list[str]:
        """Refresh tokens (hash ids) presented more than once."""
        seen: dict[str, int] = {}
        for spend in list(self.spends):
            seen[spend["token"]] = seen.get(spend["token"], 0) + 1
        return [tok for tok, n in seen.items() if n > 1]

    def issue(self, scope: str = "read:jira-work offline_access") -> dict[str, Any]:
        """Tokens without a browser (to seed a settings file or ``oauth_access_token``)."""
        with self._lock:
            return self._new_pair(scope)

    def all_secrets(self) -> list[str]:
        """Every code and token issued so far, and the client secret: none may be printed."""
        with self._lock:
            return [self.client_secret, *self._issued_codes, *self._access, *self._refresh]

    def tap_config(self, settings_location: str, **extra: Any) -> dict[str, Any]:
        """A tap config that logs in to this fake with OAuth 2.0 (add or override with extra)."""
        url = self.fake.url
        return {"url": url, "auth_scheme": "oauth", "oauth_version": "2.0",
                "oauth_client_id": self.client_id, "oauth_client_secret": self.client_secret,
                "oauth_authorization_url": url + "/authorize",
                "oauth_token_url": url + "/oauth/token", "oauth_api_url": url,
                "oauth_settings_location": settings_location, **extra}

    def approve(self, authorization_url: str) -> dict[str, str]:
        """What a user's browser gets from ``/authorize``: the redirect's query parameters."""
        return follow_authorize(authorization_url)[1]

    def expire_access_tokens(self) -> None:
        """Every access token issued so far stops working now."""
        with self._lock:
            for access in self._access.values():
                access.expires_at = 0

    # ---------------------------------------------------------------- endpoints

    def authorize(self, req: FakeRequest) -> FakeResponse:
        client_id = req.arg("client_id")
        redirect_uri = req.arg("redirect_uri") or ""
        if client_id != self.client_id or not redirect_uri.startswith(("http://", "https://")):
            raise FakeHTTPError(400, {"error": "invalid_request",
                                      "error_description": "Unknown client or bad redirect_uri"})
        if req.arg("response_type") != "code" or req.arg("audience") != "api.atlassian.com":
            raise FakeHTTPError(400, {"error": "invalid_request",
                                      "error_description": "response_type=code and "
                                      "audience=api.atlassian.com are required"})
        query: dict[str, str] = {}
        if self.decision == "deny":
            query["error"] = "access_denied"
            query["error_description"] = "The user denied access"
        else:
            code = secrets.token_urlsafe(24)
            scope = self.granted_scopes if self.granted_scopes is not None else (req.arg("scope") or "")
            with self._lock:
                self._codes[code] = {"redirect_uri": redirect_uri, "scope": scope,
                                     "expires": time.time() + 600}
                self._issued_codes.append(code)
            query["code"] = code
        if req.arg("state") is not None:
            query["state"] = req.arg("state") or ""
        sep = "&" if urlsplit(redirect_uri).query else "?"
        return FakeResponse(302, headers=[("Location", redirect_uri + sep + urlencode(query))],
                            body=b"")

    def token(self, req: FakeRequest) -> FakeResponse:
        if not (req.headers.get("content-type") or "").startswith("application/json"):
            raise FakeHTTPError(415, {"error": "invalid_request",
                                      "error_description": "Send a JSON body"})
        try:
            body = req.json() or {}
        except ValueError:
            raise FakeHTTPError(400, {"error": "invalid_request",
                                      "error_description": "Malformed JSON"}) from None
        if not (hmac.compare_digest(str(body.get("client_id", "")), self.client_id)
                and hmac.compare_digest(str(body.get("client_secret", "")), self.client_secret)):
            raise FakeHTTPError(401, {"error": "access_denied", "error_description": "Unauthorized"})
        grant = body.get("grant_type")
        if grant == "authorization_code":
            answer = self._code_grant(body)
        elif grant == "refresh_token":
            answer = self._refresh_grant(str(body.get("refresh_token", "")))
        else:
            raise FakeHTTPError(400, {"error": "unsupported_grant_type",
                                      "error_description": "Unsupported grant type"})
        if self._hold:
            self.held.set()
            self._release.wait(timeout=60)
        return FakeResponse(200, json=answer, headers=[("Cache-Control", "no-store")])

    def accessible_resources(self, req: FakeRequest) -> FakeResponse:
        access = self._check_bearer(req, count=False)
        scopes = sorted(set(access.scope.split()) - {"offline_access"})
        return FakeResponse(200, json=[{**site, "scopes": scopes} for site in self.sites])

    def gateway(self, req: FakeRequest) -> FakeResponse:
        product, cloud_id, rest = req.params["product"], req.params["cloud"], req.params["rest"]
        access = self._check_bearer(req, count=True)
        if cloud_id not in {site["id"] for site in self.sites}:
            raise FakeHTTPError(404, {"code": 404, "message": "Not Found"})
        for prod, prefix, needs in PATH_SCOPES:
            if prod == product and rest.startswith(prefix) and not set(needs) & set(access.scope.split()):
                raise FakeHTTPError(401, SCOPE_401)
        if product == "confluence" and not rest.startswith("/wiki/"):
            raise FakeHTTPError(404, {"code": 404, "message": "Not Found"})
        demo = self.fake.data.demo_user
        identity = Identity("oauth2", demo["email"])
        req.identity = identity
        inner = FakeRequest(method=req.method, path=rest, raw_query=req.raw_query,
                            headers=req.headers, body=req.body, host=req.host,
                            base_url=req.base_url)
        inner.oauth2_identity = identity  # type: ignore[attr-defined]
        return self.fake.dispatch(inner)

    @staticmethod
    def authenticator(req: FakeRequest) -> Identity | None:
        """Accept the gateway's inner requests (the token was checked at the gateway)."""
        return getattr(req, "oauth2_identity", None)

    # ---------------------------------------------------------------- internals

    def _new_pair(self, scope: str) -> dict[str, Any]:
        access_token = "fakeAT." + secrets.token_urlsafe(32)
        self._access[access_token] = _Access(scope, time.time() + self.access_token_lifetime)
        answer = {"access_token": access_token, "expires_in": int(self.access_token_lifetime),
                  "scope": scope, "token_type": "Bearer"}
        if "offline_access" in scope.split():
            refresh_token = "fakeRT." + secrets.token_urlsafe(32)
            self._refresh[refresh_token] = _Refresh(scope)
            answer["refresh_token"] = refresh_token
        return answer

    def _code_grant(self, body: dict[str, Any]) -> dict[str, Any]:
        with self._lock:
            entry = self._codes.pop(str(body.get("code", "")), None)
            if entry is None or entry["expires"] < time.time():
                raise FakeHTTPError(403, {"error": "invalid_grant",
                                          "error_description": "Invalid authorization code"})
            if body.get("redirect_uri") != entry["redirect_uri"]:
                raise FakeHTTPError(403, {"error": "invalid_grant",
                                          "error_description": "redirect_uri does not match"})
            return self._new_pair(entry["scope"])

    def _refresh_grant(self, refresh_token: str) -> dict[str, Any]:
        now = time.time()
        with self._lock:
            entry = self._refresh.get(refresh_token)
            spend = {"token": token_id(refresh_token), "time": now}
            if entry is None or (entry.state == "rotated"
                                 and now - entry.rotated_at > self.grace_seconds):
                self.spends.append({**spend, "result": "rejected"})
                raise FakeHTTPError(403, INVALID_REFRESH)
            self.spends.append({**spend, "result": "rotated" if entry.state == "active" else "grace"})
            if entry.state == "active":
                entry.state, entry.rotated_at = "rotated", now
            return self._new_pair(entry.scope)

    def _check_bearer(self, req: FakeRequest, *, count: bool) -> _Access:
        authz = req.headers.get("authorization") or ""
        token = authz[7:].strip() if authz.lower().startswith("bearer ") else ""
        with self._lock:
            access = self._access.get(token)
            if access is None or access.expires_at <= time.time() or (
                    self.access_token_max_uses is not None
                    and access.uses >= self.access_token_max_uses):
                raise FakeHTTPError(401, GATEWAY_401)
            if count:
                access.uses += 1
            return access


def follow_authorize(authorization_url: str) -> tuple[str, dict[str, str]]:
    """GET the authorization URL without following its redirect: (Location, its query)."""
    parts = urlsplit(authorization_url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
    try:
        conn.request("GET", f"{parts.path}?{parts.query}")
        resp = conn.getresponse()
        resp.read()
        location = resp.getheader("Location") or ""
    finally:
        conn.close()
    return location, dict(parse_qsl(urlsplit(location).query))


# A BROWSER command for tests: it asks the fake's /authorize (auto-approve), then follows
# the redirect to the tap's local listener, like a browser would. Nothing is printed.
BROWSER_SCRIPT = """\
import http.client, sys
from urllib.parse import urlsplit
def get(url):
    p = urlsplit(url)
    c = http.client.HTTPConnection(p.hostname, p.port, timeout=10)
    c.request("GET", (p.path or "/") + ("?" + p.query if p.query else ""))
    r = c.getresponse(); r.read(); c.close()
    return r
loc = get(sys.argv[1]).getheader("Location")
get(loc.replace("//localhost:", "//127.0.0.1:"))
"""


def browser_command(directory: str | os.PathLike[str]) -> str:
    """Write :data:`BROWSER_SCRIPT` into ``directory``; the value for ``BROWSER``."""
    path = os.path.join(directory, "fake_browser.py")
    with open(path, "w", encoding="utf-8") as handle:
        handle.write(BROWSER_SCRIPT)
    return f"{sys.executable} {path} %s"


def install(fake: FakeAtlassian) -> OAuth2Server:
    """Add the authorization server, accessible-resources and the gateway to ``fake``."""
    server = OAuth2Server(fake)
    server.sites = [
        {"id": CLOUD_ID, "name": "fake-site", "url": fake.url,
         "avatarUrl": "https://site-admin-avatar-cdn.prod.public.atl-paas.net/avatars/240/rocket.png"},
        {"id": OTHER_CLOUD_ID, "name": "other-site", "url": "https://other-site.atlassian.net",
         "avatarUrl": "https://site-admin-avatar-cdn.prod.public.atl-paas.net/avatars/240/star.png"},
    ]
    fake.oauth2 = server
    fake.route("GET", r"/authorize", server.authorize, auth=False, host="main", product="oauth2")
    fake.route("POST", r"/oauth/token", server.token, auth=False, host="main", product="oauth2")
    fake.route("GET", r"/oauth/token/accessible-resources", server.accessible_resources,
               auth=False, host="main", product="oauth2")
    for method in ("GET", "POST", "PUT", "DELETE"):
        fake.route(method, r"/ex/(?P<product>jira|confluence)/(?P<cloud>[^/]+)(?P<rest>/.*)",
                   server.gateway, auth=False, host="main", product="gateway")
    fake.add_authenticator(server.authenticator)
    return server
