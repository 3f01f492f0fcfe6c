"""Jira field metadata (``/rest/api/{3,2}/field``) to JSON schema types.

https://developer.atlassian.com/cloud/jira/platform/rest/v3/api-group-issue-fields/#api-rest-api-3-field-get
Each field's ``schema`` (``JsonTypeBean``) gives ``type`` (``number``, ``string``, ``date``,
``datetime``, ``option``, ``array`` with ``items``, ``user``, ``project``, ...) and, for
custom fields, ``custom`` (the plugin type key). Values keep Jira's shape; ``datetime``
values are re-written as RFC 3339 UTC (:func:`tap_atlassian.records.rfc3339`) so that they
validate as ``date-time``.
"""

from __future__ import annotations

import logging
import re
import typing as t
import unicodedata

from tap_atlassian.records import rfc3339

LOGGER = logging.getLogger("tap-atlassian")
MAX_NAME = 48  # a column-safe name, short enough for PostgreSQL's 63 with "fields__" and a suffix

ANY: dict[str, t.Any] = {"type": ["object", "array", "string", "number", "boolean", "null"]}
OBJECT: dict[str, t.Any] = {"type": ["object", "null"], "additionalProperties": True}
SCALARS: dict[str, dict[str, t.Any]] = {
    "number": {"type": ["number", "null"]},
    "string": {"type": ["string", "null"]},
    "date": {"type": ["string", "null"], "format": "date"},
    "datetime": {"type": ["string", "null"], "format": "date-time"},
    "boolean": {"type": ["boolean", "null"]},
    "any": ANY,
}
# Custom plugin types whose `type` says too little.
CUSTOM_OVERRIDES: dict[str, dict[str, t.Any]] = {
    "com.atlassian.jira.plugin.system.customfieldtypes:float": SCALARS["number"],
    "com.atlassian.jira.plugin.system.customfieldtypes:textarea": ANY,  # v3: ADF object; v2: string
}


def json_type(meta: t.Mapping[str, t.Any] | None) -> dict[str, t.Any]:
    """The JSON schema of one field's values, from its ``schema`` metadata."""
    if not meta:
        return ANY
    if meta.get("custom") in CUSTOM_OVERRIDES:
        return dict(CUSTOM_OVERRIDES[meta["custom"]])
    kind = meta.get("type")
    if kind == "array":
        item = json_type({"type": meta.get("items")}) if meta.get("items") else ANY
        item = {**item, "type": [x for x in item["type"] if x != "null"]} if "type" in item else item
        return {"type": ["array", "null"], "items": item}
    if kind in SCALARS:
        return dict(SCALARS[kind])
    if kind in {
        "option",
        "user",
        "project",
        "version",
        "group",
        "priority",
        "issuetype",
        "status",
        "resolution",
        "component",
        "securitylevel",
        "votes",
        "watches",
        "progress",
        "timetracking",
        "option-with-child",
        "sd-customerrequesttype",
        "sd-servicelevelagreement",
        "sd-approvals",
        "sd-feedback",
        "issuelinks",
        "comments-page",
        "attachment",
        "issuelink",
    }:
        return dict(OBJECT)
    return ANY


def custom_fields(
    fields: t.Iterable[t.Mapping[str, t.Any]], *, names: bool = False, reserved: t.Iterable[str] = ()
) -> dict[str, dict[str, t.Any]]:
    """``{property: JSON schema}`` for every custom field of a ``/field`` answer.

    The property is the field's id, or with ``names`` its column-safe name
    (:func:`column_names`); either way the schema's ``description`` is ``"<id>: <name>"``,
    which is how a sync finds the id again (:func:`columns_in_schema`).
    """
    fields = list(fields)
    reserved = [*reserved, *(str(f.get("id")) for f in fields if not is_custom(str(f.get("id", ""))))]
    fields = [f for f in fields if f.get("custom") or is_custom(str(f.get("id", "")))]
    columns = column_names(fields, reserved) if names else {}
    out = {}
    for f in fields:
        prop = json_type(f.get("schema"))
        prop["description"] = f"{f['id']}: {f.get('name') or f['id']}"
        out[columns.get(f["id"], f["id"])] = prop
    return out


def column_name(name: str) -> str:
    """``Story point estimate`` -> ``story_point_estimate`` (ASCII letters, digits and ``_``)."""
    text = "".join(ch for ch in unicodedata.normalize("NFKD", name) if not unicodedata.combining(ch))
    text = re.sub(r"[^a-z0-9]+", "_", text.lower()).strip("_")[:MAX_NAME].rstrip("_")
    if not text:
        return "field"
    return f"cf_{text}" if text[0].isdigit() else text


def _number(field_id: str) -> tuple[int, str]:
    digits = field_id.rsplit("_", 1)[-1]
    return (int(digits), field_id) if digits.isdigit() else (1 << 62, field_id)


def column_names(
    fields: t.Iterable[t.Mapping[str, t.Any]],
    reserved: t.Iterable[str] = (),
    known: t.Mapping[str, str] | None = None,
) -> dict[str, str]:
    """``{custom field id: column}``, deterministic: fields in id order, the first with a name
    keeps it, each later one (and any that would take a ``reserved`` name: the system fields)
    gets ``_<id number>`` (``severity``, ``severity_10050``). ``known`` (the columns of the
    last discovery) are kept as they are.
    """
    known = dict(known or {})
    taken = {r.lower() for r in reserved} | set(known.values())
    out: dict[str, str] = {}
    for f in sorted(fields, key=lambda f: _number(str(f["id"]))):
        fid = str(f["id"])
        if not is_custom(fid):
            continue
        if fid in known:
            out[fid] = known[fid]
            continue
        base = column_name(str(f.get("name") or fid))
        column = base
        while column in taken:
            column = f"{column}_{_number(fid)[0]}" if column == base else f"{column}_{fid}"
        taken.add(column)
        out[fid] = column
    return out


def columns_in_schema(schema: t.Mapping[str, t.Any]) -> dict[str, tuple[str, str]]:
    """``{field id: (column, name at discovery)}`` of the custom fields a ``jira_issues``
    schema declares under ``fields`` (read back from their ``description``).
    """
    props = ((schema.get("properties") or {}).get("fields") or {}).get("properties") or {}
    out = {}
    for column, prop in props.items():
        fid, sep, name = str(prop.get("description") or "").partition(": ")
        if sep and is_custom(fid):
            out[fid] = (column, name)
    return out


def renames(schema: t.Mapping[str, t.Any]) -> dict[str, str]:
    """``{field id: column}`` for the custom fields a schema declares under another name."""
    return {fid: column for fid, (column, _) in columns_in_schema(schema).items() if column != fid}


def warn_renamed(schema: t.Mapping[str, t.Any], fields: t.Iterable[t.Mapping[str, t.Any]]) -> list[str]:
    """One WARNING per custom field renamed on the site since discovery (its column stays)."""
    declared = columns_in_schema(schema)
    lines = []
    for f in fields:
        fid = str(f.get("id"))
        if fid in declared and f.get("name") and f["name"] != declared[fid][1]:
            column, old = declared[fid]
            lines.append(
                f"custom field {fid} was renamed on the site from '{old}' to '{f['name']}'; "
                f"its column stays '{column}' until the next discovery"
            )
    for line in lines:
        LOGGER.warning("%s", line)
    return lines


def with_columns(
    fields: list[dict[str, t.Any]], issues_schema: t.Mapping[str, t.Any] | None, *, names: bool
) -> list[dict[str, t.Any]]:
    """``jira_fields`` records with ``column``: where each field's values are under
    ``jira_issues.fields`` (its id, or with ``names`` the name given at discovery).
    """
    columns: dict[str, str] = {}
    if names:
        known = {fid: col for fid, (col, _) in columns_in_schema(issues_schema or {}).items()}
        declared = ((issues_schema or {}).get("properties") or {}).get("fields") or {}
        reserved = [*(declared.get("properties") or {}), *(str(f.get("id")) for f in fields)]
        columns = column_names(fields, [r for r in reserved if r not in known], known)
    for f in fields:
        f["column"] = columns.get(str(f.get("id")), f.get("id"))
    return fields


def rename(fields: dict[str, t.Any], columns: t.Mapping[str, str]) -> None:
    """In place: custom field values moved from their id to their column name."""
    for fid, column in columns.items():
        if fid in fields:
            fields[column] = fields.pop(fid)


def is_custom(field_id: str) -> bool:
    """Custom field ids are ``customfield_NNNNN`` on every deployment."""
    return field_id.startswith("customfield_")


def datetime_fields(schema: t.Mapping[str, t.Any]) -> tuple[str, ...]:
    """Names of ``date-time`` fields in a ``fields`` schema (their values are re-written)."""
    props = schema.get("properties", {})
    return tuple(k for k, v in props.items() if v.get("format") == "date-time")


def normalise(fields: dict[str, t.Any], keep_custom: bool, dt_fields: t.Iterable[str]) -> None:  # noqa: FBT001
    """In place: drop custom fields when off; RFC 3339 for ``date-time`` fields."""
    if not keep_custom:
        for key in [k for k in fields if is_custom(k)]:
            del fields[key]
    for key in dt_fields:
        value = fields.get(key)
        if isinstance(value, str):
            fields[key] = rfc3339(value)
