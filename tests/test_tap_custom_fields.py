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


# ----------------------------------------------------------------- custom_field_names
def named_catalog(fake, **overrides):  # noqa: ANN001, ANN201
    config = fake_config(fake, products=["jira_service_desk"], include_custom_fields=True,
                         custom_field_names=True, **overrides)
    return config, select(discover(config), ["jira_issues", "jira_fields"])


def fields_schema(catalog: dict) -> dict:
    entry = next(s for s in catalog["streams"] if s["tap_stream_id"] == "jira_issues")
    return entry["schema"]


@pytest.mark.parametrize("flavour", ["cloud", "server"])
def test_custom_field_names(fake_factory, flavour: str) -> None:  # noqa: ANN001
    fake = fake_factory(flavour=flavour, seed=7, size="small")
    config, catalog = named_catalog(fake)
    schema = fields_schema(catalog)
    props = schema["properties"]["fields"]["properties"]
    assert not [k for k in props if k.startswith("customfield_")], "ids left as columns"
    by_id = {}
    for num, name, custom, typ, items in CUSTOM_FIELDS:
        column = next(k for k, v in props.items() if v.get("description") == f"customfield_{num}: {name}")
        by_id[f"customfield_{num}"] = column
        assert set(props[column]["type"]) == expected_types(typ, items, custom), name
        if typ == "datetime":
            assert props[column]["format"] == "date-time"
    assert by_id["customfield_10016"] == "story_point_estimate"
    assert by_id["customfield_10023"] == "go_live_date"
    assert all(c.isidentifier() and c == c.lower() for c in by_id.values())
    assert len(set(by_id.values())) == len(by_id)

    run = run_tap(config, catalog=catalog)
    assert run.returncode == 0, run.last_stderr_line
    assert "renamed" not in run.stderr
    validator = jsonschema.Draft7Validator(schema, format_checker=jsonschema.FormatChecker())
    issues = run.records["jira_issues"]
    for record in issues:
        assert not [k for k in record["fields"] if k.startswith("customfield_")]
        errors = [f"{'.'.join(map(str, e.path))}: {e.message}" for e in validator.iter_errors(record)]
        assert not errors, errors[:3]
    for num, name, *_ in CUSTOM_FIELDS:
        assert any(r["fields"].get(by_id[f"customfield_{num}"]) is not None for r in issues), name
    assert all(r["fields"]["outage_started"].endswith("Z") for r in issues if r["fields"].get("outage_started"))
    columns = {r["id"]: r["column"] for r in run.records["jira_fields"]}
    assert {k: columns[k] for k in by_id} == by_id, "jira_fields holds the mapping"
    assert columns["summary"] == "summary"


def test_renamed_field_keeps_its_column_until_rediscovery(fake_factory) -> None:  # noqa: ANN001
    fake = fake_factory(flavour="cloud", seed=7, size="small")
    config, catalog = named_catalog(fake)
    fake.control.rename_field("customfield_10016", "Story points")
    run = run_tap(config, catalog=catalog)
    assert run.returncode == 0, run.last_stderr_line
    assert all("story_points" not in r["fields"] for r in run.records["jira_issues"])
    assert any(r["fields"].get("story_point_estimate") is not None for r in run.records["jira_issues"])
    warnings = [line for line in run.stderr.splitlines() if "WARNING" in line and "customfield_10016" in line]
    assert len(warnings) == 1, run.stderr[-2000:]
    assert "'Story point estimate'" in warnings[0] and "'Story points'" in warnings[0]
    assert "story_point_estimate" in warnings[0]
    fields = {r["id"]: r for r in run.records["jira_fields"]}
    assert fields["customfield_10016"]["column"] == "story_point_estimate"
    assert fields["customfield_10016"]["name"] == "Story points"

    _, catalog = named_catalog(fake)
    props = fields_schema(catalog)["properties"]["fields"]["properties"]
    assert props["story_points"]["description"] == "customfield_10016: Story points"
    assert "story_point_estimate" not in props
    run = run_tap(config, catalog=catalog)
    assert run.returncode == 0, run.last_stderr_line
    assert "renamed" not in run.stderr
    assert any(r["fields"].get("story_points") is not None for r in run.records["jira_issues"])


def test_two_fields_with_one_name_get_a_deterministic_suffix(fake_factory) -> None:  # noqa: ANN001
    fake = fake_factory(flavour="server", seed=7, size="small")
    fake.control.rename_field("customfield_10040", "Customer tier")  # as customfield_10020
    fake.control.rename_field("customfield_10041", "Summary")  # a system field's id
    config, catalog = named_catalog(fake)
    props = fields_schema(catalog)["properties"]["fields"]["properties"]
    assert props["customer_tier"]["description"] == "customfield_10020: Customer tier"
    assert props["customer_tier_10040"]["description"] == "customfield_10040: Customer tier"
    assert props["summary_10041"]["description"] == "customfield_10041: Summary"
    assert props["summary"]["type"] == ["string", "null"]
    _, again = named_catalog(fake)
    assert fields_schema(again) == fields_schema(catalog), "names are deterministic"
    run = run_tap(config, catalog=catalog)
    assert run.returncode == 0, run.last_stderr_line
    issues = run.records["jira_issues"]
    assert all(isinstance(r["fields"]["summary"], str) for r in issues)
    assert any(r["fields"].get("customer_tier_10040") is not None for r in issues)
