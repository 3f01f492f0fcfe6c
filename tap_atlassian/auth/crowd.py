"""``auth_scheme: crowd``: SAML single sign-on with Atlassian Crowd as identity provider.

Wire flow (docs/AUTH_FLOWS.md "crowd"; Crowd REST "token" group,
https://developer.atlassian.com/server/crowd/rest/v601/api-group-token):

1. ``POST {CROWD}/rest/usermanagement/1/session`` with the *application's* name and
   password as Basic auth and the user's credentials in the body -> a Crowd SSO token.
2. ``GET {sso_login_url}`` (``.../console/secure/saml/sso.action``) with the token as the
   ``crowd.token_key`` cookie -> an auto-submit form carrying ``SAMLResponse``.
3. ``POST`` that form to ``sso_exchange_url`` -> the product's session cookies.
"""

from __future__ import annotations

import typing as t

from requests.auth import _basic_auth_str

from tap_atlassian.auth.saml import (
    Flow,
    FlowRequest,
    FlowResponse,
    LoginError,
    SamlSchemeAuth,
    server_answer,
    submit_saml_form,
    unexpected_page,
)
from tap_atlassian.config import ConfigError

if t.TYPE_CHECKING:
    from tap_atlassian.config import Settings

SCHEME = "crowd"
CROWD_TOKEN_COOKIE = "crowd.token_key"  # noqa: S105  (the cookie's name, not a secret)


def crowd_base(login_url: str) -> str:
    """Crowd's base URL: ``sso_login_url`` up to (not including) ``/console/``."""
    base, sep, _ = login_url.partition("/console/")
    if not sep:
        msg = "sso_login_url: a Crowd SSO URL looks like https://HOST/crowd/console/secure/saml/sso.action"
        raise ConfigError(msg)
    return base


def crowd_flow(  # noqa: PLR0913  (keyword-only: each input is named at the call)
    *,
    user: str,
    password: str,
    login_url: str,
    exchange_url: str,
    app_name: str,
    app_password: str,
    remote_address: str = "127.0.0.1",
) -> Flow[FlowResponse]:
    """The Crowd login as a flow; returns the assertion consumer's answer."""
    step = "the Crowd session (POST /rest/usermanagement/1/session)"
    answer = yield FlowRequest(
        "POST",
        f"{crowd_base(login_url)}/rest/usermanagement/1/session",
        step=step,
        headers={"Authorization": _basic_auth_str(app_name, app_password), "Accept": "application/json"},
        json={
            "username": user,
            "password": password,
            "validation-factors": {
                "validationFactors": [{"name": "remote_address", "value": remote_address}]
            },
        },
    )
    body = answer.json() if isinstance(answer.json(), dict) else {}
    if answer.status == 401:  # noqa: PLR2004
        raise LoginError(
            SCHEME,
            step,
            f"Crowd rejected the application credentials "
            f"({server_answer(answer)}): check sso_app_name and sso_app_password, "
            "and that Crowd allows this machine's address for the application",
        )
    if answer.status == 400 and body.get("reason") == "INVALID_USER_AUTHENTICATION":  # noqa: PLR2004
        raise LoginError(
            SCHEME,
            step,
            f"Crowd rejected the user's name or password ({server_answer(answer)}): check user and password",
        )
    if answer.status not in (200, 201) or not isinstance(body.get("token"), str):
        raise unexpected_page(SCHEME, step, answer, "expected 201 with a Crowd session token")
    page = yield FlowRequest(
        "GET",
        login_url,
        step="the Crowd SAML SSO page",
        cookies={CROWD_TOKEN_COOKIE: body["token"]},
        headers={"Accept": "text/html"},
    )
    return (yield from submit_saml_form(SCHEME, page, exchange_url))


class CrowdAuth(SamlSchemeAuth[FlowResponse]):
    """Crowd SSO: the product's session cookies, renewed once on a 401 or login redirect."""

    name = SCHEME
    required = ("user", "password", "sso_login_url", "sso_app_name", "sso_app_password")
    deployments = ("server",)
    wrong_deployment = "auth_scheme: Crowd SSO logs in to Server/Data Center only; set deployment to server"

    @classmethod
    def validate(cls, settings: Settings) -> None:
        """``sso_login_url`` (and Confluence's) must be a Crowd SSO URL."""
        crowd_base(settings.sso_login_url or "")
        if settings.confluence_sso_login_url:
            crowd_base(settings.confluence_sso_login_url)

    def login_flow(self) -> Flow[FlowResponse]:
        """Crowd steps 1-3 for this product."""
        s = self.settings
        return crowd_flow(
            user=s.user or "",
            password=s.password or "",
            login_url=self.target.login_url,
            exchange_url=self.target.exchange_url,
            app_name=s.sso_app_name or "",
            app_password=s.sso_app_password or "",
            remote_address=str(s.sso_properties.get("remote_address") or "127.0.0.1"),
        )
