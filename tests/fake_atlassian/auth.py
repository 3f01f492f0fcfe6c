"""Core authenticators: Basic (Cloud e-mail + API token; Server user + password), Bearer PAT,
and the JSESSIONID cookie sessions that SSO identity modules open with `fake.new_session()`."""

from __future__ import annotations

import base64
import binascii
import hmac
from typing import TYPE_CHECKING

from .http import Identity

if TYPE_CHECKING:
    from .http import FakeRequest
    from .site import FakeAtlassian


def basic_credentials(authorization: str | None) -> tuple[str, str] | None:
    """User and password of an HTTP Basic ``Authorization`` header (None: not Basic, or not
    decodable)."""
    authz = authorization or ""
    if not authz.lower().startswith("basic "):
        return None
    try:
        user, _, password = base64.b64decode(authz[6:].strip()).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError):
        return None
    return user, password


def install(fake: FakeAtlassian) -> None:
    creds = fake.credentials
    secret = creds.get("api_token") or creds.get("password") or ""
    demo = fake.data.demo_user

    def basic(req: FakeRequest) -> Identity | None:
        given = basic_credentials(req.headers.get("authorization"))
        if given is None:
            return None
        user, pw = given
        if hmac.compare_digest(user.lower(), creds["user"].lower()) and hmac.compare_digest(pw, secret) \
                and not fake.control.revoked("basic"):
            return Identity("basic", creds["user"])
        return None

    def pat(req: FakeRequest) -> Identity | None:
        authz = req.headers.get("authorization") or ""
        if not authz.lower().startswith("bearer "):
            return None
        if hmac.compare_digest(authz[7:].strip(), creds["personal_access_token"]) \
                and not fake.control.revoked("pat"):
            return Identity("pat", demo["name"] if fake.flavour == "server" else demo["email"])
        return None

    def session(req: FakeRequest) -> Identity | None:
        value = req.cookies.get("JSESSIONID")
        return fake.sessions.get(value) if value else None

    fake.add_authenticator(basic, first=False)
    fake.add_authenticator(pat, first=False)
    fake.add_authenticator(session, first=False)
