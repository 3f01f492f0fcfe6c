"""Record normalisation: every ``date-time`` a schema declares emitted as RFC 3339 UTC.

Atlassian's timestamps are ISO 8601 but not always RFC 3339: Jira writes offsets without a
colon (``2022-05-25T00:33:32.034-0700``), JSM's ``DateDTO.iso8601`` has no fraction and the
same offsets, Confluence Server's ``version.when`` carries a local offset. A loader types a
column as a timestamp only when the value parses, so every value at a ``date-time`` path of
the stream's schema is re-written as ``YYYY-MM-DDTHH:MM:SS.sssZ``.

Cheap by construction: the paths are computed once per stream from its schema
(:func:`plan`) and only those values are touched; a value already in UTC ``Z`` form is left
as is, and the others are converted without a full parse (:func:`rfc3339`). Nothing else
in a record changes, and nothing is removed. (UTC rather than the original offset: DuckDB's
``TIMESTAMP`` keeps the wall time of an offset value and drops the offset.)
"""

from __future__ import annotations

import datetime as dt
import functools
import typing as t

UTC = dt.timezone.utc
Convert = t.Callable[[str], str]
# (key, convert the value itself, plan of an object value or of each array item's object)
Plan = tuple[tuple[str, "Convert | None", "Plan | None"], ...]


def rfc3339(value: str) -> str:
    """An Atlassian timestamp as RFC 3339 UTC; text that is not a timestamp is left alone.

    The common shapes (``...Z``, ``...+0000``, ``...-0700``, ``...+05:30``) are re-written by
    string surgery: only the hour (the minute too for a ``+05:30`` offset) is converted with
    its offset, and remembered (the records of one run share few of them); the rest is kept
    as given.
    """
    n = len(value)
    if n < 17 or value[10] != "T":  # noqa: PLR2004
        return _slow(value)
    if value[-1] == "Z":
        return value
    if value[-5] in "+-" and value[-4:].isdigit():
        body, offset = value[:-5], value[-5:]
    elif value[-6] in "+-" and value[-3] == ":":
        body, offset = value[:-6], value[-6:-3] + value[-2:]
    else:
        return _slow(value)
    if offset[1:] == "0000":
        return body + "Z"
    cut = 13 if offset[3:] == "00" else 16  # a whole-hour offset changes only the date and hour
    head = _utc_head(body[:cut] + offset)
    return value if head is None else head + body[cut:] + "Z"


# The records of one run share few hours, but a full sync spans every hour of the site's
# life: a small cache keeps memory flat however many records pass (one of 65,536 entries
# grew with the run, about 25 bytes a record, up to about 10 MB).
@functools.lru_cache(maxsize=4096)
def _utc_head(key: str) -> str | None:
    """``YYYY-MM-DDTHH[:MM]`` + a ``+hhmm`` offset as that hour [minute] in UTC (None: not a time)."""
    cut = len(key) - 5
    local = key[:cut] + (":00" if cut == 13 else "") + key[cut:]  # noqa: PLR2004
    try:
        when = dt.datetime.fromisoformat(local)
    except ValueError:
        return None
    return when.astimezone(UTC).isoformat()[:cut]


def _slow(value: str) -> str:
    try:
        parsed = dt.datetime.fromisoformat(value)
    except ValueError:
        return value
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _types(node: t.Mapping[str, t.Any]) -> set[str]:
    kind = node.get("type", ())
    return {kind} if isinstance(kind, str) else set(kind)


def plan(schema: t.Mapping[str, t.Any]) -> Plan:
    """The ``date-time`` paths of an object schema, as a tree walked once per record."""
    out: list[tuple[str, Convert | None, Plan | None]] = []
    for key, prop in (schema.get("properties") or {}).items():
        if not isinstance(prop, t.Mapping):
            continue
        kinds = _types(prop)
        if prop.get("format") == "date-time" and "string" in kinds:
            out.append((key, rfc3339, None))
        elif "object" in kinds and prop.get("properties"):
            sub = plan(prop)
            if sub:
                out.append((key, None, sub))
        elif "array" in kinds and isinstance(prop.get("items"), t.Mapping):
            items = prop["items"]
            if items.get("format") == "date-time":
                out.append((key, rfc3339, ()))
            elif items.get("properties"):
                sub = plan(items)
                if sub:
                    out.append((key, None, sub))
    return tuple(out)


def apply(node: dict[str, t.Any], steps: Plan) -> None:
    """In place: convert the values at the planned paths (missing or null ones are skipped)."""
    for key, convert, sub in steps:
        value = node.get(key)
        if value is None:
            continue
        if convert is not None:
            if type(value) is str:
                node[key] = convert(value)
            elif type(value) is list:
                node[key] = [convert(v) if type(v) is str else v for v in value]
        elif type(value) is dict:
            apply(value, sub)  # type: ignore[arg-type]
        elif type(value) is list:
            for item in value:
                if type(item) is dict:
                    apply(item, sub)  # type: ignore[arg-type]


def undeclared(record: t.Mapping[str, t.Any], declared: frozenset[str]) -> list[str]:
    """Top-level keys of a record its schema does not declare (kept, but a SQL loader
    makes columns from the schema only).
    """
    if declared.issuperset(record):
        return []
    return [k for k in record if k not in declared]
