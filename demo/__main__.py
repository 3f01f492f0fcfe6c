"""`make demo`: a fake Atlassian Cloud site -> `meltano run` -> output/atlassian.duckdb.

1. installs the Meltano plugins (the tap from this checkout, the DuckDB loader);
2. starts the bundled fake site (tests/fake_atlassian) on 127.0.0.1;
3. `meltano run --full-refresh tap-atlassian target-duckdb`;
4. runs the tap once more on its own (`meltano invoke`) to count the records it emits;
5. prints rows per table and a sample query, and fails unless rows loaded == records emitted.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

from demo.pipeline import ROOT, MeltanoError, count_singer, duckdb_counts, meltano, tap_env

DEFAULT_DB = ROOT / "output" / "atlassian.duckdb"
SCHEMA = "tap_atlassian"
# Tables the demo site always fills: an empty one fails the demo (a stream reading nothing).
EXPECTED_TABLES = ("jira_projects", "jira_project_versions", "jira_project_components", "jira_issue_types",
                   "jira_statuses", "jira_priorities", "jira_resolutions", "jira_users", "jira_groups",
                   "jira_issue_worklogs", "jira_boards", "jira_sprints", "jira_sprint_issues")

SAMPLE = f"""
SELECT fields->'$.project'->>'key' AS project,
       fields->'$.status'->>'name' AS status,
       count(*) AS issues,
       strftime(max(updated) AT TIME ZONE 'UTC', '%Y-%m-%d %H:%M UTC') AS last_updated
FROM {SCHEMA}.jira_issues
GROUP BY ALL
ORDER BY project, issues DESC
LIMIT 12
"""


def shown(path: Path) -> str:
    return str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else str(path)


def step(text: str) -> None:
    print(f"\n== {text}", flush=True)


def table(rows: list[tuple], header: tuple) -> None:
    rows = [tuple("" if v is None else str(v) for v in r) for r in rows]
    widths = [max(len(str(h)), *(len(r[i]) for r in rows)) if rows else len(str(h))
              for i, h in enumerate(header)]
    print("  ".join(str(h).ljust(w) for h, w in zip(header, widths)))
    print("  ".join("-" * w for w in widths))
    for r in rows:
        print("  ".join(v.ljust(w) for v, w in zip(r, widths)))


def sample_query(path: Path) -> None:
    import duckdb

    with duckdb.connect(str(path), read_only=True) as db:
        try:
            cur = db.execute(SAMPLE)
        except duckdb.Error as exc:  # the sample needs jira_issues; say so, do not fail the demo
            print(f"(sample query skipped: {str(exc).splitlines()[0]})")
            return
        header = tuple(d[0] for d in cur.description)
        print(SAMPLE.strip())
        table(cur.fetchall(), header)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m demo", description=__doc__.split("\n")[0])
    parser.add_argument("--db", type=Path, default=DEFAULT_DB, help=f"the DuckDB file (default {DEFAULT_DB})")
    db = parser.parse_args(argv).db.resolve()

    from tests.fake_atlassian import FakeAtlassian

    started = time.monotonic()
    db.parent.mkdir(parents=True, exist_ok=True)
    for leftover in (db, db.with_suffix(".duckdb.wal")):
        leftover.unlink(missing_ok=True)

    step("installing the Meltano plugins (tap-atlassian from this checkout, target-duckdb)")
    meltano(["install", "tap-atlassian", "target-duckdb"])

    with FakeAtlassian(flavour="cloud", seed=7, size="small") as fake:
        env = {**tap_env(fake), "TARGET_DUCKDB_PATH": str(db), "TARGET_DUCKDB_SCHEMA": SCHEMA}
        step(f"fake Atlassian Cloud site on {fake.url} (user {fake.credentials['user']}, API token login)")
        step("meltano run --full-refresh tap-atlassian target-duckdb")
        meltano(["run", "--full-refresh", "--state-id-suffix=demo", "tap-atlassian", "target-duckdb"], env)
        step("counting what the tap emits (meltano invoke tap-atlassian)")
        with tempfile.TemporaryFile("w+", encoding="utf-8") as out:
            meltano(["invoke", "tap-atlassian"], env, stdout=out)
            out.seek(0)
            emitted = count_singer(out)

    loaded = duckdb_counts(db, SCHEMA)
    step(f"rows per table in {shown(db)} (schema {SCHEMA})")
    streams = sorted(set(emitted.distinct) | set(loaded) | set(EXPECTED_TABLES))
    rows, bad = [], []
    for s in streams:
        same = loaded.get(s, 0) == emitted.distinct.get(s, 0) == emitted.records.get(s, 0)
        ok = same and (loaded.get(s, 0) > 0 or s not in EXPECTED_TABLES)
        rows.append((s, emitted.records.get(s, 0), emitted.distinct.get(s, 0), loaded.get(s, 0),
                     "ok" if ok else "MISMATCH" if not same else "EMPTY"))
        if not ok:
            bad.append(s)
    table(rows, ("table", "records emitted", "distinct keys", "rows loaded", "check"))

    step("a sample query")
    sample_query(db)

    total = sum(loaded.values())
    if bad:
        print(f"\nFAILED: rows loaded differ from records emitted, or an expected table is empty: "
              f"{', '.join(bad)}", file=sys.stderr)
        return 1
    print(f"\nOK: {total} rows in {len(loaded)} tables, every record emitted was loaded "
          f"({time.monotonic() - started:.0f} s). Query it: "
          f".venv/bin/python -c \"import duckdb; print(duckdb.connect('{shown(db)}')"
          f".sql('SELECT count(*) FROM {SCHEMA}.jira_issues'))\"")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except MeltanoError as exc:
        print(f"\nFAILED: {exc}", file=sys.stderr)
        sys.exit(1)
