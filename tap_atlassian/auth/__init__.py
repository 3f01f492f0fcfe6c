"""Login schemes: ``build_authenticator`` is one lookup in :data:`SCHEMES`.

To add a scheme, add its ``"module:Class"`` entry (a ``SchemeAuth`` subclass in this
package); nothing else changes.
"""

from __future__ import annotations

import importlib
import typing as t

from tap_atlassian.auth.base import AtlassianAuthenticator, AuthError, NotSupportedError, SchemeAuth
from tap_atlassian.config import ConfigError

if t.TYPE_CHECKING:
    from tap_atlassian.config import Settings
    from tap_atlassian.sites import Site

__all__ = [
    "SCHEMES",
    "AtlassianAuthenticator",
    "AuthError",
    "NotSupportedError",
    "SchemeAuth",
    "build_authenticator",
    "scheme_class",
]

# (auth_scheme, oauth_version or None) -> "module:Class" below tap_atlassian.auth.
SCHEMES: dict[tuple[str, str | None], str] = {
    ("basic", None): "basic:BasicAuth",
    ("pat", None): "pat:PatAuth",
    ("oauth", "2.0"): "oauth2:OAuth2Auth",
    ("oauth", "1.0"): "oauth1:OAuth1Scheme",
    ("crowd", None): "crowd:CrowdAuth",
    ("okta", None): "okta:OktaAuth",
}


def scheme_class(settings: Settings) -> type[SchemeAuth]:
    """The ``SchemeAuth`` class for the configured ``auth_scheme`` (and ``oauth_version``)."""
    version = settings.oauth_version if settings.auth_scheme == "oauth" else None
    key = (settings.auth_scheme, version)
    if key not in SCHEMES:
        msg = f"auth_scheme: {settings.auth_scheme!r} is not one of basic, oauth, crowd, okta, pat"
        raise ConfigError(msg)
    module, _, name = SCHEMES[key].partition(":")
    return getattr(importlib.import_module(f"tap_atlassian.auth.{module}"), name)


def build_authenticator(settings: Settings, product: str, site: Site) -> AtlassianAuthenticator:
    """The one authenticator of ``product`` (``jira`` / ``confluence``) for this tap run."""
    cls = scheme_class(settings)
    cls.validate(settings)
    return AtlassianAuthenticator(cls(settings, product, site))
