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
import re
import typing as t
from urllib.parse import parse_qs

import orjson
from singer_sdk.exceptions import FatalAPIError

if t.TYPE_CHECKING:
    import requests


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
