"""SAML single sign-on shared by ``crowd`` and ``okta`` (docs/AUTH_FLOWS.md "crowd", "okta").

A login is written as a *flow* (:mod:`tap_atlassian.auth.flow`): a generator that yields
requests and is sent back answers, so a whole Okta MFA exchange is unit-tested by feeding
it recorded answers. :func:`drive` runs a flow for real over the product's
``requests.Session`` (with the tap's retry policy): the product's session cookies set by
the assertion consumer land in that session's jar, scoped to the product host by
``requests`` itself.

Identity-provider pages are parsed with lxml with network access off (and, for XML,
entity resolution off); a SAML form whose ``action`` is not on the origin of
``sso_exchange_url`` is refused, so an assertion never goes to a third host.
"""

from __future__ import annotations

import base64
import dataclasses
import logging
import re
import threading
import time
import typing as t
from urllib.parse import urljoin, urlsplit

import requests
import requests.cookies
from lxml import etree, html

from tap_atlassian import net
from tap_atlassian.auth.base import SchemeAuth
from tap_atlassian.auth.flow import (  # the flow machinery, re-exported for crowd and okta
    Flow,
    FlowRequest,
    FlowResponse,
    FlowResult,
    LoginError,
    Wait,  # noqa: F401 (okta imports it from here)
    drive,
    public_url,
)
from tap_atlassian.errors import server_message
from tap_atlassian.settings_file import SettingsFile, SettingsFileError, resolve_passphrase

if t.TYPE_CHECKING:
    from http.cookiejar import Cookie

    from tap_atlassian.config import Settings
    from tap_atlassian.sites import Site

LOGGER = logging.getLogger("tap-atlassian")
SAMLP_NS = "urn:oasis:names:tc:SAML:2.0:protocol"
SAML_SUCCESS = "urn:oasis:names:tc:SAML:2.0:status:Success"
# Paths of a product's (or an IdP's) login page: a redirect there means "not logged in".
LOGIN_PATH_MARKERS = ("login.jsp", "login.action", "/login", "external-login", "sso.action")


_SECRET_QUERY = re.compile(r"\b(sessionToken|token|SAMLResponse|stateToken)=[^&\s\"']+")


class _QueryGuard(logging.Filter):
    """Masks Okta's single-use ``sessionToken`` (and like values) in urllib3's DEBUG request
    lines, the only place a URL with its query is logged.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        clean = _SECRET_QUERY.sub(r"\1=***", message)
        if clean != message:
            record.msg, record.args = clean, None
        return True


def guard_request_logs() -> None:
    """Install :class:`_QueryGuard` on urllib3's connection-pool logger (once)."""
    logger = logging.getLogger("urllib3.connectionpool")
    if not any(isinstance(f, _QueryGuard) for f in logger.filters):
        logger.addFilter(_QueryGuard())


def origin(url: str) -> tuple[str, str, int | None]:
    """(scheme, host, port) with default ports made explicit."""
    parts = urlsplit(url)
    port = parts.port or {"http": 80, "https": 443}.get(parts.scheme)
    return parts.scheme.lower(), (parts.hostname or "").lower(), port


def server_answer(response: FlowResponse) -> str:
    """``HTTP 401 (E0000004: Authentication failed)``: the status and, when the body has any,
    the server's own words (:func:`tap_atlassian.errors.server_message`, never a secret).
    """
    # server_message is typed for requests.Response; a FlowResponse reads alike (content, text, reason).
    words = server_message(response) if response.body.strip() else ""
    return f"HTTP {response.status} ({words})" if words else f"HTTP {response.status}"


def unexpected_page(scheme: str, step: str, response: FlowResponse, what: str) -> LoginError:
    """The error for an identity-provider answer that is not what the flow expects."""
    return LoginError(
        scheme, step, f"unexpected answer from {public_url(response.url)}: {server_answer(response)}, {what}"
    )


@dataclasses.dataclass(frozen=True)
class SamlForm:
    """The auto-submit form an IdP answers: where it posts, and its hidden fields."""

    action: str
    fields: dict[str, str]

    def __repr__(self) -> str:
        """Field names only: ``SAMLResponse`` is the assertion."""
        return f"SamlForm(action={public_url(self.action)!r}, fields={sorted(self.fields)})"


def parse_saml_form(scheme: str, step: str, response: FlowResponse) -> SamlForm:
    """Find the form carrying ``SAMLResponse`` in an IdP page (lxml, network off).

    Raises:
        LoginError: not a 200 page, or no form with a ``SAMLResponse`` input.
    """
    if response.status != 200 or not response.body.strip():  # noqa: PLR2004
        raise unexpected_page(scheme, step, response, "expected a page with a SAML form")
    parser = html.HTMLParser(no_network=True, remove_comments=True, remove_pis=True)
    try:
        doc = html.document_fromstring(response.body, parser=parser)
    except (etree.ParserError, ValueError):
        raise unexpected_page(scheme, step, response, "the page does not parse as HTML") from None
    for form in doc.iter("form"):
        fields = {name: i.get("value") or "" for i in form.iter("input") if (name := i.get("name"))}
        if fields.get("SAMLResponse"):
            action = urljoin(response.url, form.get("action") or response.url)
            return SamlForm(action=action, fields=fields)
    raise unexpected_page(
        scheme,
        step,
        response,
        "the page has no form with a SAMLResponse "
        "(check the user's access to the application and sso_login_url)",
    )


def parse_saml_xml(scheme: str, step: str, saml_response_b64: str) -> etree._Element:
    """Decode and parse a ``SAMLResponse``: no entity resolution, no DTD, no network."""
    try:
        raw = base64.b64decode(saml_response_b64, validate=False)
        parser = etree.XMLParser(
            resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False, remove_comments=True
        )
        return etree.fromstring(raw, parser=parser)
    except (ValueError, etree.XMLSyntaxError):
        raise LoginError(
            scheme, step, "the identity provider's SAMLResponse is not a SAML document"
        ) from None


def check_saml_status(scheme: str, step: str, saml_response_b64: str) -> None:
    """Refuse a SAML Response whose top-level status is not Success."""
    root = parse_saml_xml(scheme, step, saml_response_b64)
    if root.tag != f"{{{SAMLP_NS}}}Response":
        raise LoginError(scheme, step, "the identity provider's SAMLResponse is not a SAML 2.0 Response")
    code = root.find(f"{{{SAMLP_NS}}}Status/{{{SAMLP_NS}}}StatusCode")
    value = code.get("Value") if code is not None else None
    if value != SAML_SUCCESS:
        raise LoginError(scheme, step, f"the identity provider answered SAML status {value}")


def submit_saml_form(scheme: str, page: FlowResponse, exchange_url: str) -> Flow[FlowResponse]:
    """Flow: take the SAML form of ``page`` and post it to ``exchange_url`` (its origin only).

    Returns the assertion consumer's answer (which set the product's session cookies).
    """
    form = parse_saml_form(scheme, "the SAML form", page)
    if origin(form.action) != origin(exchange_url):
        raise LoginError(
            scheme,
            "the SAML form",
            f"refused: the form at {public_url(page.url)} "
            f"posts to {public_url(form.action)}, not to the origin of "
            "sso_exchange_url; the assertion is sent only to the product",
        )
    check_saml_status(scheme, "the SAML form", form.fields["SAMLResponse"])
    step = "the SAML assertion consumer"
    answer = yield FlowRequest(
        "POST",
        exchange_url,
        step=step,
        data=form.fields,
        headers={"Accept": "text/html,application/json"},
        follow_redirects=False,
    )
    location = answer.header("Location") or ""
    if answer.status >= 400 or is_login_redirect(answer.status, location):  # noqa: PLR2004
        raise LoginError(
            scheme,
            step,
            f"{public_url(exchange_url)} did not accept the "
            f"assertion: {server_answer(answer)}"
            + (f", redirect to {public_url(location)}" if location else "")
            + " (check sso_exchange_url and the product's SSO configuration)",
        )
    if not answer.cookies:
        raise LoginError(
            scheme,
            step,
            f"{public_url(exchange_url)} answered "
            f"{server_answer(answer)} but set no session cookie (check "
            "sso_exchange_url: it must be the product's samlconsumer)",
        )
    return answer


def is_login_redirect(status: int, location: str) -> bool:
    """A 3xx to a login page (what Jira and Confluence answer for an expired session)."""
    if not 300 <= status < 400 or not location:  # noqa: PLR2004
        return False
    path = urlsplit(location).path.lower()
    return any(marker in path for marker in LOGIN_PATH_MARKERS)


def is_rejection(response: requests.Response) -> bool:
    """A 401, a redirect to a login page, or a login page reached through redirects."""
    if response.status_code == 401:  # noqa: PLR2004
        return True
    if is_login_redirect(response.status_code, response.headers.get("Location", "")):
        return True
    path = urlsplit(response.url or "").path.lower()
    return bool(response.history) and any(marker in path for marker in LOGIN_PATH_MARKERS)


@dataclasses.dataclass(frozen=True)
class SsoTarget:
    """Where one product logs in: the IdP URL and the product's assertion consumer."""

    login_url: str
    exchange_url: str


def sso_target(settings: Settings, product: str, site: Site) -> SsoTarget:
    """``sso_login_url`` / ``sso_exchange_url``, or the Confluence-on-its-own-host pair."""
    default_exchange = f"{site.base_url.rstrip('/')}/plugins/servlet/samlconsumer"
    login, exchange = settings.sso_login_url or "", settings.sso_exchange_url
    if product == "confluence":
        login = settings.confluence_sso_login_url or login
        own_host = exchange and origin(exchange) != origin(site.base_url)
        exchange = settings.confluence_sso_exchange_url or (
            default_exchange if own_host or not exchange else exchange
        )
    return SsoTarget(login_url=login, exchange_url=exchange or default_exchange)


def _cookie_for(domain: str, host: str) -> bool:
    """Whether a cookie of ``domain`` is sent to ``host`` (``.local``: how the standard
    library's jar names a dotless host such as ``localhost``).
    """
    domain = domain.lstrip(".").lower()
    return domain in (host, f"{host}.local") or host.endswith(f".{domain}")


class SamlSchemeAuth(SchemeAuth, t.Generic[FlowResult]):
    """A scheme that logs in by SAML and then rides on the product's session cookies.

    Subclasses give :meth:`login_flow` (whose result, ``FlowResult``, goes to
    :meth:`state_after_login`); this class logs in before the first request and once more
    on a 401 or a redirect to a login page. Products on the same host, with the
    same identity provider, share one login per run (a second Okta push would be a nuisance).
    """

    _shared: t.ClassVar[dict[tuple[int, str, str, str], tuple[int, list[Cookie], Settings]]] = {}
    _shared_lock = threading.Lock()

    def __init__(self, settings: Settings, product: str, site: Site) -> None:
        """Resolve where this product logs in."""
        super().__init__(settings, product, site)
        guard_request_logs()
        self.target = sso_target(settings, product, site)
        self._generation = 0

    def login_flow(self) -> Flow[FlowResult]:
        """The scheme's login flow; its result holds the consumer's :class:`FlowResponse`."""
        raise NotImplementedError

    def state_after_login(self, result: FlowResult) -> dict[str, t.Any]:  # noqa: ARG002  (hook: okta reads it)
        """Hook: what to keep in this product's settings-file section besides the session
        (Okta: the remembered device token).
        """
        return {}

    # -- login state kept between runs: settings file, section "<scheme>:<product>" ----------

    @property
    def section(self) -> str:
        """This product's section of the settings file (``crowd:jira``, ``okta:confluence``)."""
        return f"{self.name}:{self.product}"

    def state_file(self) -> SettingsFile:
        """The encrypted settings file; its key defaults to one derived from ``password``."""
        try:
            passphrase = resolve_passphrase(
                self.settings.oauth_settings_passphrase, self.settings.password, "password"
            )
            return SettingsFile(self.settings.oauth_settings_location, passphrase)
        except SettingsFileError as exc:
            raise LoginError(self.name, "the settings file", str(exc)) from None

    def load_state(self) -> dict[str, t.Any]:
        """The whole settings file (a snapshot); an unreadable file is a login error."""
        try:
            return self.state_file().load()
        except SettingsFileError as exc:
            raise LoginError(self.name, "the settings file", str(exc)) from None

    def _save_state(self, values: dict[str, t.Any]) -> None:
        try:
            with self.state_file().transaction() as state:
                section = dict(state.get(self.section) or {})
                section.update(values)
                state[self.section] = section
        except SettingsFileError as exc:
            raise LoginError(self.name, "the settings file", str(exc)) from None

    def _session_owner(self) -> dict[str, str]:
        return {
            "user": self.settings.user or "",
            "login_url": public_url(self.target.login_url),
            "exchange_url": public_url(self.target.exchange_url),
        }

    def _stored_session(self) -> dict[str, t.Any]:
        """The stored session for this user, IdP and consumer: this product's, or the other
        product's when both are the same service provider (one login served both).
        """
        state = self.load_state()
        others = sorted(k for k in state if k.startswith(f"{self.name}:") and k != self.section)
        for section in (self.section, *others):
            stored = (state.get(section) or {}).get("session") or {}
            if stored.get("cookies") and all(stored.get(k) == v for k, v in self._session_owner().items()):
                return stored
        return {}

    def _restore_session(self, session: requests.Session) -> bool:
        """Put the product session stored by an earlier run back in the jar, if it is ours."""
        stored = self._stored_session()
        if not stored:
            return False
        now = time.time()
        cookies = [c for c in stored.get("cookies") or [] if not c.get("expires") or c["expires"] > now]
        for c in cookies:
            session.cookies.set_cookie(
                requests.cookies.create_cookie(
                    c["name"],
                    c["value"],
                    domain=c["domain"],
                    path=c["path"],
                    secure=c["secure"],
                    expires=c.get("expires"),
                )
            )
        if cookies:
            LOGGER.info("%s: using the %s session stored by an earlier run", self.name, self.product)
        return bool(cookies)

    def _key(self) -> tuple[int, str, str, str]:
        # One tap run builds both products' schemes from the same Settings object.
        return (id(self.settings), self.name, self.target.login_url, public_url(self.target.exchange_url))

    def _login(self, session: requests.Session) -> None:
        LOGGER.info(
            "%s: signing in to %s through %s", self.name, self.product, public_url(self.target.login_url)
        )
        flow = self.login_flow()
        result = drive(
            flow,
            session,
            scheme=self.name,
            settings=self.settings,
            timeout=min(self.settings.request_timeout, 120.0),
        )
        host = origin(self.target.exchange_url)[1]
        jar = [c for c in session.cookies if _cookie_for(c.domain, host)]
        stored = {
            **self._session_owner(),
            "cookies": [
                {
                    "name": c.name,
                    "value": c.value,
                    "domain": c.domain,
                    "path": c.path,
                    "secure": c.secure,
                    "expires": c.expires,
                }
                for c in jar
            ],
        }
        self._save_state({**self.state_after_login(result), "session": stored})
        with self._shared_lock:
            gen = self._shared.get(self._key(), (0, [], None))[0] + 1
            self._shared[self._key()] = (gen, jar, self.settings)  # settings kept: id() stays unique
        self._generation = gen

    def prepare_session(self, session: requests.Session) -> None:
        """Log in (or reuse this run's login for the same host and IdP)."""
        with self._shared_lock:
            shared = self._shared.get(self._key())
        if shared and shared[1]:
            self._generation = shared[0]
            for cookie in shared[1]:
                session.cookies.set_cookie(cookie)
            return
        if not self._restore_session(session):
            self._login(session)

    def renew(self, session: requests.Session, response: requests.Response) -> bool:
        """On a 401 or a login redirect: one fresh login, then retry the request."""
        if not is_rejection(response):
            return False
        LOGGER.info(
            "%s: the %s session was refused (HTTP %s); signing in again",
            self.name,
            self.product,
            response.status_code,
        )
        with self._shared_lock:
            shared = self._shared.get(self._key())
        if shared and shared[0] > self._generation:  # another product already logged in again
            self._generation = shared[0]
            for cookie in shared[1]:
                session.cookies.set_cookie(cookie)
            return True
        self._login(session)
        return True

    def login(self) -> None:
        """``tap-atlassian-auth login``: sign in once (does the MFA, remembers the device)."""
        with net.new_session(self.settings) as session:  # ca_bundle, proxies, CA variables
            self._login(session)

    def status(self) -> dict[str, t.Any]:
        """Scheme, product, where it logs in (URLs without their query), what is stored."""
        try:
            stored = bool(self._stored_session())
        except LoginError:
            stored = False
        return {
            **super().status(),
            "sso_login_url": public_url(self.target.login_url),
            "sso_exchange_url": public_url(self.target.exchange_url),
            "session_stored": stored,
            "stored_state": stored,
        }
