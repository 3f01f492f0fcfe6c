"""Incremental query windows for JQL and CQL, whose date literals are minutes in a user's zone.

Jira reads ``updated >= "yyyy-MM-dd HH:mm"`` in the searching user's time zone
(``/rest/api/{3,2}/myself`` ``timeZone``), Confluence CQL ``lastmodified`` likewise
(``/rest/api/user/current`` ``timeZone``). A UTC bookmark sent as a naive string skips or
repeats hours of records, so the bookmark is converted to that zone, one minute of overlap
is added, and records older than the bookmark are dropped by their own UTC time. Without
a known zone the window is widened by 14 hours (every offset on Earth) and the same filter
keeps the result exact. The upper end stays ``search_lag_minutes`` in the past because the
search indexes lag; records changed after it are left for the next run, so a bookmark
never passes a record that was not emitted.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import typing as t
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

UTC = dt.timezone.utc
OVERLAP = dt.timedelta(minutes=1)
UNKNOWN_ZONE_WIDENING = dt.timedelta(hours=14)


def zone(name: str | None) -> dt.tzinfo | None:
    """A ``ZoneInfo`` for an Atlassian ``timeZone`` value, or None when unknown."""
    if not name:
        return None
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return None


def parse_time(value: str | None) -> dt.datetime | None:
    """Atlassian timestamps (``2024-01-31T10:00:00.000+0000``, ``...Z``) as aware UTC."""
    if not value:
        return None
    text = value.replace("Z", "+00:00")
    if len(text) > 5 and text[-5] in "+-" and text[-3] != ":":
        text = f"{text[:-2]}:{text[-2:]}"
    parsed = dt.datetime.fromisoformat(text)
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def format_utc(value: dt.datetime | None) -> str | None:
    """RFC 3339 in UTC with milliseconds (the records' replication keys)."""
    if value is None:
        return None
    return value.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def iso_utc(value: str | None) -> str | None:
    """An Atlassian timestamp re-written as RFC 3339 in UTC."""
    return format_utc(parse_time(value))


def floor_minute(value: dt.datetime) -> dt.datetime:
    """The instant truncated to the minute."""
    return value.replace(second=0, microsecond=0)


@dataclasses.dataclass(frozen=True)
class Window:
    """``[bookmark, upper]`` for one run; ``tz`` is the searching user's zone (None: unknown)."""

    bookmark: dt.datetime | None
    upper: dt.datetime
    tz: dt.tzinfo | None

    @classmethod
    def build(cls, bookmark: dt.datetime | None, lag_minutes: int, tz: dt.tzinfo | None,
              now: dt.datetime | None = None) -> Window:
        """The window of a run starting now."""
        now = now or dt.datetime.now(UTC)
        upper = floor_minute(now - dt.timedelta(minutes=lag_minutes))
        return cls(bookmark.astimezone(UTC) if bookmark else None, upper, tz)

    @property
    def query_lower(self) -> dt.datetime | None:
        """The lower bound sent in the query (overlap, or widening without a zone)."""
        if self.bookmark is None:
            return None
        return self.bookmark - (OVERLAP if self.tz else UNKNOWN_ZONE_WIDENING + OVERLAP)

    def literal(self, instant: dt.datetime) -> str:
        """``yyyy-MM-dd HH:mm`` in the user's zone (UTC when unknown: widened by the caller)."""
        local = instant.astimezone(self.tz or UTC)
        return local.strftime("%Y-%m-%d %H:%M")

    def lower_literal(self, instant: dt.datetime) -> str:
        """A lower bound's literal, safe in a repeated local hour (autumn clock change).

        A wall time that occurs twice may be read as its later occurrence; when the instant
        is the earlier one, the literal is moved back by the offset change, so the server's
        reading is never after the intended instant.
        """
        if self.tz is not None:
            local = instant.astimezone(self.tz)
            other = local.replace(fold=1 - local.fold)
            gap = (local.utcoffset() or dt.timedelta()) - (other.utcoffset() or dt.timedelta())
            if local.fold == 0 and gap > dt.timedelta(0):
                instant -= gap
        return self.literal(instant)

    def upper_literal(self) -> str:
        """The upper bound; without a zone widened so that no zone can cut it short."""
        upper = self.upper if self.tz else self.upper + UNKNOWN_ZONE_WIDENING
        return self.literal(upper)

    def admits(self, value: dt.datetime | None) -> bool:
        """Whether a record's own UTC time is inside ``[bookmark, upper]``."""
        if value is None:
            return True
        if self.bookmark is not None and value < self.bookmark:
            return False
        return value <= self.upper + dt.timedelta(minutes=1) - dt.timedelta(microseconds=1)
