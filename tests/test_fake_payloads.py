"""The fake's answers have the keys and value types of answers recorded from real Atlassian
servers (tests/payloads/, third-party, see its README).

Documented exceptions:
- jira-ruby's search page carries a top-level `isLast` its authors added (Server has none).
- Confluence v1 content: `operations` appears only with `expand=operations` (the recording
  asked for it).
- JSM request examples (Atlassian's documentation, pre-GDPR) show Cloud users with `name` and
  `key` equal to the accountId; Cloud users today carry `accountId` only, and so does the fake
  (the Server flavour has `name`/`key` and no `accountId`).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.fake_atlassian import FakeAtlassian

PAYLOADS = Path(__file__).parent / "payloads"


def shape_diff(real: Any, ours: Any, where: str = "") -> tuple[list[str], list[str]]:
    """(keys of `real` missing from `ours`, value-type mismatches), recursively; lists are
    compared by their first items, a null on either side matches anything."""
    if real is None or ours is None:
        return [], []
    if isinstance(real, dict):
        if not isinstance(ours, dict):
            return [], [f"{where}: object vs {type(ours).__name__}"]
        missing, mismatched = [], []
        for k, v in real.items():
            if k not in ours:
                missing.append(f"{where}.{k}")
                continue
            m, t = shape_diff(v, ours[k], f"{where}.{k}")
            missing += m
            mismatched += t
        return missing, mismatched
    if isinstance(real, list):
        if not isinstance(ours, list):
            return [], [f"{where}: array vs {type(ours).__name__}"]
        return shape_diff(real[0], ours[0], where + "[]") if real and ours else ([], [])
    kinds = (bool, (int, float), str)
    for kind in kinds:
        if isinstance(real, kind):
            if not isinstance(ours, kind) or (kind is not bool and isinstance(ours, bool)):
                return [], [f"{where}: {type(real).__name__} vs {type(ours).__name__}"]
            break
    return [], []


def load(name: str) -> Any:
    return json.loads((PAYLOADS / name).read_text())


CASES = [
    ("server", "jira-ruby/jira-server-sdk-v2-search-11-issues.json", "{jira}/rest/api/2/search?jql=project=SDA&maxResults=11",
     [".isLast"]),
    ("server", "go-atlassian/confluence-cloud-v1-space-list-GET.json", "{confluence}/rest/api/space", []),
    ("cloud", "go-atlassian/confluence-cloud-v1-space-list-GET.json", "{confluence}/rest/api/space", []),
    ("cloud", "go-atlassian/confluence-cloud-v1-content-list-GET.json",
     "{confluence}/rest/api/content/search?cql=type%3Dpage&expand=operations", []),
    ("cloud", "go-atlassian/jsm-servicedesk-list-GET.ATLASSIAN-DOC-EXAMPLE.json",
     "{jira}/rest/servicedeskapi/servicedesk?start=1&limit=1", []),
    ("cloud", "go-atlassian/jsm-requesttype-list-GET.ATLASSIAN-DOC-EXAMPLE.json",
     "{jira}/rest/servicedeskapi/servicedesk/1/requesttype?start=1&limit=1", []),
    ("cloud", "go-atlassian/jsm-request-list-GET.ATLASSIAN-DOC-EXAMPLE.json",
     "{jira}/rest/servicedeskapi/request?start=1&limit=1", [".values[].reporter.name", ".values[].reporter.key"]),
    ("cloud", "go-atlassian/jsm-request-single-GET.ATLASSIAN-DOC-EXAMPLE.json", "{jira}/rest/servicedeskapi/request/SDA-1",
     [".reporter.name", ".reporter.key"]),
    ("cloud", "go-atlassian/jsm-cloud-servicedeskapi-info-GET.json", "{jira}/rest/servicedeskapi/info", []),
]


@pytest.mark.parametrize(("flavour", "payload", "url", "allowed_missing"), CASES,
                         ids=[f"{c[0]}-{c[1].split('/')[1]}" for c in CASES])
def test_same_keys_and_types_as_recorded(fake_factory, flavour: str, payload: str, url: str,  # noqa: ANN001
                                         allowed_missing: list[str]) -> None:
    fake: FakeAtlassian = fake_factory(flavour=flavour)
    c = fake.credentials
    r = requests.get(url.format(jira=fake.jira_url, confluence=fake.confluence_url),
                     auth=(c["user"], c.get("api_token") or c["password"]), timeout=10)
    assert r.status_code == 200, r.text[:200]
    missing, mismatched = shape_diff(load(payload), r.json())
    assert sorted(set(missing) - set(allowed_missing)) == []
    assert mismatched == []


def test_shape_diff_catches_differences() -> None:
    assert shape_diff({"a": 1, "b": {"c": "x"}}, {"a": "1", "b": {}}) == ([".b.c"], [".a: int vs str"])
    assert shape_diff([{"a": True}], [{"a": 1}]) == ([], ["[].a: bool vs int"])
    assert shape_diff({"a": None}, {"a": {"x": 1}}) == ([], [])
