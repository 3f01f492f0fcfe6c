"""Jira field metadata (``/rest/api/{3,2}/field``) to JSON schema types.

https://developer.atlassian.com/cloud/jira/platform/rest/v3/api-group-issue-fields/#api-rest-api-3-field-get
Each field's ``schema`` (``JsonTypeBean``) gives ``type`` (``number``, ``string``, ``date``,
``datetime``, ``option``, ``array`` with ``items``, ``user``, ``project``, ...) and, for
custom fields, ``custom`` (the plugin type key). Values keep Jira's shape; ``datetime``
values are re-written as RFC 3339 UTC (:func:`tap_atlassian.records.rfc3339`) so that they
validate as ``date-time``.
"""

from __future__ import annotations

import typing as t

from tap_atlassian.records import rfc3339

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
    if kind in {"option", "user", "project", "version", "group", "priority", "issuetype", "status",
                "resolution", "component", "securitylevel", "votes", "watches", "progress",
                "timetracking", "option-with-child", "sd-customerrequesttype", "sd-servicelevelagreement",
                "sd-approvals", "sd-feedback", "issuelinks", "comments-page", "attachment", "issuelink"}:
        return dict(OBJECT)
    return ANY


def custom_fields(fields: t.Iterable[t.Mapping[str, t.Any]]) -> dict[str, dict[str, t.Any]]:
    """``{field id: JSON schema}`` for every custom field of a ``/field`` answer."""
    return {f["id"]: json_type(f.get("schema")) for f in fields
            if f.get("custom") or is_custom(str(f.get("id", "")))}


def is_custom(field_id: str) -> bool:
    """Custom field ids are ``customfield_NNNNN`` on every deployment."""
    return field_id.startswith("customfield_")


def datetime_fields(schema: t.Mapping[str, t.Any]) -> tuple[str, ...]:
    """Names of ``date-time`` fields in a ``fields`` schema (their values are re-written)."""
    props = schema.get("properties", {})
    return tuple(k for k, v in props.items() if v.get("format") == "date-time")


def normalise(fields: dict[str, t.Any], keep_custom: bool, dt_fields: t.Iterable[str]) -> None:
    """In place: drop custom fields when off; RFC 3339 for ``date-time`` fields."""
    if not keep_custom:
        for key in [k for k in fields if is_custom(k)]:
            del fields[key]
    for key in dt_fields:
        value = fields.get(key)
        if isinstance(value, str):
            fields[key] = rfc3339(value)
