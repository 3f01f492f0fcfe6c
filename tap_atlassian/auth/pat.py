"""Data Center personal access token sent as ``Authorization: Bearer`` (docs/AUTH_FLOWS.md "pat")."""

from __future__ import annotations

import typing as t

from tap_atlassian.auth.base import SchemeAuth

if t.TYPE_CHECKING:
    import requests


class PatAuth(SchemeAuth):
    """Bearer personal access token (Jira 8.14+, Confluence 7.9+ Data Center)."""

    name = "pat"
    required = ("personal_access_token",)
    deployments = ("server",)
    wrong_deployment = (
        "auth_scheme: personal access tokens exist only on Server/Data Center; on Cloud use "
        "auth_scheme basic with api_token"
    )

    def apply(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        """Add the Bearer header."""
        request.headers["Authorization"] = f"Bearer {self.settings.personal_access_token}"
        return request
