"""OAuth 2.0 (3LO) for Atlassian Cloud, with rotating refresh tokens that are never lost.

Wire flow (``AUTH_FLOWS.md``; https://developer.atlassian.com/cloud/jira/platform/oauth-2-3lo-apps/):

1. The user approves at ``{oauth_authorization_url}?audience=api.atlassian.com&...``; the
   redirect to ``callback_url`` carries ``code`` (the seeds' *verifier*).
2. ``POST {oauth_token_url}`` JSON ``authorization_code`` grant -> access + refresh token.
3. ``POST {oauth_token_url}`` JSON ``refresh_token`` grant -> a NEW pair; the old refresh
   token stops working (after a 10-minute grace window,
   https://developer.atlassian.com/cloud/oauth/getting-started/refresh-tokens).
4. ``GET {oauth_api_url}/oauth/token/accessible-resources`` -> the site's cloud id.
5. API calls go to ``{oauth_api_url}/ex/jira/{cloudId}`` and
   ``{oauth_api_url}/ex/confluence/{cloudId}/wiki`` with ``Authorization: Bearer``.

``initiate_oauth``:

- ``OFF``: ``oauth_access_token`` as given; a 401 is an error saying it expired.
- ``GETANDREFRESH`` (desktop): no stored token -> browser + local listener
  (:mod:`tap_atlassian.auth.browser`), then refresh automatically.
- ``REFRESH`` (headless, default): never a browser. Option 1: ``oauth_verifier`` set and
  no token stored -> exchange it. Option 2: a settings file copied from another machine.
  ``oauth_refresh_token`` seeds an empty file.

Never losing a rotated refresh token: every refresh happens inside
:meth:`SettingsFile.transaction` (an exclusive lock across processes). Inside it the tap
first re-reads the file: when another process (or the other product of this run) has
already refreshed, its fresh access token is adopted and no refresh token is spent.
Otherwise the refresh token is spent, the new pair is written (atomically, fsynced) as the
transaction ends, and only then is the new access token used. A failed refresh leaves the
file untouched; nothing ever silently starts a new login.

The tokens live in section ``"oauth2"`` of the settings file: ``client_id``,
``access_token``, ``refresh_token``, ``expires_at`` (epoch seconds), ``scope``,
``obtained_at``, and once known ``cloud_id``, ``site_url``, ``site_name``.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import secrets
import threading
import time
import typing as t
from urllib.parse import urlencode, urlsplit

import requests

from tap_atlassian import net
from tap_atlassian.auth.base import AuthError, SchemeAuth
from tap_atlassian.auth.browser import BrowserLoginError, callback_address, receive_redirect
from tap_atlassian.errors import server_message
from tap_atlassian.config import ConfigError
from tap_atlassian.settings_file import SettingsFile, SettingsFileError, resolve_passphrase

if t.TYPE_CHECKING:
    from tap_atlassian.config import Settings
    from tap_atlassian.sites import Site

LOGGER = logging.getLogger("tap-atlassian")

SECTION = "oauth2"
REFRESH_MARGIN_SECONDS = 60
DEFAULT_EXPIRES_IN = 3600
AUDIENCE = "api.atlassian.com"
LABEL = "oauth (OAuth 2.0)"
RELOGIN = ("log in again: `tap-atlassian-auth login` (desktop) or `tap-atlassian-auth url` "
           "then `tap-atlassian-auth exchange --verifier CODE` (headless)")

# Read-only scopes covering every stream (classic where Atlassian offers them, granular for
# Confluence REST v2, which documents only granular ones), plus offline_access for a
# refresh token. https://developer.atlassian.com/cloud/confluence/scopes-for-oauth-2-3LO-and-forge-apps/
DEFAULT_SCOPES = (
    "read:jira-work", "read:jira-user", "read:servicedesk-request",
    "read:confluence-space.summary", "read:confluence-content.all",
    "read:confluence-content.summary", "search:confluence", "read:confluence-user",
    "read:space:confluence", "read:page:confluence", "offline_access",
    "read:board-scope:jira-software", "read:project:jira", "read:sprint:jira-software",  # agile streams
    "read:comment:confluence", "read:attachment:confluence", "read:confluence-groups",  # Confluence second set
    "read:organization:jira-service-management", "read:servicedesk.customer:jira-service-management",  # JSM
)
# Stream -> scopes it needs: each inner tuple is satisfied by any one of its scopes.
STREAM_SCOPES: dict[str, tuple[tuple[str, ...], ...]] = {
    "confluence_spaces": (("read:confluence-space.summary", "read:space:confluence"),),
    "confluence_pages": (("search:confluence", "read:content-details:confluence"),
                         ("read:confluence-content.all", "read:page:confluence")),
    "confluence_blogposts": (("search:confluence", "read:content-details:confluence"),
                             ("read:confluence-content.all", "read:page:confluence")),
    "confluence_comments": (("search:confluence", "read:content-details:confluence"), ("read:confluence-content.all", "read:comment:confluence")),
    "confluence_attachments": (("search:confluence", "read:content-details:confluence"), ("read:confluence-content.all", "read:attachment:confluence")),
    "confluence_page_versions": (("search:confluence", "read:content-details:confluence"), ("read:confluence-content.all", "read:page:confluence")),
    **dict.fromkeys(("confluence_groups", "confluence_group_members"), (("read:confluence-groups", "read:group:confluence"),)),
    "jira_fields": (("read:jira-work",),),
    "jira_issues": (("read:jira-work",),),
    "jira_issue_comments": (("read:jira-work",),),
    "jira_issue_changelogs": (("read:jira-work",),),
    **dict.fromkeys(("jira_projects", "jira_project_versions", "jira_project_components", "jira_issue_types",
                    "jira_statuses", "jira_priorities", "jira_resolutions"), (("read:jira-work",),)),
    **dict.fromkeys(("jira_users", "jira_groups"), (("read:jira-user",),)),
    "jira_issue_worklogs": (("read:jira-work", "read:issue-worklog:jira"),),
    "jira_boards": (("read:board-scope:jira-software",), ("read:project:jira",)),
    "jira_sprints": (("read:board-scope:jira-software",), ("read:sprint:jira-software",)),
    "jira_sprint_issues": (("read:board-scope:jira-software",), ("read:sprint:jira-software",), ("read:jira-work", "read:issue-details:jira")),
    "jsm_service_desks": (("read:servicedesk-request",),),
    "jsm_request_types": (("read:servicedesk-request",),),
    "jsm_requests": (("read:servicedesk-request",), ("read:jira-work",)),
    # Organizations and customers: the granular read scope first (named in the warning), or the
    # classic manage:servicedesk-customer, which also reads them.
    "jsm_organizations": (("read:organization:jira-service-management", "manage:servicedesk-customer"),),
    "jsm_customers": (("read:servicedesk-request",), ("read:servicedesk.customer:jira-service-management", "manage:servicedesk-customer")),
    "jsm_queues": (("read:servicedesk-request",), ("read:jira-work", "read:queue:jira-service-management")),
    **dict.fromkeys(("jsm_request_comments", "jsm_request_participants", "jsm_request_approvals", "jsm_request_feedback",
                    "jsm_request_sla"), (("read:servicedesk-request",), ("read:jira-work",))),
}
# Streams added later without an entry above: by name prefix.
PREFIX_SCOPES: dict[str, tuple[tuple[str, ...], ...]] = {
    "confluence_": (("read:confluence-content.all", "read:page:confluence"),),
    "jira_": (("read:jira-work",),),
    "jsm_": (("read:servicedesk-request",),),
}


def scopes_for_stream(stream_name: str) -> tuple[tuple[str, ...], ...]:
    """The scope groups a stream needs (each group: any one of its scopes)."""
    if stream_name in STREAM_SCOPES:
        return STREAM_SCOPES[stream_name]
    for prefix, groups in PREFIX_SCOPES.items():
        if stream_name.startswith(prefix):
            return groups
    return ()


def _same_site(a: str, b: str) -> bool:
    """Same scheme, host and port (a trailing ``/wiki`` or ``/`` in ``url`` is ignored)."""
    a, b = (u.rstrip("/").removesuffix("/wiki") for u in (a, b))
    pa, pb = urlsplit(a), urlsplit(b)
    return (pa.scheme, (pa.hostname or "").lower(), pa.port, pa.path) == (
        pb.scheme, (pb.hostname or "").lower(), pb.port, pb.path)


def _bearer(request: requests.PreparedRequest | None) -> str | None:
    value = (request.headers.get("Authorization") or "") if request is not None else ""
    return value[7:] if value.startswith("Bearer ") else None


def _iso(epoch: float | None) -> str | None:
    if epoch is None:
        return None
    return dt.datetime.fromtimestamp(epoch, dt.timezone.utc).isoformat(timespec="seconds")


def _server_answer(response: requests.Response) -> str:
    """``403 invalid_grant: Unknown or invalid refresh token.`` (never a token)."""
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict):
        error = body.get("error") or body.get("code") or ""
        detail = body.get("error_description") or body.get("message") or ""
        text = ": ".join(str(p) for p in (error, detail) if p)
    else:
        text = server_message(response)  # HTML, plain text or an empty body
    return f"{response.status_code} {text}".strip()


class OAuth2Auth(SchemeAuth):
    """Atlassian OAuth 2.0 (3LO): Bearer tokens through the ``api.atlassian.com`` gateway."""

    name = "oauth2"

    def __init__(self, settings: Settings, product: str, site: Site) -> None:
        """No request is made until the first API call (or a ``tap-atlassian-auth`` step)."""
        super().__init__(settings, product, site)
        self._tokens: dict[str, t.Any] | None = None
        self._site_info: dict[str, t.Any] | None = None
        self._lock = threading.RLock()
        self._refreshes = 0  # refresh grants this process made (renew: own login vs adopted)
        self._http = net.new_session(settings)  # ca_bundle, proxies, CA variables
        self._http.headers["Accept"] = "application/json"
        self._file: SettingsFile | None = None

    # -- settings ----------------------------------------------------------------------

    @classmethod
    def validate(cls, settings: Settings) -> None:
        """The settings each ``initiate_oauth`` mode needs."""
        mode = settings.initiate_oauth
        if mode == "OFF":
            if not settings.oauth_access_token:
                msg = "oauth_access_token: required when initiate_oauth is OFF"
                raise ConfigError(msg)
            return
        if not settings.oauth_client_id:
            msg = "oauth_client_id: required when auth_scheme is oauth"
            raise ConfigError(msg)
        if not settings.oauth_client_secret:
            msg = (f"oauth_client_secret: required when initiate_oauth is {mode} (the token "
                   "endpoint needs it)")
            raise ConfigError(msg)
        if mode == "GETANDREFRESH":
            try:
                callback_address(settings.callback_url)
            except BrowserLoginError as exc:
                raise ConfigError(str(exc)) from None

    @property
    def mode(self) -> str:
        """``OFF``, ``GETANDREFRESH`` or ``REFRESH``."""
        return self.settings.initiate_oauth

    @property
    def settings_file(self) -> SettingsFile:
        """The encrypted settings file (``oauth_settings_location``)."""
        if self._file is None:
            try:
                passphrase = resolve_passphrase(self.settings.oauth_settings_passphrase,
                                                self.settings.oauth_client_secret,
                                                "oauth_client_secret")
            except SettingsFileError as exc:
                raise ConfigError(str(exc)) from None
            self._file = SettingsFile(self.settings.oauth_settings_location, passphrase)
        return self._file

    @property
    def scope(self) -> str:
        """The requested scopes (space-separated)."""
        return self.settings.scope or " ".join(DEFAULT_SCOPES)

    # -- the seam ----------------------------------------------------------------------

    def api_base_url(self) -> str:
        """``{oauth_api_url}/ex/jira/{cloudId}`` or ``.../ex/confluence/{cloudId}/wiki``."""
        self._ensure()
        base = f"{self.settings.oauth_api_url}/ex/{self.product}/{self._site_info['id']}"
        return f"{base}/wiki" if self.product == "confluence" else base

    def prepare_session(self, session: requests.Session) -> None:  # noqa: ARG002
        """Obtain or refresh the tokens and find the cloud id before the first request."""
        self._ensure()

    def apply(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        """``Authorization: Bearer``, refreshing first when within 60 s of expiry."""
        tokens = self._ensure()
        request.headers["Authorization"] = f"Bearer {tokens['access_token']}"
        return request

    def renew(self, session: requests.Session, response: requests.Response) -> bool | str:  # noqa: ARG002
        """A 401: refresh once, or adopt a token another process already refreshed (``"adopted"``:
        should that one be refused too, the next 401 refreshes for real)."""
        if response.status_code != 401:
            return False
        if self.mode == "OFF":
            msg = (f"{LABEL}: the API answered {_server_answer(response)} to "
                   "oauth_access_token: the access token expired or was revoked, and "
                   "initiate_oauth OFF never refreshes; set a new oauth_access_token, or use "
                   "initiate_oauth REFRESH with a settings file")
            raise AuthError(msg)
        with self._lock:
            before = self._refreshes
            self._tokens = self._refresh(rejected=_bearer(response.request))
        return True if self._refreshes > before else "adopted"

    # -- tap-atlassian-auth ------------------------------------------------------------

    def authorization_url(self, state: str | None = None) -> str:
        """The URL a user opens to approve the app (``prompt=consent``); any mode."""
        if not self.settings.oauth_client_id:
            msg = "oauth_client_id: required for the authorization URL"
            raise ConfigError(msg)
        query = {
            "audience": AUDIENCE,
            "client_id": self.settings.oauth_client_id,
            "scope": self.scope,
            "redirect_uri": self.settings.callback_url,
            "state": state or secrets.token_urlsafe(24),
            "response_type": "code",
            "prompt": "consent",
        }
        return f"{self.settings.oauth_authorization_url}?{urlencode(query)}"

    def exchange(self, verifier: str) -> None:
        """Headless option 1: exchange the code from the redirect and store the tokens."""
        self._require_client("exchange")
        with self._lock, self._transaction() as state:
            state[SECTION] = self._code_grant(verifier)
        self._after_new_tokens(state[SECTION])

    def login(self) -> None:
        """Desktop: browser, local redirect listener, exchange, store."""
        self._require_client("login")
        with self._lock, self._transaction() as state:
            state[SECTION] = self._browser_grant()
        self._after_new_tokens(state[SECTION])

    def status(self) -> dict[str, t.Any]:
        """What the settings file holds: expiry, cloud id, scopes; never a token."""
        out: dict[str, t.Any] = {"scheme": self.name, "product": self.product,
                                 "initiate_oauth": self.mode}
        if self.mode == "OFF":
            out.update(stored_state=False, note="initiate_oauth OFF: oauth_access_token is "
                       "used as given; no settings file")
            return out
        try:
            section = self.settings_file.load().get(SECTION) or {}
        except SettingsFileError as exc:
            raise AuthError(f"{LABEL}: {exc}") from None
        expires_at = section.get("expires_at")
        out.update(
            settings_file=str(self.settings_file.path),
            stored_state=bool(section.get("access_token") or section.get("refresh_token")),
            has_refresh_token=bool(section.get("refresh_token")),
            access_token_expires_at=_iso(expires_at),
            access_token_expired=None if expires_at is None else expires_at <= time.time(),
            obtained_at=section.get("obtained_at"),
            cloud_id=section.get("cloud_id"),
            site_url=section.get("site_url"),
            site_name=section.get("site_name"),
            scopes=sorted((section.get("scope") or "").split()),
        )
        return out

    def skip_reason(self, stream_name: str) -> str | None:
        """Why ``stream_name`` cannot be read with this token (a missing scope), or None."""
        missing = self.missing_scopes(stream_name)
        if not missing:
            return None
        return (f"the OAuth 2.0 token lacks scope {' and '.join(missing)}; add it to the app "
                "(developer console > Permissions) and to the `scope` setting, then log in "
                "again (`tap-atlassian-auth login`, or `url` + `exchange`)")

    def missing_scopes(self, stream_name: str) -> list[str]:
        """Scopes ``stream_name`` needs that the token lacks (empty when unknown)."""
        granted = self.granted_scopes()
        if granted is None:
            return []
        return [group[0] for group in scopes_for_stream(stream_name)
                if not granted.intersection(group)]

    def granted_scopes(self) -> set[str] | None:
        """The token's scopes (token answer, else the site's accessible-resources entry)."""
        tokens = self._ensure()
        scope = tokens.get("scope") or " ".join((self._site_info or {}).get("scopes") or [])
        return set(scope.split()) if scope else None

    # -- obtaining tokens --------------------------------------------------------------

    def _require_client(self, command: str) -> None:
        if self.mode == "OFF":
            msg = (f"initiate_oauth: `tap-atlassian-auth {command}` needs initiate_oauth "
                   "REFRESH or GETANDREFRESH (OFF uses oauth_access_token as given)")
            raise ConfigError(msg)

    @contextlib.contextmanager
    def _transaction(self) -> t.Iterator[dict[str, t.Any]]:
        """The settings file's transaction, with its errors as one-line AuthErrors."""
        try:
            with self.settings_file.transaction() as state:
                yield state
        except SettingsFileError as exc:
            raise AuthError(f"{LABEL}: {exc}") from None

    def _ensure(self) -> dict[str, t.Any]:
        """Tokens and site, obtained once per run (and refreshed when near expiry)."""
        with self._lock:
            if self._tokens is None:
                if self.mode == "OFF":
                    self._tokens = {"access_token": self.settings.oauth_access_token}
                else:
                    self._tokens = self._obtain()
            elif self._expiring(self._tokens):
                self._tokens = self._refresh(rejected=None)
            if self._site_info is None:
                self._site_info = self._resolve_site()
            return self._tokens

    def _expiring(self, tokens: dict[str, t.Any]) -> bool:
        if self.mode == "OFF":
            return False
        expires_at = tokens.get("expires_at")
        return expires_at is None or expires_at - REFRESH_MARGIN_SECONDS <= time.time()

    def _obtain(self) -> dict[str, t.Any]:
        """First use in this run: stored tokens, or the verifier, seed or browser."""
        with self._transaction() as state:
            section = state.get(SECTION) or {}
            self._check_client(section)
            if section.get("refresh_token") or section.get("access_token"):
                if self.settings.oauth_verifier:
                    LOGGER.info("%s: oauth_verifier ignored: %s already holds tokens",
                                LABEL, self.settings_file.path)
                if self._expiring(section):
                    state[SECTION] = self._refresh_grant(section)
                return dict(state[SECTION])
            if self.settings.oauth_verifier:
                LOGGER.info("%s: exchanging oauth_verifier for tokens", LABEL)
                state[SECTION] = self._code_grant(self.settings.oauth_verifier)
            elif self.settings.oauth_refresh_token:
                LOGGER.info("%s: no tokens in %s yet; using oauth_refresh_token", LABEL,
                            self.settings_file.path)
                seed = {"refresh_token": self.settings.oauth_refresh_token}
                state[SECTION] = self._refresh_grant(seed)
            elif self.mode == "GETANDREFRESH":
                state[SECTION] = self._browser_grant()
            else:
                msg = (f"{LABEL}: no tokens in the settings file {self.settings_file.path} "
                       "and initiate_oauth is REFRESH (never opens a browser): "
                       f"{RELOGIN}, or copy a settings file from a machine that logged in, "
                       "or set oauth_verifier, or initiate_oauth GETANDREFRESH")
                raise AuthError(msg)
            return dict(state[SECTION])

    def _refresh(self, rejected: str | None) -> dict[str, t.Any]:
        """Refresh under the lock, unless someone already did (then adopt their token)."""
        held = (self._tokens or {}).get("access_token")
        with self._transaction() as state:
            section = state.get(SECTION) or {}
            self._check_client(section)
            current = section.get("access_token")
            if current and current not in (held, rejected) and not self._expiring(section):
                LOGGER.info("%s: another run already refreshed the token; using it", LABEL)
            elif not section.get("refresh_token"):
                msg = (f"{LABEL}: the access token expired and the settings file "
                       f"{self.settings_file.path} holds no refresh token (was "
                       f"offline_access in scope?): {RELOGIN}")
                raise AuthError(msg)
            else:
                state[SECTION] = self._refresh_grant(section)
                self._refreshes += 1
            return dict(state[SECTION])

    def _check_client(self, section: dict[str, t.Any]) -> None:
        stored = section.get("client_id")
        if stored and stored != self.settings.oauth_client_id:
            msg = (f"{LABEL}: the settings file {self.settings_file.path} holds tokens of "
                   "another oauth_client_id; use that app's oauth_client_id, or another "
                   "oauth_settings_location")
            raise AuthError(msg)

    def _browser_grant(self) -> dict[str, t.Any]:
        state = secrets.token_urlsafe(24)
        url = self.authorization_url(state=state)
        params = receive_redirect(url, self.settings.callback_url, state=state)
        code = params.get("code")
        if not code:
            msg = f"{LABEL}: the redirect to callback_url carried no `code`"
            raise AuthError(msg)
        return self._code_grant(code)

    def _code_grant(self, code: str) -> dict[str, t.Any]:
        body = {"grant_type": "authorization_code", "code": code,
                "redirect_uri": self.settings.callback_url}
        tokens = self._token_request(body, "exchanging the authorization code",
                                     "the code is used once and expires within minutes; "
                                     "open the authorization URL again for a new one")
        LOGGER.info("%s: authorization code exchanged; tokens saved to %s", LABEL,
                    self.settings_file.path)
        return tokens

    def _refresh_grant(self, section: dict[str, t.Any]) -> dict[str, t.Any]:
        body = {"grant_type": "refresh_token", "refresh_token": section["refresh_token"]}
        answer = self._token_request(body, "refreshing the access token",
                                     "the refresh token was already used (a copy of the "
                                     "settings file elsewhere?) or expired (90 days unused); "
                                     + RELOGIN)
        keep = {k: section[k] for k in ("cloud_id", "site_url", "site_name") if k in section}
        LOGGER.info("%s: access token refreshed (valid until %s); the new refresh token is "
                    "saved to %s before use", LABEL, _iso(answer["expires_at"]),
                    self.settings_file.path)
        return {**keep, **answer}

    def _token_request(self, body: dict[str, str], step: str, advice: str) -> dict[str, t.Any]:
        """POST a JSON grant to the token endpoint; the section to store (no site yet)."""
        payload = {"client_id": self.settings.oauth_client_id,
                   "client_secret": self.settings.oauth_client_secret, **body}
        response = self._send("POST", self.settings.oauth_token_url, json=payload, step=step)
        if response.status_code != 200:
            answer = _server_answer(response)
            hint = f"; {advice}" if response.status_code in (400, 401, 403) else ""
            msg = f"{LABEL}: {step} at {self.settings.oauth_token_url} failed: {answer}{hint}"
            raise AuthError(msg)
        try:
            data = response.json()
            access_token = data["access_token"]
        except (ValueError, KeyError, TypeError):
            msg = (f"{LABEL}: {step} at {self.settings.oauth_token_url}: the answer has no "
                   "access_token")
            raise AuthError(msg) from None
        refresh_token = data.get("refresh_token") or body.get("refresh_token")
        if not refresh_token:
            LOGGER.warning("%s: the token answer has no refresh token; add offline_access to "
                           "scope, or the run fails when the access token expires", LABEL)
        try:
            expires_in = float(data.get("expires_in") or DEFAULT_EXPIRES_IN)
        except (TypeError, ValueError):
            expires_in = DEFAULT_EXPIRES_IN
        now = time.time()
        return {
            "client_id": self.settings.oauth_client_id,
            "access_token": access_token,
            "refresh_token": refresh_token,
            "expires_at": now + expires_in,
            "scope": data.get("scope") or "",
            "token_type": data.get("token_type") or "Bearer",
            "obtained_at": _iso(now),
        }

    def _send(self, method: str, url: str, *, step: str, **kw: t.Any) -> requests.Response:
        """One request with a few retries on connection errors, 429 and 5xx."""
        attempts = max(1, min(self.settings.max_retries, 5) + 1)
        for attempt in range(attempts):
            try:
                response = self._http.request(method, url, timeout=self.settings.request_timeout,
                                              allow_redirects=False, **kw)
            except requests.RequestException as exc:
                text, transient = net.network_failure(exc, url)
                if attempt + 1 >= attempts or not transient:
                    msg = f"{LABEL}: {step} at {url} failed: {text}"
                    raise AuthError(msg) from None
            else:
                if response.status_code != 429 and response.status_code < 500:
                    return response
                if attempt + 1 >= attempts:
                    return response
            time.sleep(min(2**attempt * 0.5, self.settings.retry_max_wait_seconds))
        raise AssertionError  # pragma: no cover

    # -- the site ----------------------------------------------------------------------

    def _after_new_tokens(self, section: dict[str, t.Any]) -> None:
        """After `login`/`exchange`: find the cloud id (the tokens are on disk already)."""
        self._tokens = dict(section)
        self._site_info = self._resolve_site()

    def _resolve_site(self) -> dict[str, t.Any]:
        """The accessible-resources entry for ``url`` (or ``cloud_id``), remembered in the file."""
        tokens = self._tokens or {}
        if self.settings.cloud_id:
            return {"id": self.settings.cloud_id, "url": self.settings.url}
        if tokens.get("cloud_id") and _same_site(tokens.get("site_url") or "", self.settings.url):
            return {"id": tokens["cloud_id"], "url": tokens["site_url"],
                    "name": tokens.get("site_name")}
        resources = self._accessible_resources()
        for entry in resources:
            if _same_site(str(entry.get("url") or ""), self.settings.url):
                break
        else:
            seen = "; ".join(f"{r.get('name')} {r.get('url')} (cloud id {r.get('id')})"
                             for r in resources) or "none"
            msg = (f"url: no site this OAuth token can access is {self.settings.url}; the "
                   f"token can access: {seen}. Set url to one of them (or cloud_id), or "
                   "approve the app for that site")
            raise ConfigError(msg)
        if self.mode != "OFF":
            self._remember_site(entry)
        LOGGER.info("%s: site %s is cloud id %s", LABEL, entry.get("url"), entry.get("id"))
        return entry

    def _accessible_resources(self) -> list[dict[str, t.Any]]:
        url = f"{self.settings.oauth_api_url}/oauth/token/accessible-resources"
        step = "listing the sites the token can access"
        for attempt in (1, 2):
            token = (self._tokens or {}).get("access_token")
            response = self._send("GET", url, step=step,
                                  headers={"Authorization": f"Bearer {token}"})
            if response.status_code == 401 and attempt == 1 and self.mode != "OFF":
                self._tokens = self._refresh(rejected=token)
                continue
            break
        if response.status_code != 200:
            what = ("oauth_access_token expired or was revoked (initiate_oauth OFF never "
                    "refreshes)" if response.status_code == 401 and self.mode == "OFF" else "")
            msg = f"{LABEL}: {step} at {url} failed: {_server_answer(response)}"
            raise AuthError(f"{msg}; {what}" if what else msg)
        try:
            resources = response.json()
        except ValueError:
            resources = None
        if not isinstance(resources, list):
            msg = f"{LABEL}: {step} at {url}: expected a JSON list"
            raise AuthError(msg)
        return [r for r in resources if isinstance(r, dict)]

    def _remember_site(self, entry: dict[str, t.Any]) -> None:
        """Store the cloud id next to the tokens it was found with (for `status`, next run)."""
        refresh_token = (self._tokens or {}).get("refresh_token")
        with self._transaction() as state:
            section = state.get(SECTION)
            if section and section.get("refresh_token") == refresh_token:
                section.update(cloud_id=entry.get("id"), site_url=entry.get("url"),
                               site_name=entry.get("name"))

