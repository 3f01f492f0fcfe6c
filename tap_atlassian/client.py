"""HTTP for one product (``ApiClient``) and the base stream (``AtlassianStream``).

One ``ApiClient`` per product per tap run: one ``requests.Session`` (connection reuse),
one authenticator, the retry policy and the error rules:

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
"""

from __future__ import annotations

import datetime as dt
import email.utils
import logging
import random
import re
import typing as t
from urllib.parse import parse_qs

import backoff
import orjson
import requests
from singer_sdk.exceptions import FatalAPIError
from singer_sdk.helpers._catalog import pop_deselected_record_properties
from singer_sdk.helpers._util import utc_now
from singer_sdk.helpers.conform import TypeConformanceLevel
from singer_sdk.singerlib import RecordMessage
from singer_sdk.streams import Stream

from tap_atlassian import __version__
from tap_atlassian.windows import zone

if t.TYPE_CHECKING:
    from tap_atlassian.auth import AtlassianAuthenticator
    from tap_atlassian.config import Settings
    from tap_atlassian.pagination import Paginator
    from tap_atlassian.sites import Site

LOGGER = logging.getLogger("tap-atlassian")
USER_AGENT = (f"tap-atlassian/{__version__} (Singer tap for Confluence and Jira Service "
              f"Management; +https://github.com/tap-atlassian/tap-atlassian) "
              f"python-requests/{requests.__version__}")
JSM_PREFIX = "/rest/servicedeskapi/"
JSM_HEADERS = {"X-ExperimentalApi": "opt-in"}  # else 412 on experimental JSM operations
LOGIN_PATH_HINTS = ("login.jsp", "login.action", "/login", "external-login", "/saml")


class ApiError(FatalAPIError):
    """A fatal answer; the message is one line: status, request and the server's own words."""

    def __init__(self, message: str, status: int | None = None) -> None:
        """Keep the status for callers that decide per object."""
        super().__init__(message)
        self.status = status


class AccessError(ApiError):
    """403 or 404: fatal for a whole product, a warning for one space / project / request."""


class RetryableError(Exception):
    """A transient failure; ``retry_after`` is the server's wait hint in seconds, if any."""

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        """Keep the hint for the wait generator."""
        super().__init__(message)
        self.retry_after = retry_after


def server_message(response: requests.Response) -> str:
    """Atlassian's own words from an error body (``errorMessages``, ``errors``, ``message``)."""
    try:
        body = orjson.loads(response.content)
    except orjson.JSONDecodeError:
        if "oauth_problem=" in response.text:
            # OAuth 1.0a refusals are form-encoded and may echo the signature base string,
            # which holds the access token: keep only the problem's name.
            problem = parse_qs(response.text).get("oauth_problem", ["unknown"])[0]
            return f"oauth_problem={problem}"
        text = " ".join(re.sub(r"<[^>]+>", " ", response.text).split())  # an HTML error page
        return text[:200] or response.reason or ""
    if not isinstance(body, dict):
        return str(body)[:200]
    parts = list(body.get("errorMessages") or [])
    errors = body.get("errors")
    if isinstance(errors, dict):
        parts += [f"{k}: {v}" for k, v in errors.items()]
    for key in ("message", "errorSummary", "error_description", "reason", "error"):
        if isinstance(body.get(key), str) and not parts:
            parts.append(body[key])
    return "; ".join(map(str, parts))[:300] or response.reason or ""


def retry_after_seconds(headers: t.Mapping[str, str]) -> float | None:
    """``Retry-After`` (seconds or HTTP date), else ``X-RateLimit-Reset`` (ISO 8601)."""
    value = headers.get("Retry-After")
    if value:
        try:
            return max(0.0, float(value))
        except ValueError:
            pass
        try:
            parsed = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):  # not an HTTP date either: back off as without a hint
            return None
        if parsed.tzinfo is None:  # "-0000": a UTC time of unknown origin
            parsed = parsed.replace(tzinfo=dt.timezone.utc)
        return max(0.0, (parsed - dt.datetime.now(dt.timezone.utc)).total_seconds())
    reset = headers.get("X-RateLimit-Reset")
    if reset:
        try:
            when = dt.datetime.fromisoformat(reset.replace("Z", "+00:00"))
        except ValueError:
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=dt.timezone.utc)
        return max(0.0, (when - dt.datetime.now(dt.timezone.utc)).total_seconds())
    return None


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


class ApiClient:
    """One product's session, authenticator and request policy (one per tap run)."""

    def __init__(self, settings: Settings, site: Site, authenticator: AtlassianAuthenticator) -> None:
        """Build the session; nothing is requested yet."""
        self.settings = settings
        self.site = site
        self.auth = authenticator
        self.session = requests.Session()
        self.session.headers.update({"User-Agent": USER_AGENT, "Accept": "application/json",
                                     "Accept-Language": "en"})
        self.session.auth = authenticator
        self.base_url = authenticator.api_base_url
        self.cache: dict[str, t.Any] = {}  # per-run facts (user time zone, service desks)
        self._send_with_retries = backoff.on_exception(
            _waits, RetryableError, max_tries=settings.max_retries + 1, jitter=None,
            on_backoff=self._log_retry, logger=None,
            initial=settings.retry_initial_wait_seconds, ceiling=settings.retry_max_wait_seconds,
        )(self._send_once)

    def url(self, path: str) -> str:
        """Absolute URL for a path below the product base (absolute URLs pass through)."""
        return path if path.startswith(("http://", "https://")) else f"{self.base_url}{path}"

    def get(self, path: str, params: t.Mapping[str, t.Any] | None = None) -> tuple[t.Any, t.Mapping[str, str]]:
        """GET and parse JSON once; returns (body, headers). Raises ``ApiError`` when fatal."""
        self.auth.prepare(self.session)
        headers = JSM_HEADERS if path.startswith(JSM_PREFIX) else None
        request = requests.Request("GET", self.url(path), params=_encode(params or {}), headers=headers)
        try:
            response = self._send_with_retries(request)
        except RetryableError as exc:
            msg = f"{exc} (gave up after {self.settings.max_retries + 1} tries)"
            raise ApiError(msg) from None
        return self._parse(response), response.headers

    def user_zone(self, path: str) -> dt.tzinfo | None:
        """The searching user's ``timeZone`` from ``path`` (asked once per run)."""
        if "tz" not in self.cache:
            body, _ = self.get(path)
            self.cache["tz"] = zone(body.get("timeZone") if isinstance(body, dict) else None)
        return self.cache["tz"]

    def pages(self, path: str, paginator: Paginator) -> t.Iterator[list[dict]]:
        """Each page's records, fetched one page at a time."""
        while not paginator.finished:
            body, headers = self.get(path, paginator.params)
            yield paginator.records(body)
            paginator.advance(body, headers)

    def _describe(self, prepared: requests.PreparedRequest) -> str:
        path = prepared.path_url.split("?", 1)[0]
        return f"{prepared.method} {path}"

    def _send_once(self, request: requests.Request) -> requests.Response:
        """One try (prepared afresh, so a renewed login's credentials apply); renews once on 401."""
        renewed = False
        while True:
            prepared = self.session.prepare_request(request)
            what = self._describe(prepared)
            try:
                response = self.session.send(
                    prepared, timeout=(min(30.0, self.settings.request_timeout), self.settings.request_timeout),
                    allow_redirects=True)
            except requests.Timeout:
                msg = f"{what}: no answer within {self.settings.request_timeout:g} s"
                raise RetryableError(msg) from None
            except requests.exceptions.ChunkedEncodingError:
                msg = f"{what}: the connection closed before the whole answer arrived (truncated body)"
                raise RetryableError(msg) from None
            except requests.ConnectionError as exc:
                msg = f"{what}: connection failed ({type(exc).__name__}: {_root(exc)})"
                raise RetryableError(msg) from None
            status = response.status_code
            if status == 401 or (response.history and _is_login_page(response.url)):
                if not renewed and self.auth.renew(self.session, response):
                    renewed = True
                    continue
                msg = (f"401 Unauthorized from {what}: {server_message(response) or 'login refused'}"
                       f" (auth_scheme {self.settings.auth_scheme}: check the credentials)")
                raise ApiError(msg, 401)
            if status in {429, 503} or status >= 500:
                hint = retry_after_seconds(response.headers) if status in {429, 503} else None
                msg = f"{status} {response.reason} from {what}: {server_message(response)}"
                raise RetryableError(msg, hint)
            if status in {403, 404}:
                msg = f"{status} {response.reason} from {what}: {server_message(response)}"
                raise AccessError(msg, status)
            if status >= 400:
                msg = f"{status} {response.reason} from {what}: {server_message(response)}"
                raise ApiError(msg, status)
            return response

    def _parse(self, response: requests.Response) -> t.Any:  # noqa: ANN401
        what = self._describe(response.request)
        kind = response.headers.get("Content-Type", "")
        if "json" not in kind and response.content[:1] not in (b"{", b"["):
            msg = (f"{what} answered {response.status_code} with {kind or 'no content type'} "
                   f"({len(response.content)} bytes), not JSON: check the URL, or whether a proxy "
                   "or login page is in the way")
            raise ApiError(msg, response.status_code)
        try:
            return orjson.loads(response.content)
        except orjson.JSONDecodeError as exc:
            msg = (f"{what} answered {response.status_code} with a truncated or invalid JSON body "
                   f"({len(response.content)} bytes: {exc}); run again, and if it persists check "
                   "proxies between here and the site")
            raise ApiError(msg, response.status_code) from None

    def _log_retry(self, details: t.Mapping[str, t.Any]) -> None:
        exc = details.get("exception")
        LOGGER.warning("%s; retrying in %.1f s (retry %d of %d)", exc, details.get("wait", 0),
                       details.get("tries", 0), self.settings.max_retries)


def _root(exc: BaseException) -> str:
    while exc.__context__ is not None and exc.__context__ is not exc:
        exc = exc.__context__
    return type(exc).__name__


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
            value = list(value)
        elif isinstance(value, (list, tuple)):
            value = ",".join(map(str, value))
        elif isinstance(value, bool):
            value = str(value).lower()
        out[key] = value
    return out


class AtlassianStream(Stream):
    """Base of every stream: its product's client, declarative paging, no per-record conformance.

    Subclasses set ``product`` (``confluence`` / ``jira``) and usually only ``get_records``
    or ``path`` + ``paginator``.
    """

    product: t.ClassVar[str] = "jira"
    path: t.ClassVar[str] = ""
    paginator: t.ClassVar[type[Paginator] | None] = None
    # Records keep Atlassian's shape and the schemas are written to match it; the SDK's
    # per-record type walk is the costliest step of a sync, and not needed.
    TYPE_CONFORMANCE_LEVEL = TypeConformanceLevel.NONE

    def __init__(self, *args: t.Any, **kwargs: t.Any) -> None:
        """A STATE message after every page's worth of records, so a killed run resumes close by."""
        super().__init__(*args, **kwargs)
        self.STATE_MSG_FREQUENCY = self.settings.page_size
        self._selection_fast_path: bool | None = None
        self._schema_keys: frozenset[str] = frozenset()

    def _generate_record_messages(self, record: dict) -> t.Iterator[RecordMessage]:
        """The SDK's record path without its per-record recursive selection walk.

        Top-level keys outside the schema are dropped; the SDK's recursive deselection runs
        only when some property is deselected (not the usual case).
        """
        if self._selection_fast_path is None:
            self._selection_fast_path = all(self.mask.values())
            self._schema_keys = frozenset(self.schema.get("properties", {}))
        for key in [k for k in record if k not in self._schema_keys]:
            del record[key]
        if not self._selection_fast_path:
            pop_deselected_record_properties(record, self.schema, self.mask)
        for stream_map in self.stream_maps:
            mapped = stream_map.transform(record)
            if mapped is not None:
                yield RecordMessage(stream=stream_map.stream_alias, record=mapped,
                                    version=self._stream_version, time_extracted=utc_now())

    @property
    def settings(self) -> Settings:
        """The run's typed settings."""
        return self._tap.settings  # type: ignore[attr-defined]

    @property
    def client(self) -> ApiClient:
        """The product's shared client."""
        return self._tap.client(self.product)  # type: ignore[attr-defined]

    @property
    def site(self) -> Site:
        """The product's site (base URL, deployment)."""
        return self.client.site

    @property
    def is_cloud(self) -> bool:
        """Atlassian Cloud (else Server / Data Center)."""
        return self.site.is_cloud

    def paginate(self, path: str, paginator_cls: type[Paginator],
                 params: t.Mapping[str, t.Any] | None = None, max_limit: int | None = None) -> t.Iterator[dict]:
        """Every record of a paged endpoint, page by page (``max_limit``: the endpoint's cap)."""
        paginator = paginator_cls(dict(params or {}), self.settings.page_size, max_limit)
        for records in self.client.pages(path, paginator):
            yield from records

    def get_url_params(self, context: dict | None) -> dict[str, t.Any]:  # noqa: ARG002
        """Query parameters of the declarative path (override per stream)."""
        return {}

    def get_records(self, context: dict | None) -> t.Iterable[dict]:
        """Declarative default: ``path`` paged with ``paginator``."""
        assert self.paginator is not None  # noqa: S101
        yield from self.paginate(self.path.format(**(context or {})), self.paginator,
                                 self.get_url_params(context))

    def sync(self, context: dict | None = None) -> None:
        """Skip, with a warning, a stream the login cannot read (an OAuth scope it lacks)."""
        reason = self.client.auth.scheme.skip_reason(self.name)
        if reason:
            LOGGER.warning("%s skipped: %s", self.name, reason)
            return
        super().sync(context)
