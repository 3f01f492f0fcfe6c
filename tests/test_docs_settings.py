"""docs/SETTINGS.md (the settings contract, written by hand) and the settings the tap declares agree.

The contract says more than a schema can (what `auto` detects, how the settings file is
kept), so it is not generated; the full generated table is the README's. What both state
must be the same: each contract setting is declared, with the contract's default, allowed
values, and whether it is required or secret.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from tap_atlassian.config import Settings
from tap_atlassian.settings_schema import json_schema

CONTRACT = Path(__file__).resolve().parent.parent / "docs" / "SETTINGS.md"
# built afresh: a Tap instance in this process adds the SDK's own settings to config.CONFIG_SCHEMA
SCHEMA = json_schema(Settings)
PROPS = SCHEMA["properties"]


def setting_rows() -> list[tuple[list[str], str, str]]:
    """(names, type cell, default text) of each row of the two settings tables."""
    text = CONTRACT.read_text(encoding="utf-8")
    rows = []
    for heading in ("## Where the data is", "## How it logs in"):
        table = text.split(heading, 1)[1].split("\n## ", 1)[0]
        for line in table.splitlines():
            cells = [c.strip() for c in re.split(r"(?<!\\)\|", line)[1:-1]]
            if len(cells) < 3 or not cells[0].startswith("`"):  # noqa: PLR2004
                continue
            names = re.findall(r"`([a-z_]+)`", cells[0])
            # the first table has a default column; the second's text may begin "default `X`"
            said = re.match(r"default `[^`]+`", cells[2])
            default = cells[2] if len(cells) == 4 else said.group(0) if said else ""  # noqa: PLR2004
            rows.append((names, cells[1], default))
    return rows


def literal(default: str) -> str | None:
    """`5` / default `"2.0"` -> 5 / 2.0; None when the default is said in words (`url`, both)."""
    found = re.fullmatch(r"(?:default )?`\"?([^`\"]+)\"?`", default)
    return found.group(1) if found and found.group(1) not in PROPS else None


def test_every_contract_setting_is_declared_as_the_contract_says() -> None:
    rows = setting_rows()
    assert len(rows) >= 40  # noqa: PLR2004  (both tables were read)
    for names, kind, default in rows:
        for name in names:
            assert name in PROPS, f"{name}: in docs/SETTINGS.md, not declared by the tap"
            prop = PROPS[name]
            assert ("secret" in kind) == bool(prop.get("writeOnly")), f"{name}: secret differs"
            assert ("required" in kind) == (name in SCHEMA["required"]), f"{name}: required differs"
            allowed = re.findall(r"`\"?([^`\"]+)\"?` \\\|", kind) + re.findall(r"\\\| `\"?([^`\"]+)\"?`", kind)
            if allowed and prop.get("type") != ["array", "null"]:
                assert set(allowed) == set(prop["enum"]), f"{name}: allowed values differ"
            value = literal(default)
            if value is not None:
                assert json.dumps(prop.get("default")).strip('"') == value, f"{name}: default differs"


def test_settings_beyond_the_contract_are_the_known_additions() -> None:
    """A setting the contract lacks is one the tap added (documented in its description)."""
    contract = {name for names, _, _ in setting_rows() for name in names}
    added = set(PROPS) - contract
    assert added == {
        "page_size",
        "max_retries",
        "retry_initial_wait_seconds",
        "retry_max_wait_seconds",
        "request_timeout",
        "progress_seconds",
    }
    assert all(PROPS[name].get("description") for name in added)
