"""`meltano run` end to end: the fake Cloud site -> tap-atlassian -> DuckDB and PostgreSQL.

Meltano comes from `.venv-meltano` (`make meltano`); its plugins are installed afresh into
a temporary `MELTANO_SYS_DIR_ROOT` (with its own system database, so state is this run's
alone). PostgreSQL is a throwaway server started here (demo/postgres.py). Each pipeline:
a first run loads every record; the fake then changes two issues, adds one, and gives a
page a new version; a second run must upsert them (no duplicate rows) and move the
bookmarks that `meltano state get` shows.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import subprocess
import sys
import tempfile
import typing as t
from pathlib import Path

import pytest

from demo.pipeline import count_singer, duckdb_counts, meltano, run_meltano, tap_env
from demo.postgres import postgres_env
from tests.fake_atlassian import FakeAtlassian

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("e2e_meltano")]

INCREMENTAL = {"jira_issues", "confluence_pages", "jsm_requests"}
SCHEMA = "tap_atlassian"
KEYS: dict[str, list[str]] = {}  # stream -> key properties, from the tap's SCHEMA messages


@pytest.fixture
def fake() -> t.Iterator[FakeAtlassian]:
    with FakeAtlassian(flavour="cloud", seed=11, size="small") as site:
        yield site


def nonempty(counts: dict[str, int]) -> dict[str, int]:
    """Row counts of the tables that hold rows (a loader may create a table from a SCHEMA alone)."""
    return {table: n for table, n in counts.items() if n}


def emitted_by_tap(env: dict[str, str]) -> dict[str, int]:
    """Distinct keys per stream of one full sync by the tap alone, configured from the same
    `TAP_ATLASSIAN_*` variables (`--config ENV`), without Meltano's start-up cost."""
    tap = Path(sys.executable).parent / "tap-atlassian"
    with tempfile.TemporaryFile("w+", encoding="utf-8") as out:
        subprocess.run([str(tap), "--config", "ENV"], stdout=out, stderr=subprocess.DEVNULL,
                       env={**os.environ, **env}, check=True, timeout=300)
        out.seek(0)
        found = count_singer(out)
    emitted = {s: n for s, n in found.distinct.items() if n}  # a stream without records has no table
    assert dict(found.records) == emitted, "a full sync emitted a record twice"
    KEYS.update(found.keys)
    return emitted


def change_some_records(fake: FakeAtlassian, at: str) -> dict[str, t.Any]:
    """Two issues changed, one added, one page re-versioned, all at `at` (UTC)."""
    issues = fake.data.issues()
    changed = [fake.control.touch("issue", issues[i].key, at) for i in (0, len(issues) // 2)]
    added = fake.control.add("issue", issues[-1].project_key, at)
    page = fake.control.touch("page", fake.data.pages()[0].id, at)
    return {"changed": changed, "added": added, "page": page}


def assert_bookmarks(env: dict[str, str], state_id: str, streams: t.Iterable[str],
                     secrets: t.Sequence[str] = ()) -> dict:
    text = meltano(["state", "get", state_id], env)
    assert not any(secret in text for secret in secrets), "a secret reached the state"
    state = json.loads(text)
    bookmarks = state["singer_state"]["bookmarks"]
    for stream in INCREMENTAL & set(streams):
        assert bookmarks[stream].get("replication_key_value"), (stream, bookmarks[stream])
    return bookmarks


def run_pipeline(env: dict[str, str], fake: FakeAtlassian, target: str,
                 rows: t.Callable[[], dict[str, int]], query: t.Callable[[str], list[tuple]]) -> None:
    expected = emitted_by_tap(env)
    assert expected["jira_issues"] == fake.data.issue_count()
    first_run = run_meltano(["run", "tap-atlassian", target], env, log_level="info")
    assert nonempty(rows()) == expected
    assert "jira_issues" in first_run.stderr  # the tap's and the target's logs are here
    secrets = [v for k, v in env.items() if k.endswith(("_API_TOKEN", "_PASSWORD")) and len(v) > 6]
    assert secrets
    for secret in secrets:
        assert secret not in first_run.stderr, "a secret reached Meltano's log"

    state_id = f"dev:tap-atlassian-to-{target}"
    first = assert_bookmarks(env, state_id, expected, secrets)
    at = dt.datetime.now(dt.timezone.utc).replace(microsecond=0) - dt.timedelta(minutes=3)
    changes = change_some_records(fake, at.strftime("%Y-%m-%dT%H:%M:%S"))
    seen_before = len(fake.log)
    meltano(["run", "tap-atlassian", target], env)

    # the second run asked only for the issues changed since the bookmark (the jira_issues
    # search is the one that asks for every field)
    searches = [e for e in fake.log[seen_before:]
                if e.path.endswith("/search/jql") and e.arg("fields") == "*all"]
    assert searches and all("updated >=" in (e.arg("jql") or "") for e in searches), \
        [e.arg("jql") for e in searches]

    after = rows()
    assert after["jira_issues"] == expected["jira_issues"] + 1
    assert after["confluence_pages"] == expected["confluence_pages"]
    for table in expected:
        columns = ", ".join(f'"{k}"' for k in KEYS[table])
        total = query(f'SELECT count(*) FROM "{SCHEMA}"."{table}"')[0][0]
        distinct = query(f'SELECT count(*) FROM (SELECT DISTINCT {columns} FROM "{SCHEMA}"."{table}") keys')[0][0]
        assert total == distinct, f"{table}: the second run duplicated rows"
    since = (at - dt.timedelta(minutes=1)).isoformat()
    touched = query(f"SELECT id FROM \"{SCHEMA}\".jira_issues WHERE updated >= '{since}'")
    touched_ids = {r[0] for r in touched}
    assert {c["id"] for c in changes["changed"]} | {changes["added"]["id"]} <= touched_ids

    second = assert_bookmarks(env, state_id, expected, secrets)
    assert second["jira_issues"]["replication_key_value"] > first["jira_issues"]["replication_key_value"]
    assert second["confluence_pages"]["replication_key_value"] > first["confluence_pages"]["replication_key_value"]


def test_meltano_run_into_duckdb(meltano_home: dict[str, str], fake: FakeAtlassian, tmp_path: Path) -> None:
    import duckdb

    db = tmp_path / "atlassian.duckdb"
    # number settings as text in the environment, as a scheduler passes them (Meltano 4.4
    # cannot pass a `kind: decimal` one: see meltano.yml)
    numbers = tap_env(fake, request_timeout="45.5", delete_sweep_hours="0.5")
    env = {**meltano_home, **numbers, "TARGET_DUCKDB_PATH": str(db), "TARGET_DUCKDB_SCHEMA": SCHEMA}

    def query(sql: str) -> list[tuple]:
        with duckdb.connect(str(db), read_only=True) as con:
            return con.execute(sql).fetchall()

    run_pipeline(env, fake, "target-duckdb", lambda: duckdb_counts(db, SCHEMA), query)


def test_meltano_run_into_postgres(meltano_home: dict[str, str], fake: FakeAtlassian,
                                   postgres: dict[str, t.Any]) -> None:
    import psycopg2

    env = {**meltano_home, **tap_env(fake), **postgres_env(postgres, SCHEMA)}

    def query(sql: str) -> list[tuple]:
        with psycopg2.connect(host=postgres["host"], port=postgres["port"], user=postgres["user"],
                              dbname=postgres["database"]) as con, con.cursor() as cur:
            cur.execute(sql)
            return cur.fetchall()

    def rows() -> dict[str, int]:
        tables = [r[0] for r in query(
            f"SELECT table_name FROM information_schema.tables WHERE table_schema = '{SCHEMA}'")]
        return {tb: query(f'SELECT count(*) FROM "{SCHEMA}"."{tb}"')[0][0] for tb in tables}

    run_pipeline(env, fake, "target-postgres", rows, query)


def test_scale_out_jobs_split_the_site(meltano_home: dict[str, str], fake: FakeAtlassian,
                                       postgres: dict[str, t.Any]) -> None:
    """The meltano.yml jobs: three slices, three state ids, together the whole site."""
    import psycopg2

    schema = "scale_out"
    env = {**meltano_home, **tap_env(fake), **postgres_env(postgres, schema)}
    meltano(["run", "atlassian-service-desks", "atlassian-software", "atlassian-confluence"], env)

    with psycopg2.connect(host=postgres["host"], port=postgres["port"], user=postgres["user"],
                          dbname=postgres["database"]) as con, con.cursor() as cur:
        cur.execute(f"SELECT count(*), count(DISTINCT id) FROM {schema}.jira_issues")
        assert cur.fetchone() == (fake.data.issue_count(),) * 2
        cur.execute(f"SELECT count(*) FROM {schema}.confluence_pages")
        assert cur.fetchone()[0] == len(fake.data.pages())

    searches = [e.arg("jql") or "" for e in fake.log if e.path.endswith("/search/jql")]
    def mentions(q: str, key: str) -> bool:
        return re.search(rf"\b{key}\b", q) is not None

    assert any(mentions(q, "SDA") and not mentions(q, "SWA") for q in searches), searches
    assert any(mentions(q, "SWA") and not mentions(q, "SDA") for q in searches), searches
    state_ids = meltano(["state", "list"], env).split()
    for tap in ("tap-atlassian-service-desks", "tap-atlassian-software", "tap-atlassian-confluence"):
        assert f"dev:{tap}-to-target-postgres" in state_ids


def test_make_demo_script(meltano_home: dict[str, str], tmp_path: Path) -> None:
    """`make demo`'s script end to end (its own fake site; a DuckDB file of its own)."""
    db = tmp_path / "demo.duckdb"
    proc = subprocess.run([sys.executable, "-m", "demo", "--db", str(db)], capture_output=True, text=True,
                          env={**os.environ, **meltano_home}, cwd=Path(__file__).resolve().parent.parent,
                          timeout=600, check=False)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "OK: " in proc.stdout and "MISMATCH" not in proc.stdout
    loaded = duckdb_counts(db, SCHEMA)
    for table in ("jira_issues", "confluence_pages", "jsm_requests"):
        assert loaded[table] > 0
        assert re.search(rf"^{table}\s+{loaded[table]}\s+{loaded[table]}\s+{loaded[table]}\s+ok", proc.stdout, re.M)


def test_auth_commands_run_through_meltano(meltano_home: dict[str, str], tmp_path: Path) -> None:
    """`meltano invoke tap-atlassian:auth-url|auth-status --product jira` (the extra argument
    keeps Meltano from discovering the catalog first, which cannot work before a login)."""
    secret = "client-secret-never-printed"
    env = {**meltano_home, **{f"TAP_ATLASSIAN_{k.upper()}": v for k, v in {
        "url": "https://example.atlassian.net", "auth_scheme": "oauth", "oauth_client_id": "abc123",
        "oauth_client_secret": secret, "oauth_settings_location": str(tmp_path / "OAuthSettings.txt"),
    }.items()}}
    url = run_meltano(["invoke", "tap-atlassian:auth-url", "--product", "jira"], env)
    assert url.stdout.strip().startswith("https://auth.atlassian.com/authorize?")
    assert "client_id=abc123" in url.stdout
    status = run_meltano(["invoke", "tap-atlassian:auth-status", "--product", "jira"], env)
    assert json.loads(status.stdout)["settings_file"] == str(tmp_path / "OAuthSettings.txt")
    for out in (url, status):
        assert secret not in out.stdout + out.stderr


@pytest.mark.parametrize("login", ["pat", "password"])
def test_meltano_run_server_data_center(meltano_home: dict[str, str], tmp_path: Path, login: str) -> None:
    """The README's Server / Data Center quick starts: a personal access token, or user and
    password; `deployment: auto` finds out from serverInfo that the site is not Cloud."""
    with FakeAtlassian(flavour="server", seed=5, size="small", deployment_type="DataCenter") as site:
        if login == "pat":
            settings = {"auth_scheme": "pat", "personal_access_token": site.credentials["personal_access_token"]}
        else:
            settings = {"auth_scheme": "basic", "user": site.credentials["user"],
                        "password": site.credentials["password"]}
        tap = {f"TAP_ATLASSIAN_{k.upper()}": v for k, v in
               {"url": site.url, "search_lag_minutes": "0", **settings}.items()}
        db = tmp_path / "server.duckdb"
        env = {**meltano_home, **tap, "TARGET_DUCKDB_PATH": str(db), "TARGET_DUCKDB_SCHEMA": SCHEMA}
        expected = emitted_by_tap(env)
        meltano(["run", f"--state-id-suffix=server-{login}", "tap-atlassian", "target-duckdb"], env)
        assert nonempty(duckdb_counts(db, SCHEMA)) == expected
        assert expected["jira_issues"] == site.data.issue_count()
        assert any(e.path.startswith("/rest/api/2/search") for e in site.log)  # the Server API
        assert {e.auth for e in site.log if e.auth} == {"pat" if login == "pat" else "basic"}
