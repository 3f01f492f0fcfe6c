"""The login seam: one :class:`SchemeAuth` per scheme, one :class:`AtlassianAuthenticator` per product.

Streams never look at the scheme. They attach the product's ``AtlassianAuthenticator`` (a
``requests`` auth), let it ``prepare`` the shared session once before the first request,
and on a 401 (or a redirect to a login page) ask it to ``renew`` once; a second rejection in
a row is fatal. See ``docs/ARCHITECTURE.md`` ("The tap's login seam").
"""

from __future__ import annotations

import threading
import typing as t

from requests.auth import AuthBase

from tap_atlassian.config import ConfigError

if t.TYPE_CHECKING:
    import requests

    from tap_atlassian.config import Settings
    from tap_atlassian.sites import Site


class AuthError(Exception):
    """A login step failed; the message is one line naming scheme, step and server answer."""


class NotSupportedError(AuthError):
    """The scheme has no such step (for example an authorization URL for basic)."""


class SchemeAuth:
    """One login scheme for one product (``jira`` or ``confluence``); one instance per tap run.

    Subclasses override what their scheme needs; the defaults suit a scheme that only adds
    a header (``apply``) and cannot renew anything.
    """

    name: str = "base"
    # What the scheme needs, walked by `check` before any request: the settings it cannot log
    # in without, and the deployments it logs in to (elsewhere `wrong_deployment` is the error:
    # "setting: why, and what to use instead").
    required: t.ClassVar[tuple[str, ...]] = ()
    deployments: t.ClassVar[tuple[str, ...]] = ("cloud", "server")
    wrong_deployment: t.ClassVar[str] = ""

    def __init__(self, settings: Settings, product: str, site: Site) -> None:
        """Keep the settings, the product (``jira`` / ``confluence``) and its site."""
        self.settings = settings
        self.product = product
        self.site = site

    @classmethod
    def required_settings(cls, settings: Settings) -> dict[str, str]:
        """Each setting this login needs, with when it is needed (default: ``required``, always)."""
        return dict.fromkeys(cls.required, f"when auth_scheme is {settings.auth_scheme}")

    @classmethod
    def check(cls, settings: Settings, deployment: str | None) -> None:
        """Raise ``ConfigError`` unless the settings can log in to ``deployment`` (None: not
        known yet); run up front with the deployment the settings imply, and once detected.
        """
        if deployment and deployment not in cls.deployments:
            raise ConfigError(cls.wrong_deployment)
        for name, when in cls.required_settings(settings).items():
            if not getattr(settings, name):
                msg = f"{name}: required {when}"
                raise ConfigError(msg)

    @classmethod
    def validate(cls, settings: Settings) -> None:
        """Checks beyond :meth:`check` that read what the settings point to (a key file, a
        URL's shape), run when the login is built; raise ``ConfigError`` (one line).
        """

    def api_base_url(self) -> str | None:
        """The URL that replaces the product base URL, or None to use the site's own.

        The returned URL stands for ``site.base_url``: Jira paths (``/rest/api/3/...``) and
        Confluence paths (``/api/v2/...``, ``/rest/api/...``, i.e. below ``/wiki`` on Cloud)
        are appended to it. OAuth 2.0 returns ``{oauth_api_url}/ex/jira/{cloudId}`` and
        ``{oauth_api_url}/ex/confluence/{cloudId}/wiki``.
        """
        return None

    def prepare_session(self, session: requests.Session) -> None:
        """Log in before the first request (SSO cookies, token refresh); default: nothing."""

    def apply(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        """Add the Authorization header or signature to a prepared request."""
        return request

    def renew(self, session: requests.Session, response: requests.Response) -> bool | str:  # noqa: ARG002
        """After a 401 or login redirect: log in again once; True means retry the request,
        ``"adopted"`` retry with a login another process made meanwhile (not this run's own).
        """
        return False

    def skip_reason(self, stream_name: str) -> str | None:  # noqa: ARG002
        """Why this login cannot read a stream (OAuth 2.0: a scope it lacks), or None."""
        return None

    # Used by `tap-atlassian-auth`.
    def authorization_url(self) -> str:
        """The URL a user opens to authorize the app (``tap-atlassian-auth url``)."""
        raise NotSupportedError(self._unsupported("url"))

    def exchange(self, verifier: str) -> None:  # noqa: ARG002
        """Exchange an authorization verifier / code for tokens and store them."""
        raise NotSupportedError(self._unsupported("exchange"))

    def login(self) -> None:
        """Run the interactive (browser) login and store its result."""
        raise NotSupportedError(self._unsupported("login"))

    def status(self) -> dict[str, t.Any]:
        """What the stored login state holds; never a secret."""
        return {
            "scheme": self.name,
            "product": self.product,
            "deployment": self.site.deployment,
            "stored_state": False,
        }

    def _unsupported(self, command: str) -> str:
        return (
            f"auth_scheme {self.settings.auth_scheme}: `tap-atlassian-auth {command}` is not "
            f"needed for this scheme ({self.name} sends its credentials with each request)"
        )


class AtlassianAuthenticator(AuthBase):
    """The ``requests`` auth every stream of one product attaches (one per product per run)."""

    def __init__(self, scheme: SchemeAuth) -> None:
        """Wrap the scheme; the session is prepared lazily, once."""
        self.scheme = scheme
        self._prepared: set[int] = set()
        self._lock = threading.Lock()

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        """Authenticate one request."""
        return self.scheme.apply(request)

    @property
    def api_base_url(self) -> str:
        """Where the product's API lives for this scheme (site URL or a gateway)."""
        return (self.scheme.api_base_url() or self.scheme.site.base_url).rstrip("/")

    def prepare(self, session: requests.Session) -> None:
        """Log in on this session before its first request (once)."""
        with self._lock:
            if id(session) not in self._prepared:
                self.scheme.prepare_session(session)
                self._prepared.add(id(session))

    def renew(self, session: requests.Session, response: requests.Response) -> bool | str:
        """Log in again after a rejection; truthy means retry the request (see ``SchemeAuth.renew``)."""
        with self._lock:
            return self.scheme.renew(session, response)
