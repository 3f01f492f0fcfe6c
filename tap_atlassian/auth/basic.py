"""HTTP Basic: Cloud e-mail + API token, Server/DC user + password (docs/AUTH_FLOWS.md "basic")."""

from __future__ import annotations

import typing as t

from requests.auth import _basic_auth_str

from tap_atlassian.auth.base import SchemeAuth
from tap_atlassian.config import ConfigError

if t.TYPE_CHECKING:
    import requests

    from tap_atlassian.config import Settings


class BasicAuth(SchemeAuth):
    """``Authorization: Basic base64(user:secret)``; the secret depends on the deployment."""

    name = "basic"
    required = ("user",)

    @classmethod
    def check(cls, settings: Settings, deployment: str | None) -> None:
        """Cloud needs ``api_token``, Server/DC ``password``; not known yet, one of them."""
        super().check(settings, deployment)
        if deployment == "cloud" and not settings.api_token:
            hint = " (Cloud Basic uses an API token, not the password)" if settings.password else ""
            msg = f"api_token: required for basic login to Atlassian Cloud{hint}"
            raise ConfigError(msg)
        if deployment == "server" and not settings.password:
            msg = "password: required for basic login to Server/Data Center"
            raise ConfigError(msg)
        if deployment is None and not (settings.password or settings.api_token):
            msg = "password: required for basic login (or api_token on Cloud)"
            raise ConfigError(msg)

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
