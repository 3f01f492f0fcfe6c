"""OpenAPI 3.0 components of Atlassian's published documents as Singer JSON schemas.

The documents (``specs/``, see ``specs/SOURCES.txt``) describe each object Atlassian's
REST APIs return. :func:`convert` turns one schema of them into a draft-07 schema a loader
can make columns from:

- ``$ref`` resolved (``allOf`` merged, ``oneOf``/``anyOf`` of objects merged), down to
  :data:`MAX_DEPTH` nested objects; deeper, or recursive, objects are declared loosely
  (``object``, any properties) so that nothing is lost, only typed less precisely.
- every property nullable (the APIs leave properties out or send ``null`` freely) and every
  object open (``additionalProperties: true``: a property a document does not know is kept);
- only the ``date-time`` and ``date`` formats kept (``int64``, ``uri``... say nothing a
  loader uses), plus the fixes in :data:`FORMAT_FIXES` where a document types a timestamp as
  a plain string; ``enum``, examples, ``readOnly`` and nested descriptions dropped.
"""

from __future__ import annotations

import copy
import functools
import json
import typing as t
from importlib import resources

SPECS = {
    "jira": "jira-platform-cloud-v3.swagger-v3.v3.json",
    "confluence": "confluence-cloud-v2.openapi-v2.v3.json",
    "jsm": "jsm-servicedesk-cloud.swagger.v3.json",
    "jira-software": "jira-software-cloud.swagger.v3.json",
}
MAX_DEPTH = 5
NULL = "null"
ANY: dict[str, t.Any] = {"type": ["object", "array", "string", "number", "boolean", "null"]}
LOOSE_OBJECT: dict[str, t.Any] = {"type": ["object", "null"], "additionalProperties": True}
KEEP_FORMATS = {"date-time", "date"}
# (document, component, property) -> format, where a document types a timestamp as text.
FORMAT_FIXES: dict[tuple[str, str, str], str] = {
    ("jsm", "DateDTO", "iso8601"): "date-time",  # "2021-01-20T14:50:53+0700"
    ("jsm", "DateDTO", "jira"): "date-time",  # "2016-09-28T23:08:32.097+1000"
}


@functools.cache
def document(name: str) -> dict[str, t.Any]:
    """One vendored OpenAPI document (parsed once per process)."""
    text = resources.files(__package__).joinpath("specs").joinpath(SPECS[name]).read_bytes()
    return json.loads(text)


def component(spec: str, name: str) -> dict[str, t.Any]:
    """``#/components/schemas/<name>`` of a document."""
    schemas = document(spec)["components"]["schemas"]
    if name not in schemas:
        msg = f"schemas: {spec} has no component {name}"
        raise KeyError(msg)
    return schemas[name]


def convert(spec: str, node: t.Mapping[str, t.Any], depth: int = 0) -> dict[str, t.Any]:
    """The Singer schema of one OpenAPI schema ``node`` of document ``spec``."""
    return _Converter(spec).convert(node, depth, ())


class _Converter:
    def __init__(self, spec: str) -> None:
        self.spec = spec

    def _deref(self, node: t.Mapping[str, t.Any]) -> tuple[dict[str, t.Any], str | None]:
        ref = node.get("$ref")
        if not ref:
            return dict(node), None
        name = ref.rsplit("/", 1)[-1]
        return dict(component(self.spec, name)), name

    def convert(self, node: t.Mapping[str, t.Any], depth: int, seen: tuple[str, ...]) -> dict[str, t.Any]:  # noqa: C901  (one branch per JSON-schema keyword)
        node, name = self._deref(node)
        if name is not None:
            if name in seen:
                return dict(LOOSE_OBJECT)
            seen = (*seen, name)
        merged = self._merge_parts(node, seen)
        if merged is not None:
            node = merged
            name = name or _single_ref(node)
        kind = node.get("type")
        if kind == "array" or "items" in node:
            items = self.convert(node.get("items") or {}, depth, seen)
            items["type"] = [x for x in items.get("type", []) if x != NULL] or ANY["type"]
            return {"type": ["array", NULL], "items": items}
        if kind == "object" or "properties" in node or "additionalProperties" in node:
            if depth >= MAX_DEPTH or not node.get("properties"):
                return dict(LOOSE_OBJECT)
            props = {}
            for key, sub in node["properties"].items():
                prop = self.convert(sub, depth + 1, seen)
                fix = FORMAT_FIXES.get((self.spec, name or "", key))
                if fix:
                    prop["format"] = fix
                props[key] = prop
            return {"type": ["object", NULL], "properties": props, "additionalProperties": True}
        if kind in {"string", "integer", "number", "boolean"}:
            out: dict[str, t.Any] = {"type": [kind, NULL]}
            if node.get("format") in KEEP_FORMATS:
                out["format"] = node["format"]
            return out
        return dict(ANY)

    def _merge_parts(self, node: dict[str, t.Any], seen: tuple[str, ...]) -> dict[str, t.Any] | None:  # noqa: C901
        """``allOf`` always merges; ``oneOf``/``anyOf`` merge when every part is an object."""
        parts = node.get("allOf") or node.get("oneOf") or node.get("anyOf")
        if not parts:
            return None
        resolved = []
        for part in parts:
            sub, name = self._deref(part)
            if name is not None and name in seen:
                return dict(LOOSE_OBJECT)
            inner = self._merge_parts(sub, (*seen, name) if name else seen)
            resolved.append(inner if inner is not None else sub)
        if "allOf" not in node and not all(_is_object(p) for p in resolved):
            if len({p.get("type") for p in resolved}) == 1:
                return {k: v for k, v in resolved[0].items() if k != "enum"}
            return {}
        out: dict[str, t.Any] = {k: v for k, v in node.items() if k not in {"allOf", "oneOf", "anyOf"}}
        refs = [p["$ref"].rsplit("/", 1)[-1] for p in parts if "$ref" in p]
        if len(refs) == 1:
            out["x-component"] = refs[0]  # read back by convert (FORMAT_FIXES), never emitted
        for part in resolved:
            for key, value in part.items():
                if key == "properties":
                    out["properties"] = {**out.get("properties", {}), **value}
                elif key not in out:
                    out[key] = copy.copy(value)
        return out


def _single_ref(node: t.Mapping[str, t.Any]) -> str | None:
    return node.get("x-component")


def _is_object(node: t.Mapping[str, t.Any]) -> bool:
    return node.get("type") == "object" or "properties" in node
