"""The tap's request errors and how a server's refusal is put into words.

- :class:`ApiError`: a fatal answer (one line: status, request, the server's own words).
- :class:`AccessError`: 403 / 404, fatal for a whole product, a warning for one object.
- :class:`RetryableError`: a transient failure, with the server's wait hint if any.
- :func:`server_message`: Atlassian's own words from any of its error body shapes.
- :func:`retry_after_seconds`: ``Retry-After`` or ``X-RateLimit-Reset`` as seconds.
"""

from __future__ import annotations

import datetime as dt
import email.utils
import html
import re
import typing as t
from urllib.parse import parse_qs

import orjson
from singer_sdk.exceptions import FatalAPIError


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


class Answer(t.Protocol):
    """What :func:`server_message` reads: a ``requests.Response`` or a login flow's answer."""

    @property
    def content(self) -> bytes: ...  # noqa: D102

    @property
    def text(self) -> str: ...  # noqa: D102

    @property
    def reason(self) -> str | None: ...  # noqa: D102


def server_message(response: Answer) -> str:
    """The one reader of a server's error text (API calls and every login scheme; a login
    flow's ``FlowResponse`` reads the same way).

    Atlassian's own words from an error body: Jira's ``errorMessages`` / ``errors`` object,
    Confluence v2's ``errors`` list of ``{status, code, title, detail}``
    (https://developer.atlassian.com/cloud/confluence/rest/v2/intro/#about), ``message``;
    Cloud's plain-text answer to a refused API token; an HTML page's title.
    """
    try:
        body = orjson.loads(response.content)
    except orjson.JSONDecodeError:
        text = response.text
        if "oauth_problem=" in text:
            # OAuth 1.0a refusals are form-encoded and may echo the signature base string,
            # which holds the access token: keep only the problem's name.
            problem = parse_qs(text).get("oauth_problem", ["unknown"])[0]
            return f"oauth_problem={problem}"
        if BASIC_DEPRECATED in text:
            return TOKEN_REFUSED
        return html_summary(text) or response.reason or ""
    if not isinstance(body, dict):
        return clip(str(body), 200)
    parts = list(body.get("errorMessages") or [])
    errors = body.get("errors")
    if isinstance(errors, dict):
        parts += [f"{k}: {v}" for k, v in errors.items()]
    elif isinstance(errors, list):  # Confluence Cloud v2
        parts += [_v2_error(e) for e in errors if isinstance(e, dict) and _v2_error(e)]
    if not parts:
        text = next((body[k] for k in _TEXT_KEYS if isinstance(body.get(k), str) and body[k]), "")
        code = next(
            (body[k] for k in _CODE_KEYS if isinstance(body.get(k), str) and _CODE.match(body[k])), ""
        )
        parts = [f"{code}: {text}" if code and text and code != text else code or text]
    return clip("; ".join(p for p in map(str, parts) if p), 300) or response.reason or ""


# A body without Jira's lists: its words, led by the error code when it has one (OAuth 2.0
# ``error`` + ``error_description``, RFC 6749 section 5.2; Okta ``errorCode`` +
# ``errorSummary``; Crowd ``reason`` + ``message``): ``invalid_grant: Unknown or invalid
# refresh token.``, ``E0000004: Authentication failed``.
_TEXT_KEYS = ("message", "errorSummary", "error_description", "reason", "error")
_CODE_KEYS = ("errorCode", "error", "reason")
_CODE = re.compile(r"^(E\d{7}|[a-z]+(?:_[a-z]+)+|[A-Z]+(?:_[A-Z]+)+)$")


# Atlassian Cloud's plain-text 401 for a Basic login whose API token it does not accept
# (https://developer.atlassian.com/cloud/jira/platform/deprecation-notice-basic-auth/).
BASIC_DEPRECATED = "Basic authentication with passwords is deprecated"
# (S105: a message about a token, not a token)
TOKEN_REFUSED = (
    "Atlassian refused the API token (wrong, revoked, or a password given instead of "  # noqa: S105
    "an API token: create one at https://id.atlassian.com/manage-profile/security/api-tokens "
    "and set api_token with the account's e-mail as user)"
)


def _v2_error(error: t.Mapping[str, t.Any]) -> str:
    title = str(error.get("title") or error.get("code") or "").strip()
    detail = str(error.get("detail") or "").strip()
    return f"{title}: {detail}" if title and detail else title or detail


def html_summary(text: str) -> str:
    """An HTML page in a few words: its ``<title>`` (a login page: "Log in - Jira"), else its
    text, cut at a word boundary; plain text is only tidied and clipped.
    """
    match = re.search(r"<title[^>]*>(.*?)</title>", text, re.IGNORECASE | re.DOTALL)
    if match:
        title = " ".join(html.unescape(re.sub(r"<[^>]+>", " ", match.group(1))).split())
        if title:
            return clip(f'an HTML page titled "{title}"', 200)
    plain = " ".join(html.unescape(re.sub(r"<[^>]+>", " ", text)).split())
    return clip(plain, 200)


def clip(text: str, limit: int) -> str:
    """``text`` within ``limit`` characters, cut at a word boundary with an ellipsis."""
    if len(text) <= limit:
        return text
    cut = text[: limit - 1]
    if " " in cut:
        cut = cut[: cut.rindex(" ")]
    return cut.rstrip(" ,;:-") + "…"


def retry_after_seconds(headers: t.Mapping[str, str]) -> float | None:  # noqa: PLR0911  (one return per header form)
    """``Retry-After`` (seconds or HTTP date), else Okta's ``X-Rate-Limit-Reset`` (UTC epoch
    seconds; https://developer.okta.com/docs/reference/rl-best-practices/: wait past that
    second), else Atlassian's ``X-RateLimit-Reset`` (ISO 8601).
    """
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
    okta_reset = headers.get("X-Rate-Limit-Reset")  # Okta: UTC epoch seconds
    if okta_reset and okta_reset.strip().isdigit():
        return max(0.0, int(okta_reset) + 1 - dt.datetime.now(dt.timezone.utc).timestamp())
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
