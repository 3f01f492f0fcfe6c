"""Login flows and their driver, shared by every scheme that logs in over HTTP (SSO, OAuth 2.0).

A login is written as a *flow*, in the manner of httpx's ``Auth.auth_flow``: a generator
that yields :class:`FlowRequest` (or :class:`Wait`) and is sent back a
:class:`FlowResponse`; its return value is the flow's result. The flow decides everything
(what to send, what an answer means, which error to raise) and never touches the network,
so a whole Okta MFA exchange or an OAuth 2.0 refresh is unit-tested by feeding it recorded
answers. :func:`drive` runs a flow for real over a ``requests.Session`` (a
:func:`tap_atlassian.net.new_session`: ``ca_bundle``, proxies), and :func:`send` is its one
request: the tap's one retry policy (:func:`tap_atlassian.client.retrying`, the same as API
calls: connection failures that may pass, 429 and 5xx, ``Retry-After`` honoured), after which
an answer that stayed 429 / 5xx goes to the flow, which puts the server's own words
(:func:`tap_atlassian.errors.server_message`, the one reader of error text) into its error.
"""

from __future__ import annotations

import dataclasses
import http
import json
import logging
import time
import typing as t
from urllib.parse import urlsplit

import requests

from tap_atlassian import net
from tap_atlassian.auth.base import AuthError
from tap_atlassian.client import retrying
from tap_atlassian.errors import RetryableError, retry_after_seconds

if t.TYPE_CHECKING:
    from collections.abc import Callable, Mapping

    from tap_atlassian.config import Settings

LOGGER = logging.getLogger("tap-atlassian")


@dataclasses.dataclass(frozen=True)
class FlowRequest:
    """One HTTP request a flow wants sent. ``step`` names it in errors (never a secret)."""

    method: str
    url: str
    step: str
    headers: Mapping[str, str] = dataclasses.field(default_factory=dict)
    json: t.Any = None
    data: Mapping[str, str] | None = None
    params: Mapping[str, str] | None = None
    cookies: Mapping[str, str] | None = None
    follow_redirects: bool = True

    def __repr__(self) -> str:
        """Method, step and the URL without its query; bodies and headers hold secrets."""
        return f"FlowRequest({self.method} {public_url(self.url)} step={self.step!r})"


@dataclasses.dataclass(frozen=True)
class FlowResponse:
    """The answer to a :class:`FlowRequest` (``cookies``: those this answer set).

    ``content``, ``text`` and ``reason`` read like a ``requests.Response``, so
    :func:`tap_atlassian.errors.server_message` reads both alike.
    """

    status: int
    url: str
    body: bytes = b""
    headers: Mapping[str, str] = dataclasses.field(default_factory=dict)
    cookies: Mapping[str, str] = dataclasses.field(default_factory=dict)

    def __repr__(self) -> str:
        """Status and URL only."""
        return f"FlowResponse({self.status} {public_url(self.url)})"

    def header(self, name: str) -> str | None:
        """A response header, case-insensitively."""
        lower = name.lower()
        return next((v for k, v in self.headers.items() if k.lower() == lower), None)

    def json(self) -> t.Any:  # noqa: ANN401  (JSON of any shape: callers check what they got)
        """The body as JSON, or None when it is not JSON."""
        try:
            return json.loads(self.body or b"null")
        except ValueError:
            return None

    @property
    def content(self) -> bytes:
        """The body (``requests.Response.content``)."""
        return self.body

    @property
    def text(self) -> str:
        """The body as text (``requests.Response.text``)."""
        return self.body.decode("utf-8", errors="replace")

    @property
    def reason(self) -> str:
        """The status's reason phrase (``503`` -> ``Service Unavailable``)."""
        try:
            return http.HTTPStatus(self.status).phrase
        except ValueError:
            return ""

    @classmethod
    def from_requests(cls, response: requests.Response) -> FlowResponse:
        """Wrap a ``requests`` response (cookies: the ones set by this answer)."""
        return cls(
            status=response.status_code,
            url=response.url,
            body=response.content,
            headers=dict(response.headers),
            cookies=response.cookies.get_dict(),
        )


@dataclasses.dataclass(frozen=True)
class Wait:
    """Ask the driver to pause (Okta Verify push polling) before the next request."""

    seconds: float


FlowResult = t.TypeVar("FlowResult")

# A flow is sent the FlowResponse to each FlowRequest it yields; after a Wait it is resumed
# with next(), so ``yield Wait(...)`` has no answer (None) and no flow reads it.
Flow = t.Generator[FlowRequest | Wait, FlowResponse, FlowResult]


class LoginError(AuthError):
    """A login step failed: ``"<scheme> login failed at <step>: <detail>"`` (never a secret)."""

    def __init__(self, scheme: str, step: str, detail: str) -> None:
        """Build the one-line message."""
        self.scheme, self.step, self.detail = scheme, step, detail
        super().__init__(f"{scheme} login failed at {step}: {detail}")


class UnreachableError(AuthError):
    """No HTTP answer (refused, unknown host, certificate, timeout), retries spent; the
    message names the host (:func:`tap_atlassian.net.network_failure`).
    """


def public_url(url: str) -> str:
    """``url`` without query and fragment (Okta's ``sessionToken`` travels in the query)."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}{parts.path}"


class _RetryableAnswerError(RetryableError):
    """A 429 / 5xx answer, kept so the flow gets it once the retries are spent."""

    def __init__(self, what: str, answer: requests.Response) -> None:
        super().__init__(f"{what}: {answer.status_code} {answer.reason}", retry_after_seconds(answer.headers))
        self.answer = answer


class _NoAnswerError(RetryableError):
    """A failure below HTTP that may pass (``text``: the host-naming line)."""

    def __init__(self, what: str, text: str) -> None:
        super().__init__(f"{what}: {text}")
        self.text = text


def request(
    session: requests.Session, method: str, url: str, *, settings: Settings | None, what: str, **kwargs: t.Any
) -> requests.Response:
    """``session.request(method, url, **kwargs)`` under the tap's retry policy (the client's):
    the final answer, whatever its status (a 429 / 5xx once the retries are spent).

    ``what`` names the step in retry warnings; without ``settings`` (a flow run outside a
    tap run) there is one try.

    Raises:
        UnreachableError: no answer at all once the retries are spent, or a failure that
            retrying does not mend (a certificate, a name that does not resolve).
    """

    def once() -> requests.Response:
        try:
            answer = session.request(method, url, **kwargs)
        except requests.RequestException as exc:
            text, transient = net.network_failure(exc, url)
            if transient and settings is not None:
                raise _NoAnswerError(what, text) from None
            raise UnreachableError(text) from None
        if settings is not None and (answer.status_code == 429 or answer.status_code >= 500):  # noqa: PLR2004
            raise _RetryableAnswerError(what, answer)
        return answer

    def log_retry(details: Mapping[str, t.Any]) -> None:
        LOGGER.warning(
            "%s; retrying in %.1f s (retry %d of %d)",
            details.get("exception"),
            details.get("wait", 0),
            details.get("tries", 0),
            settings.max_retries if settings is not None else 0,
        )

    if settings is None:
        return once()
    try:
        return retrying(settings, once, log_retry)()
    except _RetryableAnswerError as exc:
        return exc.answer
    except _NoAnswerError as exc:
        raise UnreachableError(exc.text) from None


def send(
    session: requests.Session,
    item: FlowRequest,
    *,
    settings: Settings | None,
    timeout: float = 60.0,
    label: str = "login",
) -> FlowResponse:
    """Send one flow request (:func:`request`: the retry policy); the session's own auth is
    bypassed, the request carries only what the flow put on it.
    """
    answer = request(
        session,
        item.method,
        item.url,
        settings=settings,
        what=f"{label}: {item.step} ({item.method} {public_url(item.url)})",
        headers=dict(item.headers),
        json=item.json,
        data=item.data,
        params=item.params,
        cookies=item.cookies,
        allow_redirects=item.follow_redirects,
        timeout=timeout,
        auth=_no_auth,
    )
    return FlowResponse.from_requests(answer)


def drive(  # noqa: PLR0913  (all but flow and session are keyword-only options)
    flow: Flow[FlowResult],
    session: requests.Session,
    *,
    scheme: str = "sso",
    timeout: float = 60.0,
    sleep: Callable[[float], None] = time.sleep,
    settings: Settings | None = None,
    unreachable: Callable[[FlowRequest, str], Exception] | None = None,
) -> FlowResult:
    """Run ``flow`` over ``session``; return the flow's result.

    The session's own auth is bypassed for identity-provider calls; answers' cookies go to
    the session's jar (scoped by ``requests`` to the host that set them). Each request is
    :func:`send` (``settings``: the retry policy). ``unreachable(request, text)`` is the
    error for a host that never answered (default: :class:`LoginError` naming the URL).
    """
    item = next(flow)
    while True:
        reply: FlowResponse | None = None
        if isinstance(item, Wait):
            sleep(item.seconds)
        else:
            try:
                reply = send(session, item, settings=settings, timeout=timeout, label=scheme)
            except UnreachableError as exc:
                flow.close()
                if unreachable is not None:
                    raise unreachable(item, str(exc)) from None
                raise LoginError(scheme, item.step, f"cannot reach {public_url(item.url)}: {exc}") from None
        try:
            item = next(flow) if reply is None else flow.send(reply)  # a Wait has no answer
        except StopIteration as stop:
            return stop.value


def _no_auth(request: requests.PreparedRequest) -> requests.PreparedRequest:
    """Login calls carry only what the flow put on them (not the product's auth)."""
    return request
