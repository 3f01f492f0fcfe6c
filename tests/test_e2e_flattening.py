"""`meltano run` with Meltano's flattening (`flattening_enabled: true`, `flattening_max_depth: 1`)
into DuckDB and PostgreSQL: every declared nested property becomes a typed column.

The schemas declare every documented property (issue 11), so `fields__summary`,
`fields__status`, `fields__created`... exist and are filled for every seeded issue, custom
fields land under their names (`custom_field_names`), and every column the tap declares
`date-time` is a timestamp column in both databases (Jira's `-0700` offsets are re-written
as RFC 3339 UTC, so the loaders can type them).
"""

from __future__ import annotations

import typing as t
from pathlib import Path

import pytest

from demo.pipeline import meltano, tap_env
from tests.fake_atlassian import FakeAtlassian
from demo.postgres import postgres_env
from tests.tapdriver import discover, fake_config

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("e2e_meltano")]

SCHEMA = "flat"
ISSUE_COLUMNS = ("fields__summary", "fields__status", "fields__created", "fields__updated",
                 "fields__issuetype", "fields__project", "fields__priority", "fields__reporter",
                 "fields__story_point_estimate")
TIMESTAMP_TYPES = {"TIMESTAMP WITH TIME ZONE", "TIMESTAMP", "timestamp with time zone",
                   "timestamp without time zone"}


@pytest.fixture(scope="module")
def site() -> t.Iterator[FakeAtlassian]:
    with FakeAtlassian(flavour="cloud", seed=11, size="small") as fake:
        yield fake


def settings(fake: FakeAtlassian) -> dict[str, str]:
    return tap_env(fake, flattening_enabled=True, flattening_max_depth=1,
                   include_custom_fields=True, custom_field_names=True)


def date_time_columns(fake: FakeAtlassian) -> dict[str, set[str]]:
    """Per stream, the columns flattening to depth 1 makes of the ``date-time`` properties."""
    config = fake_config(fake, include_custom_fields=True, custom_field_names=True)
    out: dict[str, set[str]] = {}
    for entry in discover(config)["streams"]:
        columns = out.setdefault(entry["tap_stream_id"], set())
        for key, prop in entry["schema"]["properties"].items():
            if prop.get("format") == "date-time":
                columns.add(key)
            for sub, inner in (prop.get("properties") or {}).items():
                if inner.get("format") == "date-time":
                    columns.add(f"{key}__{sub}")
    return out


def check(fake: FakeAtlassian, query: t.Callable[[str], list[tuple]]) -> None:
    types = {}
    for table, column, kind in query("SELECT table_name, column_name, data_type FROM information_schema.columns "
                                     f"WHERE table_schema = '{SCHEMA}'"):
        types[(table, column)] = kind
    for column in ISSUE_COLUMNS:
        assert ("jira_issues", column) in types, f"no column {column}"
    cols = ", ".join(ISSUE_COLUMNS)
    rows = {r[0]: r[1:] for r in query(f'SELECT id, {cols} FROM "{SCHEMA}".jira_issues')}
    seeded = {str(i.id) for i in fake.data.issues()}
    assert seeded <= set(rows), "issues missing"
    empty = [(i, c) for i in seeded for c, v in zip(ISSUE_COLUMNS, rows[i]) if v is None
             and c != "fields__story_point_estimate"]
    assert not empty, empty[:5]
    assert any(rows[i][-1] is not None for i in seeded), "no story point estimate landed"

    loaded = {table for table, _ in types}
    wrong = []
    checked = 0
    for table, columns in date_time_columns(fake).items():
        if table not in loaded:
            continue
        for column in columns:
            kind = types.get((table, column))
            if kind not in TIMESTAMP_TYPES:
                wrong.append(f"{table}.{column}: {kind}")
            checked += 1
    assert not wrong, wrong
    assert checked >= 40, checked
    assert types[("jira_issues", "fields__created")] in TIMESTAMP_TYPES
    later = query(f'SELECT count(*) FROM "{SCHEMA}".jira_issues WHERE fields__updated < fields__created')
    assert later == [(0,)], "times compared as text or shifted"
    shown = query(readme_query())
    assert shown and all(row[2] for row in shown), "the README's query"
    assert {row[0] for row in shown} <= {i.key for i in fake.data.issues()}


def readme_query() -> str:
    """The README's example on typed, named columns, against this test's schema."""
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")
    section = readme.split("**Typed, named columns.**", 1)[1]
    sql = section.split("```sql", 1)[1].split("```", 1)[0]
    return sql.replace("tap_atlassian.jira_issues", f'"{SCHEMA}".jira_issues').strip().rstrip(";")


def into_duckdb(meltano_home: dict[str, str], site: FakeAtlassian, db: Path) -> None:
    import duckdb

    env = {**meltano_home, **settings(site), "TARGET_DUCKDB_PATH": str(db), "TARGET_DUCKDB_SCHEMA": SCHEMA}
    meltano(["run", f"--state-id-suffix=flat-{site.flavour}", "tap-atlassian", "target-duckdb"], env)

    def query(sql: str) -> list[tuple]:
        with duckdb.connect(str(db), read_only=True) as con:
            return con.execute(sql).fetchall()

    check(site, query)


def test_flattened_into_duckdb(meltano_home: dict[str, str], site: FakeAtlassian, tmp_path: Path) -> None:
    into_duckdb(meltano_home, site, tmp_path / "warehouse.duckdb")


def test_flattened_server_data_center_into_duckdb(meltano_home: dict[str, str], tmp_path: Path) -> None:
    """Server/DC: its own columns (v1 content, v2 issues with text descriptions), typed alike."""
    with FakeAtlassian(flavour="server", seed=11, size="small") as server:
        into_duckdb(meltano_home, server, tmp_path / "server.duckdb")


def test_flattened_into_postgres(meltano_home: dict[str, str], site: FakeAtlassian,
                                 postgres: dict[str, t.Any]) -> None:  # noqa: F811
    import psycopg2

    env = {**meltano_home, **settings(site), **postgres_env(postgres, SCHEMA)}
    meltano(["run", "--state-id-suffix=flat", "tap-atlassian", "target-postgres"], env)

    def query(sql: str) -> list[tuple]:
        with psycopg2.connect(host=postgres["host"], port=postgres["port"], user=postgres["user"],
                              dbname=postgres["database"]) as con, con.cursor() as cur:
            cur.execute(sql)
            return cur.fetchall()

    check(site, query)
