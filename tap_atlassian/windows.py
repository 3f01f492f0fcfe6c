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
    if len(text) > len("+0000") and text[-5] in "+-" and text[-3] != ":":
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
    def build(
        cls,
        bookmark: dt.datetime | None,
        lag_minutes: int,
        tz: dt.tzinfo | None,
        now: dt.datetime | None = None,
    ) -> Window:
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
        """A lower bound's literal, never read as a later instant than ``instant``.

        In the repeated local hour of an autumn clock change a wall time names two instants,
        and servers differ in which one they pick (``java.util.Calendar`` takes the later,
        standard-time one; ``java.time`` the earlier). When ``instant`` is the earlier one,
        the literal is moved back by the offset change, so either reading is at or before it.
        A literal made from a real instant never falls in a spring-forward gap.
        """
        return self.literal(instant - self._fold_gap(instant, later=False))

    def upper_literal(self) -> str:
        """The upper bound's literal, never read as an earlier instant than the upper end.

        Without a zone widened so that no zone can cut it short; in the repeated autumn hour
        (the upper end being the later occurrence) moved forward by the offset change.
        """
        if self.tz is None:
            return self.literal(self.upper + UNKNOWN_ZONE_WIDENING)
        return self.before_literal(self.upper)

    def before_literal(self, instant: dt.datetime) -> str:
        """An upper bound's literal, never read as an earlier instant than ``instant`` (moved
        forward by the offset change when ``instant`` is the later reading of an autumn wall time).
        """
        return self.literal(instant + self._fold_gap(instant, later=True))

    def _fold_gap(self, instant: dt.datetime, *, later: bool) -> dt.timedelta:
        """The offset change when ``instant``'s wall time also names another instant, on the
        side asked for (``later``: the other reading is earlier), else zero.
        """
        if self.tz is None:
            return dt.timedelta(0)
        local = instant.astimezone(self.tz)
        other = local.replace(fold=1 - local.fold)
        mine = local.utcoffset() or dt.timedelta()
        theirs = other.utcoffset() or dt.timedelta()
        # other reading earlier than this instant <=> its offset is larger (fold 1 in autumn)
        gap = theirs - mine if later else mine - theirs
        wanted_fold = 1 if later else 0
        return gap if local.fold == wanted_fold and gap > dt.timedelta(0) else dt.timedelta(0)

    def admits(self, value: dt.datetime | None) -> bool:
        """Whether a record's own UTC time is inside ``[bookmark, upper]``."""
        if value is None:
            return True
        if self.bookmark is not None and value < self.bookmark:
            return False
        return value <= self.upper + dt.timedelta(minutes=1) - dt.timedelta(microseconds=1)
