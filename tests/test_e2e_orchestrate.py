"""The scale-out shards run by a real orchestrator: Dagster (orchestrate/definitions.py).

Dagster runs the three shard jobs of meltano.yml side by side into a throwaway PostgreSQL:
every seeded issue and page lands exactly once, each shard's state sits under its own state
id, and the fake's log shows the shards reading at the same time. Then the software
projects' issues change, and in the next orchestrated run that shard's tap is killed
(SIGKILL) in the middle of its sync: Dagster retries the shard, the retry searches from the
shard's own bookmark (the last STATE its target confirmed), and the warehouse again holds
every issue once, the changed ones up to date.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import signal
import sqlite3
import subprocess
import threading
import time
import typing as t
from pathlib import Path

import pytest

from demo.pipeline import MELTANO, ROOT, meltano, tap_env
from demo.postgres import postgres_env
from tests.fake_atlassian import FakeAtlassian

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("e2e_meltano")]

DAGSTER = ROOT / ".venv-orchestrate" / "bin" / "dagster"
SCHEMA = "orchestrated"
SHARDS = ("tap-atlassian-service-desks", "tap-atlassian-software", "tap-atlassian-confluence")
KILLED = "tap-atlassian-software"


def shard_env(meltano_home: dict[str, str], fake: FakeAtlassian, pg: dict[str, t.Any],
              dagster_home: Path) -> dict[str, str]:
    """The shards read a few streams each, sequentially and in small pages (so a run lasts
    long enough to be killed in the middle), and the target checkpoints every few rows."""
    select = {
        "TAP_ATLASSIAN_SERVICE_DESKS__SELECT": ["jira_issues.*"],
        "TAP_ATLASSIAN_SOFTWARE__SELECT": ["jira_issues.*"],
        "TAP_ATLASSIAN_CONFLUENCE__SELECT": ["confluence_spaces.*", "confluence_pages.*"],
    }
    return {
        **os.environ,
        **meltano_home,
        **tap_env(fake, page_size=2, max_concurrent_requests=1),
        **postgres_env(pg, SCHEMA),
        **{k: json.dumps(v) for k, v in select.items()},
        "TARGET_POSTGRES_BATCH_SIZE_ROWS": "2",
        "DAGSTER_HOME": str(dagster_home),
        "PATH": f"{MELTANO.parent}{os.pathsep}{os.environ.get('PATH', '')}",
        "ATLASSIAN_RETRY_DELAY_SECONDS": "1",
        "MELTANO_SEND_ANONYMOUS_USAGE_STATS": "false",
        "NO_COLOR": "1",
    }


def tap_pids(plugin: str) -> list[int]:
    """Running tap-atlassian processes started by Meltano for one (inherited) extractor
    (Meltano hands each its own config file under ``run/<plugin name>/``)."""
    pids = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            argv = [a.decode(errors="replace") for a in (proc / "cmdline").read_bytes().split(b"\0")]
        except OSError:
            continue
        # argv[0] is the interpreter of the console script's shebang; the script comes next
        if any(a.endswith("/tap-atlassian") for a in argv[:2]) and any(f"/{plugin}/" in a for a in argv):
            pids.append(int(proc.name))
    return pids


def kill_mid_sync(fake: FakeAtlassian, since: int, done: threading.Event, killed: list[float]) -> None:
    """SIGKILL the software shard's tap once it has read a few pages of its issue search."""
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and not done.is_set():
        pages = [e for e in fake.log[since:] if e.path.endswith("/search/jql") and "SWA" in (e.arg("jql") or "")
                 and e.arg("fields") == "*all"]
        pids = tap_pids(KILLED)
        if len(pages) >= 3 and pids:
            for pid in pids:
                os.kill(pid, signal.SIGKILL)
            killed.append(time.time())
            return
        time.sleep(0.05)


def step_events(dagster_home: Path) -> list[tuple[str, str]]:
    """``(step, event type)`` of every run in Dagster's own event store, in order. (The console
    output of ``dagster job execute`` can miss a step worker's events under load: the retry's
    STEP_UP_FOR_RETRY was in the store and not in the output of a loaded run.)"""
    events = []
    for db in sorted((dagster_home / "history" / "runs").glob("*.db")):
        if db.name == "index.db":
            continue
        with contextlib.closing(sqlite3.connect(db)) as conn:
            events += conn.execute(
                "SELECT step_key, dagster_event_type FROM event_logs WHERE dagster_event_type IS NOT NULL"
                " AND step_key IS NOT NULL ORDER BY id").fetchall()
    return events


def run_shards(env: dict[str, str]) -> str:
    """``dagster job execute`` of every shard; the log of the whole run."""
    run = subprocess.run(
        [str(DAGSTER), "job", "execute", "-f", "orchestrate/definitions.py", "-j", "atlassian_shards"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=900, check=False)
    log = run.stdout + run.stderr
    assert run.returncode == 0, log[-4000:]
    return log


def shard_of(entry: t.Any) -> str | None:  # noqa: ANN401
    """Which shard a request of the fake's log came from (by its JQL's projects or product)."""
    jql = entry.arg("jql") or ""
    if entry.product == "confluence":
        return "confluence"
    return "service-desks" if "SDA" in jql else "software" if "SWA" in jql else None


def test_dagster_runs_the_shards_concurrently_and_retries_a_killed_one(
        meltano_home: dict[str, str], postgres: dict[str, t.Any], tmp_path: Path) -> None:
    import psycopg2

    if not DAGSTER.exists():
        pytest.fail("Dagster is not installed: run `make orchestrate-install` (make test does)")

    def query(sql: str) -> list[tuple]:
        with psycopg2.connect(host=postgres["host"], port=postgres["port"], user=postgres["user"],
                              dbname=postgres["database"]) as con, con.cursor() as cur:
            cur.execute(sql)
            return cur.fetchall()

    with FakeAtlassian(flavour="cloud", seed=23, size="small", issues=200, latency_ms=30) as fake:
        dagster_home = tmp_path / "dagster"
        dagster_home.mkdir()
        env = shard_env(meltano_home, fake, postgres, dagster_home)
        env.pop("VIRTUAL_ENV", None)

        # 1. every shard at once
        run_shards(env)
        assert query(f"SELECT count(*), count(DISTINCT id) FROM {SCHEMA}.jira_issues") == \
            [(fake.data.issue_count(), fake.data.issue_count())]
        assert query(f"SELECT count(*), count(DISTINCT id) FROM {SCHEMA}.confluence_pages") == \
            [(len(fake.data.pages()), len(fake.data.pages()))]
        state_ids = meltano(["state", "list"], meltano_home).split()
        for shard in SHARDS:
            assert f"dev:{shard}-to-target-postgres" in state_ids
        spans: dict[str, list[float]] = {}
        for entry in fake.log:
            shard = shard_of(entry)
            if shard:
                spans.setdefault(shard, []).append(entry.time)
        assert set(spans) == {"service-desks", "software", "confluence"}
        first_ends = min(max(times) for times in spans.values())
        last_starts = max(min(times) for times in spans.values())
        assert last_starts < first_ends, "the shards did not read at the same time"

        # 2. the software issues change; that shard is killed mid-sync and retried
        at = (dt.datetime.now(dt.timezone.utc) - dt.timedelta(minutes=2)).strftime("%Y-%m-%dT%H:%M:%S")
        changed = [fake.control.touch("issue", ref.key, at)["id"] for ref in fake.data.issues(["SWA", "SWB"])]
        since = len(fake.log)
        done, killed = threading.Event(), []
        killer = threading.Thread(target=kill_mid_sync, args=(fake, since, done, killed), daemon=True)
        killer.start()
        try:
            log = run_shards(env)
        finally:
            done.set()
            killer.join()
        assert killed, "the software shard finished before it could be killed"
        assert ("tap_atlassian_software_target_postgres", "STEP_UP_FOR_RETRY") in step_events(dagster_home), log[-4000:]
        retried = [e.arg("jql") or "" for e in fake.log[since:] if e.time > killed[0]
                   and e.path.endswith("/search/jql") and "SWA" in (e.arg("jql") or "")]
        assert retried and "updated >=" in retried[0], retried[:2]  # from its bookmark, not from scratch

        assert query(f"SELECT count(*), count(DISTINCT id) FROM {SCHEMA}.jira_issues") == \
            [(fake.data.issue_count(), fake.data.issue_count())]
        fresh = {r[0] for r in query(f"SELECT id FROM {SCHEMA}.jira_issues WHERE updated >= '{at}+00:00'")}
        assert set(changed) <= fresh
