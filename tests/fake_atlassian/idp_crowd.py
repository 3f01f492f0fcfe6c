"""A fake Atlassian Crowd as SAML identity provider (docs/ATLASSIAN_API.md section 8).

- ``POST /crowd/rest/usermanagement/1/session``: the application authenticates with its
  name and password (HTTP Basic); a wrong one answers 401 "Application failed to
  authenticate". The body names the user (``username`` or ``userName``) and password; a
  wrong password answers 400 ``INVALID_USER_AUTHENTICATION``. Success: 201 with a token.
- ``GET /crowd/console/secure/saml/sso.action``: with a valid ``crowd.token_key`` cookie, the
  auto-submit form carrying a signed ``SAMLResponse`` for the service provider (``?sp=``
  ``jira`` by default, or ``confluence``); without one, a redirect to Crowd's login page.

Tests use ``fake.crowd`` (a :class:`CrowdIdP`); ``fake.crowd.settings()`` gives the tap
settings that log in through it.
"""

from __future__ import annotations

import hmac
import secrets
import threading
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from . import idp_saml
from .auth import basic_credentials
from .http import FakeResponse

if TYPE_CHECKING:
    from .http import FakeRequest
    from .site import FakeAtlassian

BASE = "/crowd"
SSO_PATH = f"{BASE}/console/secure/saml/sso.action"


@dataclass
class CrowdIdP:
    """The fake Crowd's state; tests may change the public fields."""

    fake: Any
    app_name: str = "jira-sso"
    app_password: str = ""
    users: dict[str, str] = field(default_factory=dict)  # user name -> password
    tokens: dict[str, str] = field(default_factory=dict)  # SSO token -> user name
    sso_enabled: bool = True  # False: the SSO page sends everyone to Crowd's login page
    validation_factors: list[list[dict]] = field(default_factory=list)  # as sent, per session
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        seed = self.fake.seed
        self.app_password = self.app_password or f"crowd-app-secret-{seed}"
        self.users = self.users or {self.fake.data.demo_user["name"]: f"crowd-user-pw-{seed}"}
        self.key = idp_saml.signing_key("crowd")

    @property
    def issuer(self) -> str:
        return self.fake.url + BASE

    def sso_url(self, product: str = "jira") -> str:
        """The IdP SSO URL (Crowd: application -> SSO -> Identity provider single sign-on URL)."""
        return self.fake.url + SSO_PATH + ("?sp=confluence" if product == "confluence" else "")

    def settings(self) -> dict[str, str]:
        """Tap settings logging in through this Crowd (Server/DC)."""
        user, password = next(iter(self.users.items()))
        return {"auth_scheme": "crowd", "user": user, "password": password,
                "sso_login_url": self.sso_url(), "sso_app_name": self.app_name,
                "sso_app_password": self.app_password,
                "sso_exchange_url": self.fake.jira_url + "/plugins/servlet/samlconsumer"}

    # -- REST --------------------------------------------------------------------------

    def session(self, req: FakeRequest) -> FakeResponse:
        app, secret = basic_credentials(req.headers.get("authorization")) or ("", "")
        if not (app == self.app_name and hmac.compare_digest(secret, self.app_password)):
            return FakeResponse(401, body=b"Application failed to authenticate",
                                content_type="text/plain;charset=UTF-8",
                                headers=[("WWW-Authenticate", 'Basic realm="Crowd REST Service"')])
        body = req.json() or {}
        user = body.get("username") or body.get("userName") or ""
        if user not in self.users:
            return FakeResponse(400, json={"reason": "USER_NOT_FOUND",
                                           "message": f"User <{user}> does not exist"})
        if not hmac.compare_digest(str(body.get("password") or ""), self.users[user]):
            return FakeResponse(400, json={"reason": "INVALID_USER_AUTHENTICATION", "message":
                                           "Failed to authenticate principal, password was invalid"})
        token = secrets.token_urlsafe(18)
        factors = body.get("validation-factors") or {}
        with self._lock:
            self.validation_factors.append(factors.get("validationFactors")
                                           or factors.get("validation-factor") or [])
            self.tokens[token] = user
            self.fake.issued_secrets.append(token)
        now = int(time.time() * 1000)
        link = f"{self.fake.url}{BASE}/rest/usermanagement/1/session/{token}"
        return FakeResponse(201, headers=[("Location", link)], json={
            "token": token, "user": {"name": user, "active": True},
            "link": {"href": link, "rel": "self"}, "created-date": now,
            "expiry-date": now + 3_600_000})

    def sso(self, req: FakeRequest) -> FakeResponse:
        with self._lock:
            user = self.tokens.get(req.cookies.get("crowd.token_key") or "")
        if user is None or not self.sso_enabled:
            login = f"{self.fake.url}{BASE}/console/login.action"
            return FakeResponse(302, body=b"", headers=[("Location", login)])
        base = self.fake.confluence_url if req.arg("sp") == "confluence" else self.fake.jira_url
        acs = base + "/plugins/servlet/samlconsumer"
        saml = idp_saml.issue_response(issuer=self.issuer, key=self.key, user=user,
                                       destination=acs, audience=base)
        return idp_saml.form_page(acs, saml)


def install(fake: FakeAtlassian) -> CrowdIdP:
    """Crowd's REST session endpoint, SSO page and login page on the main listener."""
    crowd = CrowdIdP(fake)
    fake.crowd = crowd
    idp_saml.install(fake).trust(crowd.issuer, crowd.key.public_key())
    fake.route("POST", f"{BASE}/rest/usermanagement/1/session", crowd.session, auth=False,
               host="main", product="crowd")
    fake.route("GET", SSO_PATH, crowd.sso, auth=False, host="main", product="crowd")
    fake.route("GET", f"{BASE}/console/login.action",
               lambda req: idp_saml.html_page(200, "Crowd - Log in"), auth=False, host="main",
               product="crowd")
    return crowd
