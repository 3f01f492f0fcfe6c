"""HTTP for one product: ``ApiClient`` (one per product per tap run).

One ``requests.Session`` (connection reuse), one authenticator, the retry policy and the
error rules (the errors themselves: :mod:`tap_atlassian.errors`):

- 429 and 503 wait for ``Retry-After`` (or ``X-RateLimit-Reset``); other 5xx, timeouts and
  connection resets back off exponentially with jitter (Atlassian's advice:
  https://developer.atlassian.com/cloud/jira/platform/rate-limiting/). Bounded by
  ``max_retries`` / ``retry_max_wait_seconds``; each retry is a warning.
- 401 (or a redirect to a login page): the authenticator may log in again once; a second
  401 is fatal with the server's message.
- 403 / 404 raise :class:`AccessError`: fatal, unless a stream catches it for one object
  (a space, a project, a request) and logs a warning naming it.
- Any other 4xx (400 included) is fatal with the server's message; never swallowed.
- A body that is not JSON (truncated, an HTML login page) is a clear fatal error.
- Below HTTP (:mod:`tap_atlassian.net`): every failure names the host; a refused
  connection or a timeout is retried, a certificate that does not verify or a host name
  that does not resolve is fatal at once.

Streams read one object per request through :meth:`ApiClient.map`, which hands results
back in input order (the one place where requests may run concurrently). Every request of
the product, from any thread, passes the client's :class:`~tap_atlassian.concurrency.RateGate`:
at most ``max_concurrent_requests`` in flight, and a 429 / 503 wait pauses all of them
(docs/CONCURRENCY.md). A login renewed on a 401 is renewed once for every thread.
"""

from __future__ import annotations

import functools
import logging
import random
import threading
import typing as t
from http import HTTPStatus

import backoff
import orjson
import requests

from tap_atlassian import __version__, net
from tap_atlassian.concurrency import RateGate, ordered_map
from tap_atlassian.errors import (
    AccessError,
    ApiError,
    RetryableError,
    html_summary,
    retry_after_seconds,
    server_message,
)
from tap_atlassian.progress import RequestStats
from tap_atlassian.windows import zone

if t.TYPE_CHECKING:
    import datetime as dt

    from tap_atlassian.auth import AtlassianAuthenticator
    from tap_atlassian.config import Settings
    from tap_atlassian.pagination import Paginator
    from tap_atlassian.sites import Site

T = t.TypeVar("T")
R = t.TypeVar("R")
LOGGER = logging.getLogger("tap-atlassian")
USER_AGENT = (
    f"tap-atlassian/{__version__} (Singer tap for Confluence and Jira Service "
    f"Management; +https://github.com/tap-atlassian/tap-atlassian) "
    f"python-requests/{requests.__version__}"
)
JSM_PREFIX = "/rest/servicedeskapi/"
JSM_HEADERS = {"X-ExperimentalApi": "opt-in"}  # else 412 on experimental JSM operations
# answers that may say how long to wait (Retry-After, X-RateLimit-Reset): they pause every thread
WAITS = frozenset({HTTPStatus.TOO_MANY_REQUESTS, HTTPStatus.SERVICE_UNAVAILABLE})
AUTH_RETRIES = 4  # 401s one request may retry after renewals (its own, or other threads')
LOGIN_PATH_HINTS = ("login.jsp", "login.action", "/login", "external-login", "/saml")
# feature -> (probe path, params, product name for the warning); a 404 means not installed
PRODUCT_PROBES: dict[str, tuple[str, dict[str, t.Any], str]] = {
    "servicedesk": ("/rest/servicedeskapi/servicedesk", {"limit": 1}, "Jira Service Management"),
    "agile": ("/rest/agile/1.0/board", {"maxResults": 1}, "Jira Software"),
}


def _waits(initial: float, ceiling: float) -> t.Generator[float, t.Any, None]:
    """Wait generator for python-backoff: the server's hint, else exponential with jitter."""
    exc = yield 0
    attempt = 0
    while True:
        hint = getattr(exc, "retry_after", None)
        if hint is not None:
            wait = min(hint, ceiling)
        else:
            wait = min(initial * 2**attempt, ceiling) * random.uniform(0.7, 1.3)  # noqa: S311
        attempt += 1
        exc = yield wait


def retrying(
    settings: Settings,
    fn: t.Callable[..., R],
    on_backoff: t.Callable[[t.Mapping[str, t.Any]], None] | None = None,
) -> t.Callable[..., R]:
    """The tap's one retry policy, for API calls and login steps alike: ``fn`` is called
    again while it raises :class:`RetryableError`, up to ``max_retries`` times, waiting the
    server's hint (``retry_after``) or an exponential back-off with jitter, each wait capped
    by ``retry_max_wait_seconds``; ``on_backoff`` is told of each retry (python-backoff's
    details).
    """
    return backoff.on_exception(
        _waits,
        RetryableError,
        max_tries=settings.max_retries + 1,
        jitter=None,
        on_backoff=on_backoff,
        logger=None,
        initial=settings.retry_initial_wait_seconds,
        ceiling=settings.retry_max_wait_seconds,
    )(fn)


class ApiClient:
    """One product's session, authenticator and request policy (one per tap run)."""

    def __init__(self, settings: Settings, site: Site, authenticator: AtlassianAuthenticator) -> None:
        """Build the session; nothing is requested yet."""
        self.settings = settings
        self.site = site
        self.auth = authenticator
        self.session = net.new_session(settings)  # ca_bundle, proxies and CA variables
        self.stats = RequestStats()  # requests, retries, 429 waits (progress summaries)
        self.session.headers.update(
            {"User-Agent": USER_AGENT, "Accept": "application/json", "Accept-Language": "en"}
        )
        self.session.auth = authenticator
        # One place per request in flight (no "connection pool is full" churn at any setting).
        workers = max(1, settings.max_concurrent_requests)
        adapter = requests.adapters.HTTPAdapter(pool_connections=4, pool_maxsize=workers + 1)
        self.session.mount("https://", adapter)
        self.session.mount("http://", adapter)
        self.gate = RateGate(workers)
        self._auth_epoch = 0  # bumped by each renewed login; a 401 older than it only retries
        self._renew_lock = threading.Lock()
        self.base_url = authenticator.api_base_url
        self.cache: dict[str, t.Any] = {}  # per-run facts (user time zone, service desks)
        self._send_with_retries = retrying(settings, self._send_once, self._log_retry)

    def url(self, path: str) -> str:
        """Absolute URL for a path below the product base (absolute URLs pass through)."""
        return path if path.startswith(("http://", "https://")) else f"{self.base_url}{path}"

    def get(
        self, path: str, params: t.Mapping[str, t.Any] | None = None
    ) -> tuple[t.Any, t.Mapping[str, str]]:
        """GET and parse JSON once; returns (body, headers). Raises ``ApiError`` when fatal."""
        response = self._send(self._get_request(path, params))
        return self._parse(response), response.headers

    def get_later(self, path: str, params: t.Mapping[str, t.Any] | None = None) -> tuple[bytes, t.Any]:
        """GET now, parse later: the body's bytes and a call that parses them (raising what
        :meth:`get` would). A page read ahead is held as bytes, a fraction of its parsed size.
        """
        response = self._send(self._get_request(path, params))
        return response.content, functools.partial(self._parse, response)

    def _get_request(self, path: str, params: t.Mapping[str, t.Any] | None) -> requests.Request:
        self.auth.prepare(self.session)
        headers = JSM_HEADERS if path.startswith(JSM_PREFIX) else None
        return requests.Request("GET", self.url(path), params=_encode(params or {}), headers=headers)

    def post(self, path: str, body: t.Any) -> tuple[t.Any, t.Mapping[str, str]]:  # noqa: ANN401
        """POST a JSON body to a read operation (Jira's bulk fetches); same rules as :meth:`get`."""
        self.auth.prepare(self.session)
        response = self._send(requests.Request("POST", self.url(path), json=body))
        return self._parse(response), response.headers

    def _send(self, request: requests.Request) -> requests.Response:
        try:
            return self._send_with_retries(request)
        except RetryableError as exc:
            msg = f"{exc} (gave up after {self.settings.max_retries + 1} tries)"
            raise ApiError(msg) from None

    def user_zone(self, path: str) -> dt.tzinfo | None:
        """The searching user's ``timeZone`` from ``path`` (asked once per run)."""
        if "tz" not in self.cache:
            try:
                body, _ = self.get(path)
            except AccessError as exc:  # the contract's fallback, not a failed run
                LOGGER.warning(
                    "%s: the searching user's time zone is unknown (%s); incremental "
                    "searches are widened by 14 hours and filtered on each record's UTC time",
                    self.site.product,
                    exc,
                )
                body = None
            self.cache["tz"] = zone(body.get("timeZone") if isinstance(body, dict) else None)
        return self.cache["tz"]

    def pages(self, path: str, paginator: Paginator) -> t.Iterator[list[dict]]:
        """Each page's records, fetched one page at a time."""
        while not paginator.finished:
            body, headers = self.get(path, paginator.params)
            yield paginator.records(body)
            paginator.advance(body, headers)

    def map(self, fn: t.Callable[[T], R], items: t.Iterable[T], ahead: int | None = None) -> t.Iterator[R]:
        """``fn(item)`` for each item, yielded in input order.

        The one seam for per-object reads (an issue's comments, a request's SLAs, a page's
        versions): ``fn`` only requests through this client and returns what it read.
        Up to ``max_concurrent_requests`` items are read at once on worker threads, a
        bounded window ahead of the caller; ``1`` reads them one after the other in the
        caller's thread. What comes back, and in which order, is the same at any setting.
        ``ahead``: how many results may wait read ahead (default twice the workers).
        """
        return ordered_map(fn, items, max(1, self.settings.max_concurrent_requests), ahead)

    def lacks(self, feature: str) -> str | None:
        """The product this site lacks for ``feature`` (``servicedesk``, ``agile``), else None.

        Probed once per run with the cheapest listing; only a 404 means "not installed"
        (a 403 is a permission problem and stays the stream's to report).
        """
        key = f"lacks:{feature}"
        if key not in self.cache:
            path, params, product = PRODUCT_PROBES[feature]
            try:
                self.get(path, params)
                self.cache[key] = None
            except AccessError as exc:
                if exc.status != HTTPStatus.NOT_FOUND:
                    raise
                self.cache[key] = product
        return self.cache[key]

    def _describe(self, prepared: requests.PreparedRequest) -> str:
        path = prepared.path_url.split("?", 1)[0]
        return f"{prepared.method} {path}"

    def _send_once(self, request: requests.Request) -> requests.Response:
        """One try (prepared afresh, so a renewed login's credentials apply); renews once on 401."""
        renewed = False  # this request renewed the login itself (a second refusal is final)
        auth_retries = 0
        while True:
            epoch = self._auth_epoch
            prepared = self.session.prepare_request(request)
            what = self._describe(prepared)
            try:
                with self.gate.slot():
                    response = net.send(
                        self.session,
                        prepared,
                        timeout=(min(30.0, self.settings.request_timeout), self.settings.request_timeout),
                        allow_redirects=True,
                    )
                    self._heed_rate_limit(response)
            except requests.RequestException as exc:  # below HTTP: one line naming the host
                self.stats.sent()
                text, transient = net.network_failure(exc, prepared.url)
                if isinstance(exc, requests.exceptions.ReadTimeout):
                    text = f"{text} (no answer within {self.settings.request_timeout:g} s: request_timeout)"
                msg = f"{what}: {text}"
                if transient:
                    raise RetryableError(msg) from None
                raise ApiError(msg) from None
            self.stats.sent()
            status = response.status_code
            if status == HTTPStatus.UNAUTHORIZED or (response.history and _is_login_page(response.url)):
                outcome = self._renew(response, epoch, again=renewed) if auth_retries < AUTH_RETRIES else None
                if outcome is not None:
                    auth_retries += 1
                    renewed = renewed or outcome == "renewed"
                    continue
                msg = (
                    f"401 Unauthorized from {what}: {server_message(response) or 'login refused'}"
                    f" (auth_scheme {self.settings.auth_scheme}: check the credentials)"
                )
                raise ApiError(msg, 401)
            if status in WAITS or status >= HTTPStatus.INTERNAL_SERVER_ERROR:
                hint = retry_after_seconds(response.headers) if status in WAITS else None
                msg = f"{status} {response.reason} from {what}: {server_message(response)}"
                raise RetryableError(msg, hint)
            if status in {HTTPStatus.FORBIDDEN, HTTPStatus.NOT_FOUND}:
                msg = f"{status} {response.reason} from {what}: {server_message(response)}"
                raise AccessError(msg, status)
            if status >= HTTPStatus.BAD_REQUEST:
                msg = f"{status} {response.reason} from {what}: {server_message(response)}"
                raise ApiError(msg, status)
            return response

    def _heed_rate_limit(self, response: requests.Response) -> None:
        """A 429 (or a 503 with a wait) pauses every thread of this product, before this
        request's place is given back: until ``Retry-After`` / ``X-RateLimit-Reset`` (capped
        by ``retry_max_wait_seconds``), or the first back-off wait when none is given.
        """
        status = response.status_code
        if status not in WAITS:
            return
        hint = retry_after_seconds(response.headers)
        if status == HTTPStatus.TOO_MANY_REQUESTS or hint is not None:
            wait = self.settings.retry_initial_wait_seconds if hint is None else hint
            self.gate.pause(
                min(wait, self.settings.retry_max_wait_seconds),
                throttled=status == HTTPStatus.TOO_MANY_REQUESTS,
            )

    def _renew(self, response: requests.Response, epoch: int, *, again: bool) -> str | None:
        """Log in again once for all threads. ``"adopted"``: another thread renewed after this
        request was sent, so it is only retried with that login; ``"renewed"``: this call
        logged in again; None: no retry (the scheme cannot renew, or ``again``: this request's
        own fresh login was refused too).
        """
        with self._renew_lock:
            if self._auth_epoch != epoch:
                return "adopted"
            if again:
                return None
            outcome = self.auth.renew(self.session, response)
            if not outcome:
                return None
            self._auth_epoch += 1
            # "adopted": the scheme took a login another process had just made (OAuth 2.0's
            # shared settings file); if that one is refused too, this request may renew itself
            return "adopted" if outcome == "adopted" else "renewed"

    def _parse(self, response: requests.Response) -> t.Any:  # noqa: ANN401
        what = self._describe(response.request)
        kind = response.headers.get("Content-Type", "")
        if "json" not in kind and response.content[:1] not in (b"{", b"["):
            page = html_summary(response.text[:20000])
            msg = (
                f"{what} answered {response.status_code} with {kind or 'no content type'} "
                f"({len(response.content)} bytes{', ' + page if page else ''}), not JSON: check the "
                "URL, or whether a proxy or login page is in the way"
            )
            raise ApiError(msg, response.status_code)
        try:
            return orjson.loads(response.content)
        except orjson.JSONDecodeError as exc:
            msg = (
                f"{what} answered {response.status_code} with a truncated or invalid JSON body "
                f"({len(response.content)} bytes: {exc}); run again, and if it persists check "
                "proxies between here and the site"
            )
            raise ApiError(msg, response.status_code) from None

    def _log_retry(self, details: t.Mapping[str, t.Any]) -> None:
        exc = details.get("exception")
        self.stats.retried(details.get("wait", 0), throttled=str(exc).startswith("429"))
        LOGGER.warning(
            "%s; retrying in %.1f s (retry %d of %d)",
            exc,
            details.get("wait", 0),
            details.get("tries", 0),
            self.settings.max_retries,
        )


def _is_login_page(url: str) -> bool:
    return any(hint in url.lower() for hint in LOGIN_PATH_HINTS)


class Repeat(list):
    """A query parameter sent once per value (``spaceKey=A&spaceKey=B``), not comma-joined."""


def _encode(params: t.Mapping[str, t.Any]) -> dict[str, t.Any]:
    """Lists become Atlassian's comma-separated form; None is dropped; booleans lower-case."""
    out: dict[str, t.Any] = {}
    for key, value in params.items():
        if value is None:
            continue
        if isinstance(value, Repeat):
            out[key] = list(value)
        elif isinstance(value, (list, tuple)):
            out[key] = ",".join(map(str, value))
        elif isinstance(value, bool):
            out[key] = str(value).lower()
        else:
            out[key] = value
    return out
