"""include_custom_fields: typed from /field metadata and valued; absent when off; no rediscovery."""

from __future__ import annotations

import jsonschema
import pytest

from tests.fake_atlassian.jira_objects import CUSTOM_FIELDS
from tests.tapdriver import discover, fake_config, run_tap, select

OBJECT_TYPES = {"option", "user", "group", "project", "version", "option-with-child", "sd-customerrequesttype"}


def expected_types(typ: str, items: str | None, custom: str) -> set[str]:
    """The JSON types a custom field's values may take, from Jira's field metadata."""
    if custom.endswith(":textarea"):
        return {"object", "array", "string", "number", "boolean", "null"}  # ADF (v3) or text (v2)
    if typ == "array":
        return {"array", "null"}
    if typ in OBJECT_TYPES:
        return {"object", "null"}
    return {{"datetime": "string", "date": "string"}.get(typ, typ), "null"}


def issues_catalog(fake, **overrides):  # noqa: ANN001, ANN201
    config = fake_config(fake, products=["jira_service_desk"], **overrides)
    return config, select(discover(config), ["jira_issues"])


@pytest.mark.parametrize("flavour", ["cloud", "server"])
def test_custom_fields_typed_and_valued(fake_factory, flavour: str) -> None:  # noqa: ANN001
    fake = fake_factory(flavour=flavour, seed=7, size="small")
    config, catalog = issues_catalog(fake, include_custom_fields=True)
    entry = next(s for s in catalog["streams"] if s["tap_stream_id"] == "jira_issues")
    props = entry["schema"]["properties"]["fields"]["properties"]
    for num, name, custom, typ, items in CUSTOM_FIELDS:
        field = props[f"customfield_{num}"]
        assert set(field.get("type", [])) == expected_types(typ, items, custom), name
        if typ == "datetime":
            assert field["format"] == "date-time"
        if typ == "date":
            assert field["format"] == "date"
        if typ == "array" and items in OBJECT_TYPES:
            assert field["items"]["type"] == ["object"], name
        if typ == "array" and items == "string":
            assert field["items"]["type"] == ["string"], name

    fake.log.clear()
    run = run_tap(config, catalog=catalog)
    assert run.returncode == 0, run.last_stderr_line
    assert not [e for e in fake.log if e.path.endswith("/field")], "a sync with a catalog rediscovered"
    records = run.records["jira_issues"]
    validator = jsonschema.Draft7Validator(entry["schema"], format_checker=jsonschema.FormatChecker())
    for record in records:
        errors = [f"{'.'.join(map(str, e.path))}: {e.message}" for e in validator.iter_errors(record)]
        assert not errors, errors[:3]
    for num, name, _custom, typ, _items in CUSTOM_FIELDS:
        values = [r["fields"].get(f"customfield_{num}") for r in records]
        assert any(v is not None for v in values), f"{name} never has a value"
        if typ == "datetime":
            assert all(v.endswith("Z") for v in values if v), "datetime values are RFC 3339 UTC"


@pytest.mark.parametrize("flavour", ["cloud", "server"])
def test_custom_fields_absent_when_off(fake_factory, flavour: str) -> None:  # noqa: ANN001
    fake = fake_factory(flavour=flavour, seed=7, size="small")
    config, catalog = issues_catalog(fake)
    entry = next(s for s in catalog["streams"] if s["tap_stream_id"] == "jira_issues")
    props = entry["schema"]["properties"]["fields"].get("properties", {})
    assert not [k for k in props if k.startswith("customfield_")]
    assert not [e for e in fake.log if e.path.endswith("/field")], "discovery read /field while off"
    run = run_tap(config, catalog=catalog)
    assert run.returncode == 0, run.last_stderr_line
    records = run.records["jira_issues"]
    assert records and not [k for r in records for k in r["fields"] if k.startswith("customfield_")]
    assert all("summary" in r["fields"] and "status" in r["fields"] for r in records)


def test_discovery_error_is_one_clear_line(fake_factory) -> None:  # noqa: ANN001
    fake = fake_factory(flavour="cloud", seed=7, size="small")
    fake.control.inject(r"/rest/api/3/field", "403", times=None)
    config = fake_config(fake, include_custom_fields=True)
    run = run_tap(config, args=["--discover"])
    assert run.returncode != 0
    line = run.last_stderr_line
    assert "discovery of jira_issues failed" in line and "403" in line and "/rest/api/3/field" in line
    assert "Traceback" not in run.stderr
