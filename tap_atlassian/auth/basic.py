"""HTTP Basic: Cloud e-mail + API token, Server/DC user + password (docs/AUTH_FLOWS.md "basic")."""

from __future__ import annotations

import typing as t

from requests.auth import _basic_auth_str

from tap_atlassian.auth.base import SchemeAuth

if t.TYPE_CHECKING:
    import requests


class BasicAuth(SchemeAuth):
    """``Authorization: Basic base64(user:secret)``; the secret depends on the deployment."""

    name = "basic"

    def __init__(self, *args: t.Any) -> None:
        """Pick API token (Cloud) or password (Server/DC) once the deployment is known."""
        super().__init__(*args)  # the credentials were checked with the deployment (sites.py)
        cloud = self.site.deployment == "cloud"
        secret = self.settings.api_token if cloud else self.settings.password
        self._header = _basic_auth_str(self.settings.user or "", secret or "")

    def apply(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        """Add the Basic header."""
        request.headers["Authorization"] = self._header
        return request
