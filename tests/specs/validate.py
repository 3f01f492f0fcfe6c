"""Validate JSON answers against the vendored Atlassian OpenAPI documents.

The documents live in the package (``tap_atlassian/schemas/specs/``, with ``SOURCES.txt``), where
the tap generates its stream schemas from them; this module reads those same files.

`SpecChecker(name).errors(instance, path, method)` returns schema violations of the 200 answer
of that operation; `undeclared(...)` lists keys the document does not declare (the documents
rarely say `additionalProperties: false`, so plain validation alone would let invented keys
through).
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from openapi_schema_validator import OAS30Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT4

from tap_atlassian.schemas.openapi import document


def _pointer(*parts: str) -> str:
    return "/".join(p.replace("~", "~0").replace("/", "~1") for p in parts)


class SpecChecker:
    def __init__(self, name: str) -> None:
        self.name = name
        self.doc = _load(name)
        self.uri = f"urn:atlassian:{name}"
        self.registry = Registry().with_resource(self.uri, Resource.from_contents(self.doc, default_specification=DRAFT4))
        self._resolver = self.registry.resolver(base_uri=self.uri)
        self._validators: dict[str, OAS30Validator] = {}

    def response_schema(self, path: str, method: str = "get", status: str = "200") -> dict:
        return self.doc["paths"][path][method]["responses"][status]["content"]["application/json"]["schema"]

    def validator(self, path: str, method: str = "get", status: str = "200") -> OAS30Validator:
        key = f"{method} {path} {status}"
        if key not in self._validators:
            self.response_schema(path, method, status)  # KeyError when the document has no such answer
            ref = f"{self.uri}#/" + _pointer("paths", path, method, "responses", status, "content",
                                             "application/json", "schema")
            self._validators[key] = OAS30Validator({"$ref": ref}, registry=self.registry)
        return self._validators[key]

    def errors(self, instance: Any, path: str, method: str = "get", status: str = "200") -> list[str]:
        return [f"{'/'.join(map(str, e.absolute_path))}: {e.message}"
                for e in self.validator(path, method, status).iter_errors(instance)]

    # ----------------------------------------------------------------- undeclared keys
    def resolve(self, schema: dict) -> dict:
        while "$ref" in schema:
            schema = self._resolver.lookup(schema["$ref"]).contents
        return schema

    def undeclared(self, instance: Any, path: str, method: str = "get", status: str = "200") -> set[str]:
        out: set[str] = set()
        self._walk(instance, self.response_schema(path, method, status), "", out)
        return out

    def _props(self, schema: dict) -> tuple[dict, Any, bool]:
        """(properties, additionalProperties, declared-anything) of a schema, allOf merged."""
        schema = self.resolve(schema)
        props = dict(schema.get("properties", {}))
        extra = schema.get("additionalProperties")
        known = "properties" in schema or extra is not None
        for part in schema.get("allOf", []):
            p, e, k = self._props(part)
            for name, sub in p.items():
                props[name] = {"allOf": [props[name], sub]} if name in props else sub
            extra = extra if extra is not None else e
            known = known or k
        return props, extra, known

    def _walk(self, inst: Any, schema: dict, where: str, out: set[str]) -> None:
        schema = self.resolve(schema)
        if isinstance(inst, list) and "items" in schema:
            for item in inst:
                self._walk(item, schema["items"], where + "[]", out)
            return
        if not isinstance(inst, dict):
            return
        props, extra, known = self._props(schema)
        if not known:
            return  # a free-form object
        for k, v in inst.items():
            if k in props:
                self._walk(v, props[k], f"{where}.{k}", out)
            elif isinstance(extra, dict):
                self._walk(v, extra, f"{where}.*", out)
            elif extra is not True:
                out.add(f"{where}.{k}")


def _load(name: str) -> dict:
    return document(name)


@lru_cache(maxsize=None)
def checker(name: str) -> SpecChecker:
    return SpecChecker(name)


def assert_conforms(spec: str, body: Any, path: str, method: str = "get") -> None:
    """Assert that ``body`` is what the ``spec`` document (jira, confluence, jsm, ...) says
    ``method path`` answers, and that it carries no key the document does not declare."""
    ch = checker(spec)
    errors = ch.errors(body, path, method)
    assert not errors, f"{method} {path}: {errors[:5]}"
    extra = ch.undeclared(body, path, method)
    assert not extra, f"{method} {path}: keys the document does not declare: {sorted(extra)[:10]}"
