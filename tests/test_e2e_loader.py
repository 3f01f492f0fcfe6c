"""The demo's DuckDB loader (loaders/target-duckdb-lossless) loses no row.

PyPI's target-duckdb 0.8.0 drops the first row of every batch when that row looks like a
CSV header (every column text, as Atlassian ids are); these streams are shaped to trip
exactly that, over several batches, and the counts in and out must match.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

ROOT = Path(__file__).resolve().parent.parent
LOADER = ROOT / "loaders" / "target-duckdb-lossless"

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("e2e_loader")]


def run_loader(tmp_path: Path, messages: list[dict], **config) -> subprocess.CompletedProcess:
    cfg = tmp_path / "target.json"
    cfg.write_text(json.dumps({"path": str(tmp_path / "out.duckdb"), **config}))
    env = {**os.environ, "PYTHONPATH": str(LOADER)}
    return subprocess.run(
        [sys.executable, "-m", "target_duckdb_lossless", "--config", str(cfg)],
        input="".join(json.dumps(m) + "\n" for m in messages),
        capture_output=True,
        text=True,
        env=env,
        check=True,
        timeout=120,
    )


def query(tmp_path: Path, sql: str) -> list[tuple]:
    with duckdb.connect(str(tmp_path / "out.duckdb"), read_only=True) as db:
        return db.execute(sql).fetchall()


ISSUE_SCHEMA = {
    "type": "SCHEMA",
    "stream": "jira_issues",
    "key_properties": ["id"],
    "schema": {
        "type": "object",
        "properties": {
            "id": {"type": "string"},
            "key": {"type": ["null", "string"]},
            "updated": {"type": ["null", "string"], "format": "date-time"},
            "fields": {"type": ["null", "object"]},
        },
    },
}


def issue(i: int, summary: str = "text") -> dict:
    return {
        "type": "RECORD",
        "stream": "jira_issues",
        "record": {
            "id": str(10000 + i),
            "key": f"DEMO-{i}",
            "updated": f"2024-03-{1 + i % 28:02d}T10:{i % 60:02d}:00.000+0000",
            "fields": {"summary": f"{summary} {i}", "labels": ["a", "b"], "customfield_10016": i / 2},
        },
    }


def test_every_row_of_every_batch_lands(tmp_path: Path) -> None:
    n = 237  # 24 batches of 10, the last one short
    run_loader(tmp_path, [ISSUE_SCHEMA, *(issue(i) for i in range(1, n + 1))], batch_size_rows=10)
    count, distinct, lowest, highest = query(
        tmp_path, "SELECT count(*), count(DISTINCT id), min(id), max(id) FROM main.jira_issues"
    )[0]
    assert (count, distinct) == (n, n)
    assert (lowest, highest) == ("10001", str(10000 + n))
    # the first record of each batch is present (the one target-duckdb 0.8.0 drops)
    firsts = [str(10000 + i) for i in range(1, n + 1, 10)]
    present = {r[0] for r in query(tmp_path, "SELECT id FROM main.jira_issues")}
    assert set(firsts) <= present


def test_second_load_upserts_on_the_key(tmp_path: Path) -> None:
    run_loader(tmp_path, [ISSUE_SCHEMA, *(issue(i) for i in range(1, 51))], batch_size_rows=7)
    # a later incremental run repeats 20 records (changed) and brings 5 new ones,
    # with one key twice in the same batch: the last one wins
    again = [issue(i, "changed") for i in range(31, 56)] + [issue(55, "final")]
    run_loader(tmp_path, [ISSUE_SCHEMA, *again], batch_size_rows=7)
    assert query(tmp_path, "SELECT count(*), count(DISTINCT id) FROM main.jira_issues")[0] == (55, 55)
    changed = query(
        tmp_path, "SELECT count(*) FROM main.jira_issues WHERE fields->>'summary' LIKE 'changed%'"
    )[0][0]
    assert changed == 24
    final = query(tmp_path, "SELECT fields->>'summary' FROM main.jira_issues WHERE id = '10055'")
    assert final == [("final 55",)]


def test_types_nested_values_and_a_new_column(tmp_path: Path) -> None:
    evolved = json.loads(json.dumps(ISSUE_SCHEMA))
    evolved["schema"]["properties"]["priority"] = {"type": ["null", "integer"]}
    late = issue(3)
    late["record"]["priority"] = 2
    run_loader(tmp_path, [ISSUE_SCHEMA, issue(1), issue(2), evolved, late])
    rows = query(
        tmp_path,
        "SELECT id, strftime(updated AT TIME ZONE 'UTC', '%Y-%m-%d %H:%M'), "
        "CAST(fields->'$.customfield_10016' AS DOUBLE), json_array_length(fields->'$.labels'), priority "
        "FROM main.jira_issues ORDER BY id",
    )
    assert rows == [
        ("10001", "2024-03-02 10:01", 0.5, 2, None),
        ("10002", "2024-03-03 10:02", 1.0, 2, None),
        ("10003", "2024-03-04 10:03", 1.5, 2, 2),
    ]


def test_compound_keys_and_state_passes_through(tmp_path: Path) -> None:
    schema = {
        "type": "SCHEMA",
        "stream": "jsm_request_types",
        "key_properties": ["serviceDeskId", "id"],
        "schema": {"type": "object", "properties": {"serviceDeskId": {"type": "string"}, "id": {"type": "string"}, "name": {"type": "string"}}},
    }
    recs = [
        {"type": "RECORD", "stream": "jsm_request_types", "record": {"serviceDeskId": str(d), "id": str(i), "name": f"t{d}-{i}"}}
        for d in (1, 2)
        for i in (1, 2, 3)
    ]
    state = {"type": "STATE", "value": {"bookmarks": {"jsm_request_types": {"done": True}}}}
    result = run_loader(tmp_path, [schema, *recs, state])
    run_loader(tmp_path, [schema, *recs[:2], state])
    assert query(tmp_path, "SELECT count(*) FROM main.jsm_request_types")[0][0] == 6
    emitted = [json.loads(line) for line in result.stdout.splitlines() if line.strip()]
    assert emitted[-1] == state["value"]
