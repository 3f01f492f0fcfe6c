"""Stream schemas, generated from Atlassian's OpenAPI documents plus a small overlay per stream.

Each stream has one file ``<stream>.json`` here that *declares* its schema in a few lines
(the "Schemas" section of ``docs/ARCHITECTURE.md`` is the reference)::

    {
      "source":  {"$ref": "jira:Comment"},                       # both deployments
      "server":  {"$ref": "jira:Comment", "properties": {"body": "string"}},
      "omit":    ["renderedBody"],                               # never filled by the tap's request
      "overlay": {"issueId": "string", "issueUpdated": "date-time"}
    }

- ``source`` (or ``cloud`` / ``server`` for one deployment, which win over ``source``) is a
  *fragment*: ``{"$ref": "<document>:<Component>"}`` names a component of a vendored
  OpenAPI document (``jira``, ``confluence``, ``jsm``: see ``specs/SOURCES.txt``), converted
  by :mod:`tap_atlassian.schemas.openapi`; ``{"$ref": "fragment:<name>"}`` names a hand-written
  fragment in ``fragments/<name>.json`` (Server/Data Center shapes, which have no OpenAPI
  document, written from Atlassian's Server REST documentation, and shapes no document
  declares, such as an issue's system ``fields``); siblings of ``$ref``:
  ``properties`` replace or add properties, ``omit`` removes them. A plain JSON schema
  works too, and so does a shorthand string (:data:`SHORTHANDS`).
- ``omit`` (top level): properties left out on every deployment (expansions the tap never asks for).
- ``overlay``: the tap's own additions (``updated``, ``last_modified``, parent ids),
  fragments like the rest.
- Every schema gets ``_sdc_deleted_at`` (nullable ``date-time``, the soft-delete column) and
  ``additionalProperties: true``: a property no document knows is kept, declared loosely.

A file that is already a full JSON schema (``"type": "object"`` with ``properties``) is
used as it is (plus ``_sdc_deleted_at``).
"""

from __future__ import annotations

import copy
import functools
import json
import typing as t
from importlib import resources

from tap_atlassian.schemas import openapi

DELETED_AT = "_sdc_deleted_at"
DEPLOYMENTS = ("cloud", "server")
SHORTHANDS: dict[str, dict[str, t.Any]] = {
    "string": {"type": ["string", "null"]},
    "integer": {"type": ["integer", "null"]},
    "number": {"type": ["number", "null"]},
    "boolean": {"type": ["boolean", "null"]},
    "date-time": {"type": ["string", "null"], "format": "date-time"},
    "date": {"type": ["string", "null"], "format": "date"},
    "object": dict(openapi.LOOSE_OBJECT),
    "any": dict(openapi.ANY),
}


def _read(path: str) -> dict[str, t.Any]:
    return json.loads(resources.files(__package__).joinpath(path).read_text("utf-8"))


@functools.cache
def _build(name: str, deployment: str) -> dict[str, t.Any]:
    spec = _read(f"{name}.json")
    if spec.get("type") == "object" and "properties" in spec:  # a full hand-written schema
        out = spec
    else:
        source = spec.get(deployment) or spec.get("source")
        if source is None:
            msg = f"schemas: {name}.json declares no source for {deployment}"
            raise KeyError(msg)
        out = fragment(source)
        props = out.setdefault("properties", {})
        for key in spec.get("omit", ()):
            props.pop(key, None)
        for key, sub in (spec.get("overlay") or {}).items():
            props[key] = fragment(sub)
        out["type"] = "object"
        if spec.get("required"):
            out["required"] = list(spec["required"])
    out.setdefault("properties", {}).setdefault(DELETED_AT, dict(SHORTHANDS["date-time"]))
    out["additionalProperties"] = True
    return out


def fragment(node: t.Any) -> dict[str, t.Any]:  # noqa: ANN401
    """One declared fragment as a JSON schema (see the module docstring)."""
    if isinstance(node, str):
        return copy.deepcopy(SHORTHANDS[node])
    node = dict(node)
    ref = node.pop("$ref", None)
    if ref is not None:
        where, _, target = ref.partition(":")
        if where == "fragment":
            out = fragment(_read(f"fragments/{target}.json"))
        else:
            out = openapi.convert(where, openapi.component(where, target))
        props = out.setdefault("properties", {})
        for key in node.pop("omit", ()):
            props.pop(key, None)
        for key, sub in (node.pop("properties", None) or {}).items():
            props[key] = fragment(sub)
        out.update(node)
        return out
    if isinstance(node.get("properties"), dict):
        node["properties"] = {k: fragment(v) for k, v in node["properties"].items()}
    if isinstance(node.get("items"), (dict, str)):
        node["items"] = fragment(node["items"])
    return node


def schema(name: str, deployment: str = "cloud") -> dict[str, t.Any]:
    """A fresh copy of a stream's schema for one deployment (``cloud`` or ``server``)."""
    return copy.deepcopy(_build(name, deployment))


def names() -> list[str]:
    """Every stream that has a schema file."""
    root = resources.files(__package__)
    return sorted(p.name[:-5] for p in root.iterdir() if p.name.endswith(".json"))
