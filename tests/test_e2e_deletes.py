"""A deletion on the fake site between two `meltano run`s, as DuckDB and PostgreSQL store it.

What the README's "Deletes" section says, checked with the loaders `meltano.yml` configures:
both keep the deleted row (a soft delete): its key, `_sdc_deleted_at` set, and every other
column null (the in-repo DuckDB loader replaces the row by the tombstone record; MeltanoLabs'
target-postgres updates every column from it; its `hard_delete` applies to ACTIVATE_VERSION
only, never to a tombstone). The row count stays; live rows keep `_sdc_deleted_at` null.
"""

from __future__ import annotations

import datetime as dt
import json
import typing as t

import pytest

from demo.pipeline import meltano, tap_env
from tests.fake_atlassian import FakeAtlassian
from demo.postgres import postgres_env

if t.TYPE_CHECKING:
    from pathlib import Path

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("e2e_meltano")]

SCHEMA = "tap_atlassian_deletes"
STREAMS = ["jira_issues", "jira_issue_comments"]


@pytest.fixture
def fake() -> t.Iterator[FakeAtlassian]:
    with FakeAtlassian(flavour="cloud", seed=13, size="small") as site:
        yield site


def pipeline_env(meltano_home: dict[str, str], fake: FakeAtlassian) -> dict[str, str]:
    return {**meltano_home, **tap_env(fake), "TAP_ATLASSIAN__SELECT": json.dumps([f"{s}.*" for s in STREAMS])}


def a_day_later(env: dict[str, str], target: str) -> None:
    """Move the last sweep's time back 25 hours in Meltano's state, so the next run sweeps
    (delete_sweep_hours keeps its default, 24)."""
    state_id = f"dev:tap-atlassian-to-{target}"
    state = json.loads(meltano(["state", "get", state_id], env))
    bookmark = state["singer_state"]["bookmarks"]["jira_issues"]
    swept = dt.datetime.fromisoformat(bookmark["swept_at"].replace("Z", "+00:00"))
    bookmark["swept_at"] = (swept - dt.timedelta(hours=25)).strftime("%Y-%m-%dT%H:%M:%S.000Z")
    meltano(["state", "set", "--force", state_id, json.dumps(state)], env)


def delete_between_runs(env: dict[str, str], fake: FakeAtlassian, target: str,
                        query: t.Callable[[str], list[tuple]]) -> None:
    meltano(["run", "tap-atlassian", target], env)
    issues = query(f'SELECT count(*) FROM {SCHEMA}.jira_issues WHERE "_sdc_deleted_at" IS NULL')[0][0]
    comments = query(f"SELECT id, \"issueId\" FROM {SCHEMA}.jira_issue_comments ORDER BY id")
    assert issues == fake.data.issue_count() and comments
    deleted_issue = fake.data.issues()[3].id
    comment_id, comment_issue = next((c, i) for c, i in comments if i != deleted_issue)
    fake.control.delete("issue", deleted_issue)
    fake.control.delete("comment", comment_id)
    at = dt.datetime.now(dt.timezone.utc) - dt.timedelta(minutes=3)  # out of the current minute
    fake.control.touch("issue", comment_issue, at=at.strftime("%Y-%m-%dT%H:%M:%S"))
    a_day_later(env, target)
    meltano(["run", "tap-atlassian", target], env)

    rows = query(f'SELECT id, "_sdc_deleted_at", fields, key FROM {SCHEMA}.jira_issues')
    assert len(rows) == issues, "a soft delete keeps the row"
    gone = [r for r in rows if r[1] is not None]
    assert [r[0] for r in gone] == [deleted_issue]
    assert gone[0][2] is None and gone[0][3] is None, "the tombstone leaves only the key and _sdc_deleted_at"
    gone_comments = query(f'SELECT id, "issueId" FROM {SCHEMA}.jira_issue_comments WHERE "_sdc_deleted_at" IS NOT NULL')
    assert gone_comments == [(comment_id, comment_issue)]
    total, distinct = query(f"SELECT count(*), count(DISTINCT id) FROM {SCHEMA}.jira_issue_comments")[0]
    assert total == distinct == len(comments)


def test_deletion_lands_in_duckdb(meltano_home: dict[str, str], fake: FakeAtlassian, tmp_path: Path) -> None:
    import duckdb

    db = tmp_path / "deletes.duckdb"
    env = {**pipeline_env(meltano_home, fake), "TARGET_DUCKDB_PATH": str(db), "TARGET_DUCKDB_SCHEMA": SCHEMA}

    def query(sql: str) -> list[tuple]:
        with duckdb.connect(str(db), read_only=True) as con:
            return con.execute(sql).fetchall()

    delete_between_runs(env, fake, "target-duckdb", query)


def test_deletion_lands_in_postgres(meltano_home: dict[str, str], fake: FakeAtlassian,
                                    postgres: dict[str, t.Any]) -> None:  # noqa: F811
    import psycopg2

    env = {**pipeline_env(meltano_home, fake), **postgres_env(postgres, SCHEMA)}

    def query(sql: str) -> list[tuple]:
        with psycopg2.connect(host=postgres["host"], port=postgres["port"], user=postgres["user"],
                              dbname=postgres["database"]) as con, con.cursor() as cur:
            cur.execute(sql)
            return cur.fetchall()

    delete_between_runs(env, fake, "target-postgres", query)
