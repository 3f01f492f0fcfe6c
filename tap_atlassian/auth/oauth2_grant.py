"""The OAuth 2.0 (3LO) protocol for Atlassian, on authlib, as flows that never touch the network.

Atlassian's authorization server (https://developer.atlassian.com/cloud/jira/platform/oauth-2-3lo-apps/,
docs/AUTH_FLOWS.md "oauth, oauth_version 2.0"):

1. The user approves at ``{oauth_authorization_url}?audience=api.atlassian.com&client_id=..
   &scope=..&redirect_uri=..&state=..&response_type=code&prompt=consent``.
2. ``POST {oauth_token_url}`` ``authorization_code`` grant -> access + refresh token.
3. ``POST {oauth_token_url}`` ``refresh_token`` grant -> a NEW pair; the old refresh token
   stops working (after a 10-minute grace window,
   https://developer.atlassian.com/cloud/oauth/getting-started/refresh-tokens).

authlib builds the protocol: :class:`authlib.oauth2.client.OAuth2Client` the authorization
URL (its ``state``, ``prompt``) and the client authentication (``client_secret_post``: id and
secret in the body, as Atlassian asks), :func:`~authlib.oauth2.rfc6749.parameters.prepare_token_request`
the grant bodies, :class:`~authlib.oauth2.rfc6749.OAuth2Token` the answer (``expires_at``
from ``expires_in``, ``is_expired`` with the 60 s margin). Atlassian takes those form
parameters as a JSON object; that is the one compliance fix here.

The grants are flows (:mod:`tap_atlassian.auth.flow`, like the Crowd and Okta logins): they
yield the request and read the answer, so every branch is tested by feeding answers; the
scheme (:mod:`tap_atlassian.auth.oauth2`) drives them over its ``requests`` session (``ca_bundle``,
proxies, the tap's retry policy) inside the settings-file transaction that saves what they
return. Nothing here reads or writes a file.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
import typing as t

from authlib.common.urls import url_decode
from authlib.oauth2.client import OAuth2Client
from authlib.oauth2.rfc6749 import OAuth2Token
from authlib.oauth2.rfc6749.parameters import prepare_token_request

from tap_atlassian.auth.base import AuthError
from tap_atlassian.auth.flow import Flow, FlowRequest, FlowResponse
from tap_atlassian.errors import server_message

if t.TYPE_CHECKING:
    from tap_atlassian.config import Settings

LOGGER = logging.getLogger("tap-atlassian")

LABEL = "oauth (OAuth 2.0)"
AUDIENCE = "api.atlassian.com"
REFRESH_MARGIN_SECONDS = 60
DEFAULT_EXPIRES_IN = 3600
RELOGIN = (
    "log in again: `tap-atlassian-auth login` (desktop) or `tap-atlassian-auth url` "
    "then `tap-atlassian-auth exchange --verifier CODE` (headless)"
)
JSON = {"Accept": "application/json", "Content-Type": "application/json"}
CODE_ADVICE = (
    "the code is used once and expires within minutes; open the authorization URL again for a new one"
)
REFRESH_ADVICE = (
    "the refresh token was already used (a copy of the settings file elsewhere?) "
    "or expired (90 days unused); " + RELOGIN
)


def answer_text(answer: FlowResponse) -> str:
    """``403 invalid_grant: Unknown or invalid refresh token.``: status and the server's
    words (:func:`tap_atlassian.errors.server_message`; never a token).
    """
    # server_message is typed for requests.Response; a FlowResponse reads alike (content, text, reason).
    return f"{answer.status} {server_message(answer)}".strip()


def iso(epoch: float | None) -> str | None:
    """Epoch seconds as an ISO 8601 UTC time (what logs and ``status`` show)."""
    if epoch is None:
        return None
    return dt.datetime.fromtimestamp(epoch, dt.timezone.utc).isoformat(timespec="seconds")


def expiring(tokens: t.Mapping[str, t.Any]) -> bool:
    """Whether stored tokens are within :data:`REFRESH_MARGIN_SECONDS` of expiry (or of
    unknown expiry): refresh before use.
    """
    return OAuth2Token(dict(tokens)).is_expired(leeway=REFRESH_MARGIN_SECONDS) is not False


class AtlassianOAuth2:
    """One app (client id and secret) at Atlassian's authorization server: URLs and grant flows."""

    def __init__(self, settings: Settings) -> None:
        """Read the app and endpoints from the settings; no request is made."""
        self.token_url = settings.oauth_token_url
        self.authorize_endpoint = settings.oauth_authorization_url
        self.client_id = settings.oauth_client_id
        self.client = OAuth2Client(
            None,
            client_id=settings.oauth_client_id,
            client_secret=settings.oauth_client_secret,
            token_endpoint_auth_method="client_secret_post",  # noqa: S106  (a method's name, not a secret)
            redirect_uri=settings.callback_url,
            leeway=REFRESH_MARGIN_SECONDS,
            prompt="consent",
        )

    def authorization_url(self, scope: str, state: str | None = None) -> str:
        """The URL a user opens to approve the app (``prompt=consent``; a random ``state``
        when none is given).
        """
        url, _ = self.client.create_authorization_url(
            f"{self.authorize_endpoint}?audience={AUDIENCE}", state=state, scope=scope
        )
        return url

    def code_grant(self, code: str) -> Flow[dict[str, t.Any]]:
        """Flow: exchange an authorization code; returns the tokens to store."""
        body = prepare_token_request("authorization_code", code=code, redirect_uri=self.client.redirect_uri)
        return (yield from self._token_request(body, "exchanging the authorization code", CODE_ADVICE))

    def refresh_grant(self, refresh_token: str) -> Flow[dict[str, t.Any]]:
        """Flow: spend ``refresh_token``; returns the NEW pair to store before any use.

        An answer without a refresh token keeps the one spent (authlib's rule too).
        """
        body = prepare_token_request("refresh_token", refresh_token=refresh_token)
        return (
            yield from self._token_request(
                body, "refreshing the access token", REFRESH_ADVICE, spent=refresh_token
            )
        )

    def _token_request(
        self, body: str, step: str, advice: str, spent: str | None = None
    ) -> Flow[dict[str, t.Any]]:
        """POST a grant to the token endpoint: authlib's form parameters and client
        authentication, sent as the JSON object Atlassian asks for.
        """
        _, _, body = self.client.client_auth("client_secret_post").prepare("POST", self.token_url, {}, body)
        answer = yield FlowRequest(
            "POST",
            self.token_url,
            step=step,
            headers=JSON,
            json=dict(url_decode(body)),
            follow_redirects=False,
        )
        if answer.status != 200:  # noqa: PLR2004
            hint = f"; {advice}" if answer.status in (400, 401, 403) else ""
            msg = f"{LABEL}: {step} at {self.token_url} failed: {answer_text(answer)}{hint}"
            raise AuthError(msg)
        data = answer.json()
        if not isinstance(data, dict) or not data.get("access_token"):
            msg = f"{LABEL}: {step} at {self.token_url}: the answer has no access_token"
            raise AuthError(msg)
        return self.stored(data, spent)

    def stored(self, data: dict[str, t.Any], spent: str | None = None) -> dict[str, t.Any]:
        """A token answer as the settings file keeps it (``expires_at`` in epoch seconds;
        without a new refresh token, the one ``spent`` is kept).
        """
        try:
            expires_in = float(data.get("expires_in") or DEFAULT_EXPIRES_IN)
        except (TypeError, ValueError):
            expires_in = DEFAULT_EXPIRES_IN
        now = time.time()
        token = OAuth2Token({"access_token": data["access_token"], "expires_in": expires_in})
        refresh_token = data.get("refresh_token") or spent
        if not refresh_token:
            LOGGER.warning(
                "%s: the token answer has no refresh token; add offline_access to "
                "scope, or the run fails when the access token expires",
                LABEL,
            )
        return {
            "client_id": self.client_id,
            "access_token": token["access_token"],
            "refresh_token": refresh_token,
            "expires_at": token["expires_at"],
            "scope": data.get("scope") or "",
            "token_type": data.get("token_type") or "Bearer",
            "obtained_at": iso(now),
        }
