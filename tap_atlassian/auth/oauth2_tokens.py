"""OAuth 2.0 tokens in the settings file: obtained, refreshed or adopted, never lost.

Atlassian rotates refresh tokens: each refresh answers a NEW refresh token and the old one
stops working (https://developer.atlassian.com/cloud/oauth/getting-started/refresh-tokens).
So every grant runs inside :meth:`SettingsFile.transaction` (an exclusive lock across
processes), which is the token-update hook: what the grant returns is put in the
transaction's state and written (atomically, fsynced) as the transaction ends, before the
new access token is used. Inside it the tap first re-reads the file: when another process
(or the other product of this run) has already refreshed, its fresh access token is
adopted and no refresh token is spent. A failed refresh leaves the file untouched; nothing
ever silently starts a new login.

The tokens live in section ``"oauth2"`` of the settings file: ``client_id``,
``access_token``, ``refresh_token``, ``expires_at`` (epoch seconds), ``scope``,
``obtained_at``, and once known ``cloud_id``, ``site_url``, ``site_name``.
"""

from __future__ import annotations

import contextlib
import logging
import secrets
import typing as t

from tap_atlassian import net
from tap_atlassian.auth.base import AuthError
from tap_atlassian.auth.browser import receive_redirect
from tap_atlassian.auth.flow import Flow, FlowRequest, FlowResult, drive
from tap_atlassian.auth.oauth2_grant import LABEL, RELOGIN, AtlassianOAuth2, expiring, iso
from tap_atlassian.config import ConfigError
from tap_atlassian.settings_file import SettingsFile, SettingsFileError, resolve_passphrase

if t.TYPE_CHECKING:
    import requests

    from tap_atlassian.config import Settings

LOGGER = logging.getLogger("tap-atlassian")
SECTION = "oauth2"


class TokenStore:
    """One app's tokens in the settings file, and the grants that renew them."""

    def __init__(self, settings: Settings, scope: str, session: requests.Session | None = None) -> None:
        """``scope``: what a browser login asks for; ``session``: what the grants go over
        (default: a :func:`tap_atlassian.net.new_session`, ``ca_bundle`` and proxies).
        Nothing is read or requested yet.
        """
        self.settings = settings
        self.scope = scope
        self.oauth = AtlassianOAuth2(settings)
        self.refreshes = 0  # refresh grants this process made (renew: own login vs adopted)
        self._http = session or net.new_session(settings)
        self._file: SettingsFile | None = None

    @property
    def settings_file(self) -> SettingsFile:
        """The encrypted settings file (``oauth_settings_location``)."""
        if self._file is None:
            try:
                passphrase = resolve_passphrase(
                    self.settings.oauth_settings_passphrase,
                    self.settings.oauth_client_secret,
                    "oauth_client_secret",
                )
            except SettingsFileError as exc:
                raise ConfigError(str(exc)) from None
            self._file = SettingsFile(self.settings.oauth_settings_location, passphrase)
        return self._file

    @contextlib.contextmanager
    def transaction(self) -> t.Iterator[dict[str, t.Any]]:
        """The settings file's transaction, with its errors as one-line AuthErrors."""
        try:
            with self.settings_file.transaction() as state:
                yield state
        except SettingsFileError as exc:
            msg = f"{LABEL}: {exc}"
            raise AuthError(msg) from None

    def stored(self) -> dict[str, t.Any]:
        """The section as it is on disk (a snapshot, for ``status``)."""
        try:
            return dict(self.settings_file.load().get(SECTION) or {})
        except SettingsFileError as exc:
            msg = f"{LABEL}: {exc}"
            raise AuthError(msg) from None

    def run(self, flow: Flow[FlowResult]) -> FlowResult:
        """Drive a grant or site flow over this app's session (the tap's retry policy)."""
        return drive(
            flow,
            self._http,
            scheme=LABEL,
            settings=self.settings,
            timeout=self.settings.request_timeout,
            unreachable=_unreachable,
        )

    # -- the three ways to tokens ------------------------------------------------------

    def obtain(self, *, desktop: bool) -> dict[str, t.Any]:
        """First use in a run: stored tokens (refreshed when near expiry), else
        ``oauth_verifier``, ``oauth_refresh_token`` or, with ``desktop``, the browser.
        """
        with self.transaction() as state:
            section = state.get(SECTION) or {}
            self._check_client(section)
            if section.get("refresh_token") or section.get("access_token"):
                if self.settings.oauth_verifier:
                    LOGGER.info(
                        "%s: oauth_verifier ignored: %s already holds tokens", LABEL, self.settings_file.path
                    )
                if expiring(section):
                    state[SECTION] = self._refresh_grant(section)
                return dict(state[SECTION])
            if self.settings.oauth_verifier:
                LOGGER.info("%s: exchanging oauth_verifier for tokens", LABEL)
                state[SECTION] = self._code_grant(self.settings.oauth_verifier)
            elif self.settings.oauth_refresh_token:
                LOGGER.info(
                    "%s: no tokens in %s yet; using oauth_refresh_token", LABEL, self.settings_file.path
                )
                state[SECTION] = self._refresh_grant({"refresh_token": self.settings.oauth_refresh_token})
            elif desktop:
                state[SECTION] = self._browser_grant()
            else:
                msg = (
                    f"{LABEL}: no tokens in the settings file {self.settings_file.path} "
                    "and initiate_oauth is REFRESH (never opens a browser): "
                    f"{RELOGIN}, or copy a settings file from a machine that logged in, "
                    "or set oauth_verifier, or initiate_oauth GETANDREFRESH"
                )
                raise AuthError(msg)
            return dict(state[SECTION])

    def refresh(self, held: str | None, rejected: str | None) -> dict[str, t.Any]:
        """Refresh under the lock, unless someone already did: a valid token in the file
        that is neither the one this run ``held`` nor the one the API ``rejected`` is adopted.
        """
        with self.transaction() as state:
            section = state.get(SECTION) or {}
            self._check_client(section)
            current = section.get("access_token")
            if current and current not in (held, rejected) and not expiring(section):
                LOGGER.info("%s: another run already refreshed the token; using it", LABEL)
            elif not section.get("refresh_token"):
                msg = (
                    f"{LABEL}: the access token expired and the settings file "
                    f"{self.settings_file.path} holds no refresh token (was "
                    f"offline_access in scope?): {RELOGIN}"
                )
                raise AuthError(msg)
            else:
                state[SECTION] = self._refresh_grant(section)
                self.refreshes += 1
            return dict(state[SECTION])

    def exchange(self, code: str) -> dict[str, t.Any]:
        """``tap-atlassian-auth exchange``: the code's tokens, stored."""
        with self.transaction() as state:
            state[SECTION] = self._code_grant(code)
        return dict(state[SECTION])

    def login(self) -> dict[str, t.Any]:
        """``tap-atlassian-auth login``: the browser's tokens, stored."""
        with self.transaction() as state:
            state[SECTION] = self._browser_grant()
        return dict(state[SECTION])

    def remember_site(self, tokens: dict[str, t.Any], entry: dict[str, t.Any]) -> None:
        """Store the cloud id next to the tokens it was found with (for `status`, next run)."""
        with self.transaction() as state:
            section = state.get(SECTION)
            if section and section.get("refresh_token") == tokens.get("refresh_token"):
                section.update(
                    cloud_id=entry.get("id"), site_url=entry.get("url"), site_name=entry.get("name")
                )

    # -- grants (inside a transaction) -------------------------------------------------

    def _check_client(self, section: dict[str, t.Any]) -> None:
        stored = section.get("client_id")
        if stored and stored != self.settings.oauth_client_id:
            msg = (
                f"{LABEL}: the settings file {self.settings_file.path} holds tokens of "
                "another oauth_client_id; use that app's oauth_client_id, or another "
                "oauth_settings_location"
            )
            raise AuthError(msg)

    def _browser_grant(self) -> dict[str, t.Any]:
        state = secrets.token_urlsafe(24)
        url = self.oauth.authorization_url(self.scope, state)
        params = receive_redirect(url, self.settings.callback_url, state=state)
        code = params.get("code")
        if not code:
            msg = f"{LABEL}: the redirect to callback_url carried no `code`"
            raise AuthError(msg)
        return self._code_grant(code)

    def _code_grant(self, code: str) -> dict[str, t.Any]:
        tokens = self.run(self.oauth.code_grant(code))
        LOGGER.info("%s: authorization code exchanged; tokens saved to %s", LABEL, self.settings_file.path)
        return tokens

    def _refresh_grant(self, section: dict[str, t.Any]) -> dict[str, t.Any]:
        answer = self.run(self.oauth.refresh_grant(section["refresh_token"]))
        keep: dict[str, t.Any] = {
            k: section[k] for k in ("cloud_id", "site_url", "site_name") if k in section
        }
        LOGGER.info(
            "%s: access token refreshed (valid until %s); the new refresh token is saved to %s before use",
            LABEL,
            iso(answer["expires_at"]),
            self.settings_file.path,
        )
        return {**keep, **answer}


def _unreachable(item: FlowRequest, text: str) -> AuthError:
    """A token endpoint or gateway that never answered: one line naming step and host."""
    return AuthError(f"{LABEL}: {item.step} at {item.url} failed: {text}")
