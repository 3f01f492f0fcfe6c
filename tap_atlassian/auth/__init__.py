"""Login schemes: the registration is one line of :data:`tap_atlassian.config.LOGINS`.

A scheme is one module here with a ``SchemeAuth`` subclass that states what it needs
(``required``, ``deployments``: see :class:`SchemeAuth`); :func:`check_deployment` walks
that for the configured scheme and :func:`build_authenticator` builds it.
"""

from __future__ import annotations

import importlib
import typing as t

from tap_atlassian.auth.base import AtlassianAuthenticator, AuthError, NotSupportedError, SchemeAuth
from tap_atlassian.config import AUTH_SCHEMES, LOGINS, ConfigError, Settings

if t.TYPE_CHECKING:
    from tap_atlassian.sites import Site

__all__ = [
    "AtlassianAuthenticator",
    "AuthError",
    "NotSupportedError",
    "SchemeAuth",
    "build_authenticator",
    "check_deployment",
    "load_settings",
    "scheme_class",
]


def scheme_class(settings: Settings) -> type[SchemeAuth]:
    """The ``SchemeAuth`` class for the configured ``auth_scheme`` (and ``oauth_version``)."""
    version = settings.oauth_version if settings.auth_scheme == "oauth" else None
    key = (settings.auth_scheme, version)
    if key not in LOGINS:
        msg = f"auth_scheme: {settings.auth_scheme!r} is not one of {', '.join(AUTH_SCHEMES)}"
        raise ConfigError(msg)
    module, _, name = LOGINS[key].partition(":")
    return getattr(importlib.import_module(f"tap_atlassian.auth.{module}"), name)


def check_deployment(settings: Settings, deployment: str | None) -> None:
    """The configured scheme's requirements, for ``deployment`` (None: not known yet)."""
    scheme_class(settings).check(settings, deployment)


def load_settings(config: t.Mapping[str, t.Any]) -> Settings:
    """The settings of ``config`` with what their login needs, checked before any request."""
    settings = Settings.from_config(config)
    check_deployment(settings, settings.deployment_hint)
    return settings


def build_authenticator(settings: Settings, product: str, site: Site) -> AtlassianAuthenticator:
    """The one authenticator of ``product`` (``jira`` / ``confluence``) for this tap run."""
    cls = scheme_class(settings)
    cls.validate(settings)
    return AtlassianAuthenticator(cls(settings, product, site))
