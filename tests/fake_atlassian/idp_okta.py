"""A fake Okta org: Classic Authentication API with MFA, and SAML app embed links.

(docs/ATLASSIAN_API.md section 9; answers shaped like the recordings in ``tests/payloads/okta``.)

- ``POST /api/v1/authn``: ``SUCCESS`` with a single-use ``sessionToken``; ``MFA_REQUIRED``
  with the user's factors (push, sms, email, token:software:totp); ``LOCKED_OUT``; 401
  ``E0000004`` for a wrong password; 401 ``E0000011`` for a wrong ``SSWS`` API token
  (trusted application; ``require_api_token`` refuses calls without one). A
  ``context.deviceToken`` remembered by an earlier ``rememberDevice=true`` verify skips MFA.
- ``POST /api/v1/authn/factors/{id}/verify``: push answers the next entry of
  ``push_script`` (``WAITING`` / ``SUCCESS`` / ``REJECTED`` / ``TIMEOUT``) per call (the
  first verify and each poll); sms / email without ``passCode`` "send" a code (kept in
  ``outbox``, the user's phone), with one check it; TOTP is checked with pyotp against the
  user's ``totp_secret``. A refused passcode is 403 ``E0000068``. Success with
  ``rememberDevice=true`` remembers the device token (and sets the ``DT`` cookie).
- ``GET /home/{app}/{id}/{link}?sessionToken=`` (the app's embed link) redirects through
  ``/login/sessionCookieRedirect?token=...`` (which trades the single-use token for the
  ``sid`` session cookie) to ``/app/{app}/{id}/sso/saml``, the SAML form for that app's
  consumer; without a valid token or ``sid``, to Okta's sign-in page.

Tests use ``fake.okta`` (an :class:`OktaOrg`); ``fake.okta.settings()`` gives tap settings.
"""

from __future__ import annotations

import hmac
import secrets
import threading
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

import pyotp

from . import idp_saml
from .http import FakeResponse

if TYPE_CHECKING:
    from .http import FakeRequest
    from .site import FakeAtlassian

FACTOR_IDS = {"push": "opfFAKEpush0h7", "sms": "smsFAKEsms00g3", "email": "emfFAKEemail0g3",
              "token:software:totp": "ostFAKEtotp0g3"}
APPS = {"jira": "/home/atlassian_jira/0oaFAKEjira/aln1", "confluence":
        "/home/atlassian_confluence/0oaFAKEconf/aln2"}
# The embed link of the seeds' example connection string: also the Jira app here.
SEEDS_APP = "/home/appType/0bg4ivz6cJRZgCz5d6/46"
_INVALID_TOKEN = {"errorCode": "E0000011", "errorSummary": "Invalid token provided",
                  "errorLink": "E0000011", "errorId": "oaeFAKE", "errorCauses": []}
_BAD_CODE = {"errorCode": "E0000068", "errorSummary": "Invalid Passcode/Answer",
             "errorLink": "E0000068", "errorId": "oaeFAKE",
             "errorCauses": [{"errorSummary": "Your passcode doesn't match our records."}]}


@dataclass
class OktaUser:
    """One Okta user; ``mfa`` says whether the sign-on policy asks for a second factor."""

    login: str
    password: str
    status: str = "ACTIVE"  # ACTIVE | LOCKED_OUT | PASSWORD_EXPIRED | PASSWORD_WARN (expires soon)
    mfa: bool = False
    factors: tuple[str, ...] = ("push", "sms", "email", "token:software:totp")
    totp_secret: str = field(default_factory=pyotp.random_base32)


@dataclass
class _Transaction:
    login: str
    device_token: str | None
    push_calls: int = 0


@dataclass
class OktaOrg:
    """The fake Okta org's state; tests change the public fields."""

    fake: Any
    users: dict[str, OktaUser] = field(default_factory=dict)
    api_token: str = ""
    require_api_token: bool = False
    push_script: list[str] = field(default_factory=lambda: ["WAITING", "WAITING", "SUCCESS"])
    outbox: list[tuple[str, str, str]] = field(default_factory=list)  # (login, sms|email, code)
    remembered: set[tuple[str, str]] = field(default_factory=set)  # (login, device token)
    # the next `rate_limited` authn calls answer 429 (Okta's E0000047), resetting
    # `rate_limit_reset_seconds` later (X-Rate-Limit-Reset, UTC epoch seconds)
    rate_limited: int = 0
    rate_limit_reset_seconds: int = 2
    _codes: dict[tuple[str, str], str] = field(default_factory=dict)
    _tx: dict[str, _Transaction] = field(default_factory=dict)
    _sessions: dict[str, str] = field(default_factory=dict)  # sessionToken -> login
    _sids: dict[str, str] = field(default_factory=dict)  # Okta session cookie `sid` -> login
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        seed = self.fake.seed
        self.api_token = self.api_token or f"00FAKEssws-api-token-{seed}"
        demo = self.fake.data.demo_user
        self.users = self.users or {demo["email"]: OktaUser(demo["email"], f"okta-pw-{seed}")}
        self.key = idp_saml.signing_key("okta")

    @property
    def org(self) -> str:
        return self.fake.url

    @property
    def issuer(self) -> str:
        return f"http://www.okta.com/exkFAKE{self.fake.seed}"

    @property
    def user(self) -> OktaUser:
        """The first (demo) user."""
        return next(iter(self.users.values()))

    def embed_link(self, product: str = "jira") -> str:
        return self.org + APPS[product]

    def settings(self) -> dict[str, Any]:
        """Tap settings logging in through this org (Server/DC)."""
        return {"auth_scheme": "okta", "user": self.user.login, "password": self.user.password,
                "sso_login_url": self.embed_link(),
                "sso_exchange_url": self.fake.jira_url + "/plugins/servlet/samlconsumer"}

    def last_code(self, kind: str = "sms") -> str:
        """The last code "sent" to the user's phone or mailbox."""
        return [c for _, k, c in self.outbox if k == kind][-1]

    def totp_now(self) -> str:
        return pyotp.TOTP(self.user.totp_secret).now()

    # -- authn -------------------------------------------------------------------------

    def _check_api_token(self, req: FakeRequest) -> FakeResponse | None:
        authz = req.headers.get("authorization") or ""
        if authz.startswith("SSWS ") and not hmac.compare_digest(authz[5:], self.api_token):
            return FakeResponse(401, json=_INVALID_TOKEN)
        if self.require_api_token and not authz.startswith("SSWS "):
            return FakeResponse(401, json=_INVALID_TOKEN)
        return None

    def _rate_limit(self) -> FakeResponse | None:
        """Okta's 429 (https://developer.okta.com/docs/reference/rl-best-practices/)."""
        with self._lock:
            if self.rate_limited <= 0:
                return None
            self.rate_limited -= 1
        reset = int(time.time()) + self.rate_limit_reset_seconds
        return FakeResponse(429, headers=[("X-Rate-Limit-Limit", "600"), ("X-Rate-Limit-Remaining", "0"),
                                          ("X-Rate-Limit-Reset", str(reset))],
                            json={"errorCode": "E0000047", "errorSummary":
                                  "API call exceeded rate limit due to too many requests.",
                                  "errorLink": "E0000047", "errorId": "oaeFAKE429", "errorCauses": []})

    def authn(self, req: FakeRequest) -> FakeResponse:
        refused = self._check_api_token(req) or self._rate_limit()
        if refused:
            return refused
        body = req.json() or {}
        user = self.users.get(body.get("username") or "")
        if user is None or not hmac.compare_digest(str(body.get("password") or ""), user.password):
            return FakeResponse(401, json={"errorCode": "E0000004", "errorSummary":
                                           "Authentication failed", "errorLink": "E0000004",
                                           "errorId": "oaeFAKE", "errorCauses": []})
        device = (body.get("context") or {}).get("deviceToken")
        if user.status == "PASSWORD_WARN":  # valid, expiring soon: skip (or change) it to go on
            state = "00T" + secrets.token_urlsafe(30)
            with self._lock:
                self._tx[state] = _Transaction(user.login, device)
            return FakeResponse(json={
                "stateToken": state, "status": "PASSWORD_WARN", "expiresAt": "2030-01-01T00:00:00.000Z",
                "_embedded": {"user": self._user_json(user), "policy": {
                    "expiration": {"passwordExpireDays": 4},
                    "complexity": {"minLength": 8, "minLowerCase": 1, "minUpperCase": 1, "minNumber": 1}}},
                "_links": {"skip": {"href": f"{self.org}/api/v1/authn/skip", "hints": {"allow": ["POST"]}},
                           "next": {"name": "changePassword", "href": f"{self.org}/api/v1/authn/credentials/change_password",
                                    "hints": {"allow": ["POST"]}},
                           "cancel": {"href": f"{self.org}/api/v1/authn/cancel", "hints": {"allow": ["POST"]}}}})
        if user.status != "ACTIVE":
            return FakeResponse(json={"status": user.status, "_embedded": {}, "_links": {
                "cancel": {"href": f"{self.org}/api/v1/authn/cancel"}}})
        return self._after_password(user, device)

    def skip(self, req: FakeRequest) -> FakeResponse:
        """``POST /api/v1/authn/skip`` ``{stateToken}``: past PASSWORD_WARN without a change."""
        state = str((req.json() or {}).get("stateToken") or "")
        with self._lock:
            tx = self._tx.pop(state, None)
        if tx is None:
            return FakeResponse(403, json={"errorCode": "E0000011", "errorSummary": "Invalid token provided",
                                           "errorLink": "E0000011", "errorId": "oaeFAKE", "errorCauses": []})
        return self._after_password(self.users[tx.login], tx.device_token)

    def _after_password(self, user: OktaUser, device: str | None) -> FakeResponse:
        with self._lock:
            skip = not user.mfa or (user.login, device) in self.remembered
        if skip:
            return self._success(user.login)
        state = "00T" + secrets.token_urlsafe(30)
        with self._lock:
            self._tx[state] = _Transaction(user.login, device)
        factors = [{"id": FACTOR_IDS[k], "factorType": k, "provider": "OKTA",
                    "profile": {"credentialId": user.login},
                    "_links": {"verify": {"href": self._verify_href(k),
                                          "hints": {"allow": ["POST"]}}}}
                   for k in user.factors]
        return FakeResponse(json={"stateToken": state, "status": "MFA_REQUIRED",
                                  "_embedded": {"user": self._user_json(user), "factors": factors},
                                  "_links": {"cancel": {"href": f"{self.org}/api/v1/authn/cancel"}}})

    def _verify_href(self, kind: str) -> str:
        return f"{self.org}/api/v1/authn/factors/{FACTOR_IDS[kind]}/verify"

    @staticmethod
    def _user_json(user: OktaUser) -> dict[str, Any]:
        return {"id": "00uFAKE", "profile": {"login": user.login, "locale": "en_US",
                                            "timeZone": "America/Los_Angeles"}}

    def _success(self, login: str, headers: list[tuple[str, str]] | None = None) -> FakeResponse:
        token = "20111" + secrets.token_urlsafe(24)
        with self._lock:
            self._sessions[token] = login
            self.fake.issued_secrets.append(token)
        return FakeResponse(headers=headers or [], json={
            "status": "SUCCESS", "sessionToken": token, "expiresAt": "2030-01-01T00:00:00.000Z",
            "_embedded": {"user": self._user_json(self.users[login])}})

    # -- factors -----------------------------------------------------------------------

    def verify(self, req: FakeRequest) -> FakeResponse:
        refused = self._check_api_token(req)
        if refused:
            return refused
        kind = {v: k for k, v in FACTOR_IDS.items()}.get(req.params["factor"])
        body = req.json() or {}
        with self._lock:
            tx = self._tx.get(body.get("stateToken") or "")
        if tx is None or kind is None or kind not in self.users[tx.login].factors:
            return FakeResponse(403, json=_INVALID_TOKEN)
        remember = (req.arg("rememberDevice") or "").lower() == "true"
        passcode = body.get("passCode")
        if kind == "push":
            with self._lock:
                result = self.push_script[min(tx.push_calls, len(self.push_script) - 1)]
                tx.push_calls += 1
            if result == "SUCCESS":
                return self._verified(body["stateToken"], tx, remember)
            return self._challenge(body["stateToken"], kind, tx, factor_result=result)
        if kind == "token:software:totp":
            if passcode and pyotp.TOTP(self.users[tx.login].totp_secret).verify(passcode, valid_window=1):
                return self._verified(body["stateToken"], tx, remember)
            return FakeResponse(403, json=_BAD_CODE)
        # sms / email
        key = (tx.login, kind)
        if not passcode:
            code = f"{secrets.randbelow(10**6):06d}"
            with self._lock:
                self._codes[key] = code
                self.outbox.append((tx.login, kind, code))
            return self._challenge(body["stateToken"], kind, tx, factor_result=None)
        with self._lock:
            good = self._codes.get(key)
            if good is not None and hmac.compare_digest(str(passcode), good):
                del self._codes[key]
            else:
                good = None
        if good is None:
            return FakeResponse(403, json=_BAD_CODE)
        return self._verified(body["stateToken"], tx, remember)

    def _challenge(self, state: str, kind: str, tx: _Transaction,
                   factor_result: str | None) -> FakeResponse:
        answer: dict[str, Any] = {
            "stateToken": state, "status": "MFA_CHALLENGE",
            "_embedded": {"user": self._user_json(self.users[tx.login]),
                          "factor": {"id": FACTOR_IDS[kind], "factorType": kind,
                                     "provider": "OKTA"}},
            "_links": {"next": {"name": "verify" if factor_result is None else "poll",
                                "href": self._verify_href(kind), "hints": {"allow": ["POST"]}},
                       "cancel": {"href": f"{self.org}/api/v1/authn/cancel"}}}
        if factor_result is not None:
            answer["factorResult"] = factor_result
        return FakeResponse(json=answer)

    def _verified(self, state: str, tx: _Transaction, remember: bool) -> FakeResponse:
        headers = []
        with self._lock:
            self._tx.pop(state, None)
            if remember:
                device = tx.device_token or secrets.token_hex(16)
                self.remembered.add((tx.login, device))
                headers.append(("Set-Cookie", f"DT={device}; Path=/; HttpOnly"))
        return self._success(tx.login, headers)

    # -- the SAML app ----------------------------------------------------------------------

    def embed(self, req: FakeRequest) -> FakeResponse:
        """The embed link: trade the ``sessionToken`` for an Okta session (``sid``) through
        ``/login/sessionCookieRedirect``, then on to the app's SAML endpoint (as Okta does)."""
        product = self._product(req.path)
        if product is None:
            return idp_saml.html_page(404, "Okta - Not found")
        app, app_id = req.path.split("/")[2:4]
        saml_path = f"/app/{app}/{app_id}/sso/saml"
        token = req.arg("sessionToken")
        if token:
            target = f"{self.org}/login/sessionCookieRedirect?" + urlencode(
                {"token": token, "redirectUrl": self.org + saml_path})
        elif self._okta_session(req):
            target = self.org + saml_path
        else:
            target = f"{self.org}/login/login.htm?fromURI={req.path}"
        return FakeResponse(302, body=b"", headers=[("Location", target)])

    def session_cookie_redirect(self, req: FakeRequest) -> FakeResponse:
        with self._lock:
            login = self._sessions.pop(req.arg("token") or "", None)
            sid = "102" + secrets.token_urlsafe(20) if login else None
            if sid:
                self._sids[sid] = login
                self.fake.issued_secrets.append(sid)
        if sid is None:
            return FakeResponse(302, body=b"", headers=[("Location", f"{self.org}/login/login.htm")])
        redirect = req.arg("redirectUrl") or "/"
        return FakeResponse(302, body=b"", headers=[
            ("Location", redirect), ("Set-Cookie", f"sid={sid}; Path=/; HttpOnly")])

    def app_saml(self, req: FakeRequest) -> FakeResponse:
        """``/app/{app}/{id}/sso/saml``: the SAML form for the signed-in Okta user."""
        login = self._okta_session(req)
        product = self._product(req.path)
        if login is None or product is None:
            target = f"{self.org}/login/login.htm?fromURI={req.path}"
            return FakeResponse(302, body=b"", headers=[("Location", target)])
        base = self.fake.confluence_url if product == "confluence" else self.fake.jira_url
        acs = base + "/plugins/servlet/samlconsumer"
        name = next((u["name"] for u in self.fake.data.users if u["email"] == login), login)
        saml = idp_saml.issue_response(issuer=self.issuer, key=self.key, user=name,
                                       destination=acs, audience=base)
        return idp_saml.form_page(acs, saml, relay_state=None)

    def _okta_session(self, req: FakeRequest) -> str | None:
        with self._lock:
            return self._sids.get(req.cookies.get("sid") or "")

    @staticmethod
    def _product(path: str) -> str | None:
        """The product of an embed link or SAML endpoint, by its app name and id."""
        parts = path.split("/")
        key = tuple(parts[2:4]) if len(parts) > 3 else ()  # noqa: PLR2004
        for product, link in (*APPS.items(), ("jira", SEEDS_APP)):
            if tuple(link.split("/")[2:4]) == key:
                return product
        return None


def install(fake: FakeAtlassian) -> OktaOrg:
    """The authn API, factor verification, the app embed links and the sign-in page."""
    org = OktaOrg(fake)
    fake.okta = org
    idp_saml.install(fake).trust(org.issuer, org.key.public_key())
    fake.route("POST", "/api/v1/authn", org.authn, auth=False, host="main", product="okta")
    fake.route("POST", "/api/v1/authn/skip", org.skip, auth=False, host="main", product="okta")
    fake.route("POST", r"/api/v1/authn/factors/(?P<factor>[A-Za-z0-9]+)/verify", org.verify,
               auth=False, host="main", product="okta")
    fake.route("GET", r"/home/[^/]+/[^/]+/[^/]+", org.embed, auth=False, host="main",
               product="okta")
    fake.route("GET", "/login/sessionCookieRedirect", org.session_cookie_redirect, auth=False,
               host="main", product="okta")
    fake.route("GET", r"/app/[^/]+/[^/]+/sso/saml", org.app_saml, auth=False, host="main",
               product="okta")
    fake.route("GET", "/login/login.htm", lambda req: idp_saml.html_page(200, "Okta - Sign In"),
               auth=False, host="main", product="okta")
    return org
