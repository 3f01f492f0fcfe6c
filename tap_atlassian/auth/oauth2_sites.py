"""Which Atlassian Cloud site an OAuth 2.0 token reads: the cloud id behind ``url``.

A 3LO token is not bound to one site; the API gateway addresses a site by its cloud id
(``{oauth_api_url}/ex/jira/{cloudId}``). ``GET {oauth_api_url}/oauth/token/accessible-resources``
lists the sites the token was approved for, ``[{"id", "name", "url", "scopes", "avatarUrl"}]``
(https://developer.atlassian.com/cloud/jira/platform/oauth-2-3lo-apps/#3--make-calls-to-the-api-using-the-access-token);
the entry whose ``url`` is the configured ``url`` gives the cloud id. Like the grants, the
lookup is a flow (:mod:`tap_atlassian.auth.flow`) driven by the scheme.
"""

from __future__ import annotations

import typing as t
from urllib.parse import urlsplit

from tap_atlassian.auth.base import AuthError
from tap_atlassian.auth.flow import Flow, FlowRequest
from tap_atlassian.auth.oauth2_grant import LABEL, answer_text
from tap_atlassian.config import ConfigError

STEP = "listing the sites the token can access"


class TokenRefusedError(AuthError):
    """The gateway refused the access token (401): refresh it and ask again."""


def same_site(a: str, b: str) -> bool:
    """Same scheme, host and port (a trailing ``/wiki`` or ``/`` in ``url`` is ignored)."""
    a, b = (u.rstrip("/").removesuffix("/wiki") for u in (a, b))
    pa, pb = urlsplit(a), urlsplit(b)
    return (pa.scheme, (pa.hostname or "").lower(), pa.port, pa.path) == (
        pb.scheme,
        (pb.hostname or "").lower(),
        pb.port,
        pb.path,
    )


def accessible_resources(
    api_url: str, access_token: str, *, refreshes: bool, off: bool
) -> Flow[list[dict[str, t.Any]]]:
    """Flow: the sites the token can access (a list of dicts).

    Raises:
        TokenRefusedError: a 401 when the token may be refreshed and asked again (``refreshes``);
            with ``off`` (``initiate_oauth OFF``) a 401 says the token expired.
        AuthError: any other refusal, or an answer that is not a JSON list.
    """
    url = f"{api_url}/oauth/token/accessible-resources"
    answer = yield FlowRequest(
        "GET",
        url,
        step=STEP,
        follow_redirects=False,
        headers={"Accept": "application/json", "Authorization": f"Bearer {access_token}"},
    )
    if answer.status == 401 and refreshes:  # noqa: PLR2004
        msg = f"{LABEL}: {STEP} at {url}: {answer_text(answer)}"
        raise TokenRefusedError(msg)
    if answer.status != 200:  # noqa: PLR2004
        msg = f"{LABEL}: {STEP} at {url} failed: {answer_text(answer)}"
        if answer.status == 401 and off:  # noqa: PLR2004
            msg += "; oauth_access_token expired or was revoked (initiate_oauth OFF never refreshes)"
        raise AuthError(msg)
    resources = answer.json()
    if not isinstance(resources, list):
        msg = f"{LABEL}: {STEP} at {url}: expected a JSON list"
        raise AuthError(msg)
    return [r for r in resources if isinstance(r, dict)]


def pick_site(resources: list[dict[str, t.Any]], url: str) -> dict[str, t.Any]:
    """The entry for ``url``; none is a ``url`` error listing the sites the token can see."""
    for entry in resources:
        if same_site(str(entry.get("url") or ""), url):
            return entry
    seen = "; ".join(f"{r.get('name')} {r.get('url')} (cloud id {r.get('id')})" for r in resources) or "none"
    msg = (
        f"url: no site this OAuth token can access is {url}; the token can access: {seen}. "
        "Set url to one of them (or cloud_id), or approve the app for that site"
    )
    raise ConfigError(msg)
