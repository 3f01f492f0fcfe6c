"""OAuth 2.0 (3LO) for Atlassian Cloud: the login seam, and the scopes it asks for.

Wire flow: docs/AUTH_FLOWS.md "oauth, oauth_version 2.0";
https://developer.atlassian.com/cloud/jira/platform/oauth-2-3lo-apps/. API calls go to
``{oauth_api_url}/ex/jira/{cloudId}`` and ``{oauth_api_url}/ex/confluence/{cloudId}/wiki``
with ``Authorization: Bearer``. The scheme (:class:`OAuth2Auth`) puts three modules together:

- :mod:`tap_atlassian.auth.oauth2_grant`: the protocol on authlib (authorization URL, code
  and refresh grants), as flows that never touch the network;
- :mod:`tap_atlassian.auth.oauth2_tokens`: the tokens in the settings file, obtained,
  refreshed (60 s before expiry, or on a 401) or adopted from another process under the
  file's lock, whose transaction is the token-update hook; it drives the flows over a
  :func:`tap_atlassian.net.new_session` session with the tap's one retry policy;
- :mod:`tap_atlassian.auth.oauth2_sites`: the cloud id of ``url`` from accessible-resources.

``initiate_oauth``:

- ``OFF``: ``oauth_access_token`` as given; a 401 is an error saying it expired.
- ``GETANDREFRESH`` (desktop): no stored token -> browser + local listener
  (:mod:`tap_atlassian.auth.browser`), then refresh automatically.
- ``REFRESH`` (headless, default): never a browser. Option 1: ``oauth_verifier`` set and
  no token stored -> exchange it. Option 2: a settings file copied from another machine.
  ``oauth_refresh_token`` seeds an empty file.
"""

from __future__ import annotations

import logging
import threading
import time
import typing as t

from tap_atlassian.auth.base import AuthError, SchemeAuth
from tap_atlassian.auth.browser import BrowserLoginError, callback_address
from tap_atlassian.auth.oauth2_grant import LABEL, expiring, iso
from tap_atlassian.auth.oauth2_sites import TokenRefusedError, accessible_resources, pick_site, same_site
from tap_atlassian.auth.oauth2_tokens import TokenStore
from tap_atlassian.config import ConfigError
from tap_atlassian.errors import server_message
from tap_atlassian.streams import STREAMS

if t.TYPE_CHECKING:
    import requests

    from tap_atlassian.config import Settings
    from tap_atlassian.sites import Site

LOGGER = logging.getLogger("tap-atlassian")

# Read-only scopes covering every stream (classic where Atlassian offers them, granular for
# Confluence REST v2, which documents only granular ones), plus offline_access for a
# refresh token. https://developer.atlassian.com/cloud/confluence/scopes-for-oauth-2-3LO-and-forge-apps/
DEFAULT_SCOPES = (
    "read:jira-work",
    "read:jira-user",
    "read:servicedesk-request",
    "read:confluence-space.summary",
    "read:confluence-content.all",
    "read:confluence-content.summary",
    "search:confluence",
    "read:confluence-user",
    "read:space:confluence",
    "read:page:confluence",
    "offline_access",
    "read:board-scope:jira-software",
    "read:project:jira",
    "read:sprint:jira-software",  # agile streams
    "read:comment:confluence",
    "read:attachment:confluence",
    "read:confluence-groups",  # Confluence second set
    "read:organization:jira-service-management",
    "read:servicedesk.customer:jira-service-management",  # JSM
)


def scopes_for_stream(stream_name: str) -> tuple[tuple[str, ...], ...]:
    """The scope groups a stream needs, as its class states them (``oauth_scopes``: each group
    is met by any one of its scopes; the first is the one a warning names). Unknown: none.
    """
    classes = {cls.name: cls for _, cls in STREAMS}
    return classes[stream_name].oauth_scopes if stream_name in classes else ()


def _bearer(request: requests.PreparedRequest | None) -> str | None:
    value = (request.headers.get("Authorization") or "") if request is not None else ""
    return value[7:] if value.startswith("Bearer ") else None


class OAuth2Auth(SchemeAuth):
    """Atlassian OAuth 2.0 (3LO): Bearer tokens through the ``api.atlassian.com`` gateway."""

    name = "oauth2"
    deployments = ("cloud",)
    wrong_deployment = "oauth_version: OAuth 2.0 (3LO) is Cloud only; use oauth_version 1.0 for Server/DC"

    def __init__(self, settings: Settings, product: str, site: Site) -> None:
        """No request is made until the first API call (or a ``tap-atlassian-auth`` step)."""
        super().__init__(settings, product, site)
        self._tokens: dict[str, t.Any] | None = None
        self._site_info: dict[str, t.Any] | None = None
        self._lock = threading.RLock()
        self.store = TokenStore(settings, self.scope)

    @classmethod
    def required_settings(cls, settings: Settings) -> dict[str, str]:
        """OFF: the access token as given; else the client, whose secret the token endpoint needs."""
        always = f"when auth_scheme is {settings.auth_scheme}"
        mode = settings.initiate_oauth
        if mode == "OFF":
            return {"oauth_access_token": always}
        return {
            "oauth_client_id": always,
            "oauth_client_secret": f"when initiate_oauth is {mode} (the token endpoint needs it)",
        }

    @classmethod
    def validate(cls, settings: Settings) -> None:
        """The desktop flow needs a ``callback_url`` it can listen on."""
        if settings.initiate_oauth == "GETANDREFRESH":
            try:
                callback_address(settings.callback_url)
            except BrowserLoginError as exc:
                raise ConfigError(str(exc)) from None

    @property
    def mode(self) -> str:
        """``OFF``, ``GETANDREFRESH`` or ``REFRESH``."""
        return self.settings.initiate_oauth

    @property
    def scope(self) -> str:
        """The requested scopes (space-separated)."""
        return self.settings.scope or " ".join(DEFAULT_SCOPES)

    # -- the seam ----------------------------------------------------------------------

    def api_base_url(self) -> str:
        """``{oauth_api_url}/ex/jira/{cloudId}`` or ``.../ex/confluence/{cloudId}/wiki``."""
        _, site = self._ensure()
        base = f"{self.settings.oauth_api_url}/ex/{self.product}/{site['id']}"
        return f"{base}/wiki" if self.product == "confluence" else base

    def prepare_session(self, session: requests.Session) -> None:  # noqa: ARG002
        """Obtain or refresh the tokens and find the cloud id before the first request."""
        self._ensure()

    def apply(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        """``Authorization: Bearer``, refreshing first when within 60 s of expiry."""
        tokens, _ = self._ensure()
        request.headers["Authorization"] = f"Bearer {tokens['access_token']}"
        return request

    def renew(self, session: requests.Session, response: requests.Response) -> bool | str:  # noqa: ARG002
        """A 401: refresh once, or adopt a token another process already refreshed (``"adopted"``:
        should that one be refused too, the next 401 refreshes for real).
        """
        if response.status_code != 401:  # noqa: PLR2004
            return False
        if self.mode == "OFF":
            msg = (
                f"{LABEL}: the API answered {response.status_code} {server_message(response)} "
                "to oauth_access_token: the access token expired or was revoked, and "
                "initiate_oauth OFF never refreshes; set a new oauth_access_token, or use "
                "initiate_oauth REFRESH with a settings file"
            )
            raise AuthError(msg)
        with self._lock:
            before = self.store.refreshes
            self._tokens = self._refresh(rejected=_bearer(response.request))
        return True if self.store.refreshes > before else "adopted"

    def skip_reason(self, stream_name: str) -> str | None:
        """Why ``stream_name`` cannot be read with this token (a missing scope), or None."""
        missing = self.missing_scopes(stream_name)
        if not missing:
            return None
        return (
            f"the OAuth 2.0 token lacks scope {' and '.join(missing)}; add it to the app "
            "(developer console > Permissions) and to the `scope` setting, then log in "
            "again (`tap-atlassian-auth login`, or `url` + `exchange`)"
        )

    def missing_scopes(self, stream_name: str) -> list[str]:
        """Scopes ``stream_name`` needs that the token lacks (empty when unknown)."""
        granted = self.granted_scopes()
        if granted is None:
            return []
        return [group[0] for group in scopes_for_stream(stream_name) if not granted.intersection(group)]

    def granted_scopes(self) -> set[str] | None:
        """The token's scopes (token answer, else the site's accessible-resources entry)."""
        tokens, site = self._ensure()
        scope = tokens.get("scope") or " ".join(site.get("scopes") or [])
        return set(scope.split()) if scope else None

    # -- tap-atlassian-auth ------------------------------------------------------------

    def authorization_url(self, state: str | None = None) -> str:
        """The URL a user opens to approve the app (``prompt=consent``); any mode."""
        if not self.settings.oauth_client_id:
            msg = "oauth_client_id: required for the authorization URL"
            raise ConfigError(msg)
        return self.store.oauth.authorization_url(self.scope, state)

    def exchange(self, verifier: str) -> None:
        """Headless option 1: exchange the code from the redirect and store the tokens."""
        self._require_client("exchange")
        with self._lock:
            self._after_new_tokens(self.store.exchange(verifier))

    def login(self) -> None:
        """Desktop: browser, local redirect listener, exchange, store."""
        self._require_client("login")
        with self._lock:
            self._after_new_tokens(self.store.login())

    def status(self) -> dict[str, t.Any]:
        """What the settings file holds: expiry, cloud id, scopes; never a token."""
        out: dict[str, t.Any] = {"scheme": self.name, "product": self.product, "initiate_oauth": self.mode}
        if self.mode == "OFF":
            out.update(
                stored_state=False,
                note="initiate_oauth OFF: oauth_access_token is used as given; no settings file",
            )
            return out
        section = self.store.stored()
        expires_at = section.get("expires_at")
        out.update(
            settings_file=str(self.store.settings_file.path),
            stored_state=bool(section.get("access_token") or section.get("refresh_token")),
            has_refresh_token=bool(section.get("refresh_token")),
            access_token_expires_at=iso(expires_at),
            access_token_expired=None if expires_at is None else expires_at <= time.time(),
            obtained_at=section.get("obtained_at"),
            cloud_id=section.get("cloud_id"),
            site_url=section.get("site_url"),
            site_name=section.get("site_name"),
            scopes=sorted((section.get("scope") or "").split()),
        )
        return out

    def _require_client(self, command: str) -> None:
        if self.mode == "OFF":
            msg = (
                f"initiate_oauth: `tap-atlassian-auth {command}` needs initiate_oauth "
                "REFRESH or GETANDREFRESH (OFF uses oauth_access_token as given)"
            )
            raise ConfigError(msg)

    # -- tokens and site, once per run -------------------------------------------------

    def _ensure(self) -> tuple[dict[str, t.Any], dict[str, t.Any]]:
        """Tokens and site, obtained once per run (and refreshed when near expiry)."""
        with self._lock:
            if self._tokens is None:
                if self.mode == "OFF":
                    self._tokens = {"access_token": self.settings.oauth_access_token}
                else:
                    self._tokens = self.store.obtain(desktop=self.mode == "GETANDREFRESH")
            elif self.mode != "OFF" and expiring(self._tokens):
                self._tokens = self._refresh(rejected=None)
            if self._site_info is None:
                self._site_info = self._resolve_site()
            return self._tokens, self._site_info

    def _refresh(self, rejected: str | None) -> dict[str, t.Any]:
        return self.store.refresh(held=(self._tokens or {}).get("access_token"), rejected=rejected)

    def _after_new_tokens(self, section: dict[str, t.Any]) -> None:
        """After `login`/`exchange`: find the cloud id (the tokens are on disk already)."""
        self._tokens = section
        self._site_info = self._resolve_site()

    def _resolve_site(self) -> dict[str, t.Any]:
        """The accessible-resources entry for ``url`` (or ``cloud_id``), remembered in the file."""
        tokens = self._tokens or {}
        if self.settings.cloud_id:
            return {"id": self.settings.cloud_id, "url": self.settings.url}
        if tokens.get("cloud_id") and same_site(tokens.get("site_url") or "", self.settings.url):
            return {"id": tokens["cloud_id"], "url": tokens["site_url"], "name": tokens.get("site_name")}
        entry = pick_site(self._accessible_resources(), self.settings.url)
        if self.mode != "OFF":
            self.store.remember_site(self._tokens or {}, entry)
        LOGGER.info("%s: site %s is cloud id %s", LABEL, entry.get("url"), entry.get("id"))
        return entry

    def _accessible_resources(self) -> list[dict[str, t.Any]]:
        """The token's sites; a 401 refreshes the token (or adopts a newer one) and asks once more."""
        off = self.mode == "OFF"
        token = (self._tokens or {}).get("access_token") or ""
        api = self.settings.oauth_api_url
        try:
            return self.store.run(accessible_resources(api, token, refreshes=not off, off=off))
        except TokenRefusedError:
            self._tokens = self._refresh(rejected=token)
        return self.store.run(
            accessible_resources(api, self._tokens["access_token"], refreshes=False, off=off)
        )
