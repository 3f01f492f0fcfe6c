"""meltano.yml and the tap agree: settings, kinds, secrets, capabilities, commands."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import typing as t
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent


def about() -> dict:
    out = subprocess.run(
        [sys.executable, "-c", "from tap_atlassian.tap import TapAtlassian; TapAtlassian.cli()",
         "--about", "--format=json"],
        capture_output=True, text=True, check=True, timeout=120, cwd=ROOT,
    ).stdout
    return json.loads(out)


@pytest.fixture(scope="module")
def tap_about() -> dict:
    return about()


@pytest.fixture(scope="module")
def project() -> dict:
    return yaml.safe_load((ROOT / "meltano.yml").read_text(encoding="utf-8"))


def plugin(project: dict, kind: str, name: str) -> dict:
    return next(p for p in project["plugins"][kind] if p["name"] == name)


def json_types(schema: dict | str) -> set[str]:
    if not isinstance(schema, dict):  # the SDK writes a nullable anyOf's null as a bare "null"
        return set()
    if "anyOf" in schema:
        return set().union(*(json_types(s) for s in schema["anyOf"])) - {"null"}
    kinds = schema.get("type", [])
    return ({kinds} if isinstance(kinds, str) else set(kinds)) - {"null"}


KIND_FOR_TYPE = {
    "string": {"string", "options", "date_iso8601", "file", "email"},
    "integer": {"integer"},
    "number": {"string"},  # Meltano 4.4 cannot pass a `decimal` from the environment (meltano.yml)
    "boolean": {"boolean"},
    "array": {"array"},
    "object": {"object"},
}


def test_every_tap_setting_is_in_meltano_yml_and_no_other(tap_about: dict, project: dict) -> None:
    tap = plugin(project, "extractors", "tap-atlassian")
    declared = [s["name"] for s in tap["settings"]]
    assert len(declared) == len(set(declared)), "a setting is declared twice in meltano.yml"
    schema = set(tap_about["settings"]["properties"])
    assert sorted(schema - set(declared)) == [], "in the tap's config schema but not in meltano.yml"
    assert sorted(set(declared) - schema) == [], "in meltano.yml but not in the tap's config schema"


def test_kinds_labels_descriptions_and_secrets(tap_about: dict, project: dict) -> None:
    props = tap_about["settings"]["properties"]
    for s in plugin(project, "extractors", "tap-atlassian")["settings"]:
        prop = props[s["name"]]
        assert s.get("label") and s.get("description"), s["name"]
        types = json_types(prop)
        allowed = set().union(*(KIND_FOR_TYPE[x] for x in types)) if types else {"object", "string"}
        assert s["kind"] in allowed, f"{s['name']}: kind {s['kind']} for JSON type {sorted(types)}"
        secret = bool(prop.get("secret") or prop.get("writeOnly"))
        assert bool(s.get("sensitive")) == secret, f"{s['name']}: sensitive must follow the schema"
        if "enum" in prop or any("enum" in o for o in prop.get("anyOf", []) if isinstance(o, dict)):
            enum = prop.get("enum") or next(o["enum"] for o in prop["anyOf"] if isinstance(o, dict) and "enum" in o)
            assert s["kind"] == "options", s["name"]
            assert sorted(o["value"] for o in s["options"]) == sorted(str(v) for v in enum), s["name"]
        if "default" in prop and s["name"] not in {"oauth_settings_location"}:
            assert str(s.get("value")).lower() == str(prop["default"]).lower(), f"{s['name']}: default"


def test_settings_group_validation_covers_each_scheme(project: dict) -> None:
    tap = plugin(project, "extractors", "tap-atlassian")
    names = {s["name"] for s in tap["settings"]}
    groups = tap["settings_group_validation"]
    for group in groups:
        assert set(group) <= names
        assert {"url", "auth_scheme"} <= set(group)
    credentials = [set(g) - {"url", "auth_scheme"} for g in groups]
    for need in ({"user", "api_token"}, {"user", "password"}, {"personal_access_token"},
                 {"oauth_client_id", "oauth_client_secret"}, {"oauth_jwt_cert"},
                 {"sso_app_name", "sso_app_password"}, {"sso_login_url", "sso_exchange_url"}):
        assert any(need <= c for c in credentials), need


def test_capabilities_match_the_tap(tap_about: dict, project: dict) -> None:
    tap = plugin(project, "extractors", "tap-atlassian")
    # `sync` is implied for every Meltano extractor and is not a Meltano capability name
    assert set(tap["capabilities"]) == set(tap_about["capabilities"]) - {"sync"}


def test_commands_are_real_tap_atlassian_auth_subcommands(project: dict) -> None:
    tap = plugin(project, "extractors", "tap-atlassian")
    assert tap["namespace"] == "tap_atlassian" and tap["pip_url"] == "-e ."
    for name, cmd in tap["commands"].items():
        assert cmd["executable"] == "tap-atlassian-auth"
        sub = cmd["args"].split()[0]
        assert name == f"auth-{sub}"
        help_out = subprocess.run(
            [sys.executable, "-m", "tap_atlassian.auth_cli", sub, "--help"],
            capture_output=True, text=True, timeout=60, cwd=ROOT, check=False,
        )
        assert help_out.returncode == 0, help_out.stderr
        assert "--config ENV" in cmd["args"]


def test_loaders_install_from_this_repository_or_pypi(project: dict) -> None:
    duck = plugin(project, "loaders", "target-duckdb")
    path = re.sub(r"^-e\s+", "", duck["pip_url"])
    assert (ROOT / path / "pyproject.toml").is_file()
    pg = plugin(project, "loaders", "target-postgres")
    assert pg["pip_url"].startswith("meltanolabs-target-postgres")


def test_scale_out_jobs_use_inherited_extractors(project: dict) -> None:
    extractors = {p["name"]: p for p in project["plugins"]["extractors"]}
    jobs = {j["name"]: j for j in project["jobs"]}
    for sched in project["schedules"]:
        (task,) = jobs[sched["job"]]["tasks"]
        tap, target = task.split()
        assert extractors[tap]["inherit_from"] == "tap-atlassian"
        assert target in {p["name"] for p in project["plugins"]["loaders"]}
    slices = [set(e["config"].get("project_keys", [])) for e in extractors.values() if "inherit_from" in e]
    assert all(not (a & b) for i, a in enumerate(slices) for b in slices[i + 1:]), "slices overlap"


# meltano.yml's settings of tap-atlassian are generated from the one declaration of each
# setting (tap_atlassian/config.py); the SDK's built-in settings follow, written by hand.
BLOCK_START = "    settings:\n    # Generated from tap_atlassian/config.py by `make readme`: edit the declaration there.\n"
BLOCK_END = "    # Built into every Singer SDK tap\n"


def _scalar(value: t.Any) -> str:  # noqa: ANN401
    """One YAML scalar, quoted only where YAML needs it ('2.0', 'OFF', URLs stay plain)."""
    return yaml.safe_dump(value, default_flow_style=True, width=1000).removesuffix("\n...\n").strip()


def _kind(item: t.Any) -> tuple[str, str]:  # noqa: ANN401
    """Meltano's kind for a declared setting, with the reason when it is not the obvious one."""
    import datetime as dt  # noqa: PLC0415

    if t.get_origin(item.type) is tuple:
        return "array", ""
    if item.spec.allowed:
        return "options", ""
    if item.spec.schema is not None:
        return "object", ""
    if item.type is float:
        return "string", "  # a number: see the note above the settings"
    simple = {str: "string", int: "integer", bool: "boolean", dt.datetime: "date_iso8601"}
    return simple[item.type], ""


def generated_settings() -> str:
    """The YAML of every declared setting, as meltano.yml carries it."""
    from tap_atlassian.config import Settings  # noqa: PLC0415
    from tap_atlassian.settings_schema import declared  # noqa: PLC0415

    out = [BLOCK_START]
    for item in declared(Settings):
        kind, why = _kind(item)
        out.append(f"    - name: {item.name}\n      kind: {kind}{why}\n")
        if item.spec.secret:
            out.append("      sensitive: true\n")
        out.append(f"      label: {_scalar(item.spec.label)}\n")
        default = item.default
        if isinstance(default, float) and default.is_integer():
            default = int(default)
        if isinstance(default, (str, int, float, bool)) and default is not None:
            out.append(f"      value: {_scalar(default)}\n")
        out.append(f"      description: {json.dumps(item.spec.description, ensure_ascii=False)}\n")
        if kind == "options":
            out.append("      options:\n")
            labels = item.spec.option_labels
            out.extend(
                f"      - {{label: {_scalar(labels.get(v, v))}, value: {_scalar(v)}}}\n" for v in item.spec.allowed
            )
    return "".join(out)


def meltano_yml_block(text: str) -> str:
    start = text.index("    settings:\n")
    return text[start : text.index(BLOCK_END, start)]


def test_meltano_yml_settings_are_the_declared_ones() -> None:
    text = (ROOT / "meltano.yml").read_text(encoding="utf-8")
    assert meltano_yml_block(text) == generated_settings(), "meltano.yml drifted from config.py: run `make readme`"


def write_meltano_yml() -> None:
    """Rewrite meltano.yml's generated settings in place (`make readme`)."""
    path = ROOT / "meltano.yml"
    text = path.read_text(encoding="utf-8")
    path.write_text(text.replace(meltano_yml_block(text), generated_settings(), 1), encoding="utf-8")


if __name__ == "__main__":
    write_meltano_yml()
