"""Time formats Atlassian uses, all from epoch milliseconds (the fake's internal clock unit)."""

from __future__ import annotations

import time
from datetime import datetime, timezone
from functools import lru_cache
from zoneinfo import ZoneInfo

UTC = timezone.utc


def now_ms() -> int:
    return int(time.time() * 1000)


def dt(ms: int, tz: ZoneInfo | timezone = UTC) -> datetime:
    return datetime.fromtimestamp(ms / 1000, tz)


@lru_cache(maxsize=65536)
def _offset(tz: ZoneInfo | timezone, hour: int) -> tuple[int, str]:
    """(offset seconds, "+hhmm") of a zone during one UTC hour (zone changes happen on hours)."""
    off = dt(hour * 3_600_000, tz).utcoffset()
    secs = int(off.total_seconds()) if off is not None else 0
    sign = "-" if secs < 0 else "+"
    return secs, f"{sign}{abs(secs) // 3600:02d}{abs(secs) % 3600 // 60:02d}"


def jira_time(ms: int, tz: ZoneInfo | timezone) -> str:
    """Jira's `2024-03-05T03:22:33.000-0800`: rendered in the user's zone, like Jira does."""
    secs, suffix = _offset(tz, ms // 3_600_000)
    t = time.gmtime(ms // 1000 + secs)
    return (f"{t.tm_year:04d}-{t.tm_mon:02d}-{t.tm_mday:02d}T{t.tm_hour:02d}:{t.tm_min:02d}:"
            f"{t.tm_sec:02d}.{ms % 1000:03d}{suffix}")


def iso_z(ms: int) -> str:
    """Confluence Cloud v2's `2024-03-05T11:22:33.123Z`."""
    return dt(ms).strftime("%Y-%m-%dT%H:%M:%S.") + f"{ms % 1000:03d}Z"


def iso_offset(ms: int, tz: ZoneInfo | timezone) -> str:
    """Confluence v1 / JSM `2024-03-05T16:52:33.123+05:30`."""
    d = dt(ms, tz)
    off = d.strftime("%z")
    return d.strftime("%Y-%m-%dT%H:%M:%S.") + f"{ms % 1000:03d}" + off[:3] + ":" + off[3:]


def date_dto(ms: int, tz: ZoneInfo | timezone) -> dict:
    """JSM `DateDTO`."""
    d = dt(ms, tz)
    return {
        "iso8601": d.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "jira": jira_time(ms, tz),
        "friendly": d.strftime("%d/%b/%y %I:%M %p"),
        "epochMillis": ms,
    }


def parse_instant(value: str | int | float | datetime) -> int:
    """Epoch ms from an ISO-8601 string (naive = UTC), a datetime, or a number of ms."""
    if isinstance(value, (int, float)):
        return int(value)
    if isinstance(value, datetime):
        d = value
    else:
        d = datetime.fromisoformat(value.replace("Z", "+00:00"))
    if d.tzinfo is None:
        d = d.replace(tzinfo=UTC)
    return int(d.timestamp() * 1000)
