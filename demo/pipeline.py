"""Driving Meltano against the bundled fake site: shared by `make demo` and the e2e tests.

Meltano lives in `.venv-meltano` (see the Makefile); its plugins live in `.meltano/`, or
wherever `MELTANO_SYS_DIR_ROOT` points (the tests use a fresh one per run). The tap is
configured through `TAP_ATLASSIAN_*` variables, the way a user's CI would pass secrets.
"""

from __future__ import annotations

import json
import os
import subprocess
import typing as t
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MELTANO = ROOT / ".venv-meltano" / "bin" / "meltano"


class MeltanoError(RuntimeError):
    """A meltano command failed; the message carries the tail of its log."""


def run_meltano(args: list[str], env: t.Mapping[str, str] | None = None, *,
                stdout: t.IO[str] | None = None, log_level: str = "warning",
                timeout: float = 900) -> subprocess.CompletedProcess:
    """Run `meltano ARGS` in the repository's project; raise MeltanoError when it fails."""
    if not MELTANO.exists():
        msg = f"{MELTANO} is missing: run `make meltano` first"
        raise MeltanoError(msg)
    full_env = {
        **os.environ,
        "MELTANO_SEND_ANONYMOUS_USAGE_STATS": "false",
        "MELTANO_DISABLE_TRACKING": "true",
        "NO_COLOR": "1",
        **(env or {}),
    }
    full_env.pop("VIRTUAL_ENV", None)
    proc = subprocess.run(
        [str(MELTANO), f"--log-level={log_level}", *args],
        cwd=ROOT, env=full_env, text=True, timeout=timeout,
        stdout=stdout if stdout is not None else subprocess.PIPE, stderr=subprocess.PIPE,
        check=False,
    )
    if proc.returncode != 0:
        tail = "\n".join(proc.stderr.strip().splitlines()[-40:])
        msg = f"meltano {' '.join(args)} exited {proc.returncode}:\n{tail}"
        raise MeltanoError(msg)
    return proc


def meltano(args: list[str], env: t.Mapping[str, str] | None = None, *,
            stdout: t.IO[str] | None = None, timeout: float = 900) -> str:
    """Run `meltano ARGS`; return its stdout (unless redirected)."""
    proc = run_meltano(args, env, stdout=stdout, timeout=timeout)
    return proc.stdout if stdout is None else ""


def tap_env(fake: t.Any, **settings: t.Any) -> dict[str, str]:
    """`TAP_ATLASSIAN_*` variables for the fake site's demo login (Cloud: API token)."""
    creds = fake.credentials
    values: dict[str, t.Any] = {"url": fake.url, "search_lag_minutes": 0}
    if "api_token" in creds:
        values.update(auth_scheme="basic", user=creds["user"], api_token=creds["api_token"])
    else:
        values.update(auth_scheme="basic", user=creds["user"], password=creds["password"])
    values.update(settings)
    return {f"TAP_ATLASSIAN_{k.upper()}": v if isinstance(v, str) else json.dumps(v)
            for k, v in values.items()}


class Emitted(t.NamedTuple):
    records: Counter[str]
    distinct: dict[str, int]
    states: list[dict]
    keys: dict[str, list[str]]  # each stream's key properties (its SCHEMA's key_properties)


def count_singer(lines: t.Iterable[str]) -> Emitted:
    """Records and distinct primary keys per stream in a tap's Singer output."""
    keys: dict[str, list[str]] = {}
    seen: dict[str, set[str]] = {}
    records: Counter[str] = Counter()
    states: list[dict] = []
    for line in lines:
        if not line.startswith("{"):
            continue
        msg = json.loads(line)
        kind = msg.get("type")
        if kind == "SCHEMA":
            keys[msg["stream"]] = msg.get("key_properties") or []
            seen.setdefault(msg["stream"], set())
        elif kind == "RECORD":
            stream, rec = msg["stream"], msg["record"]
            records[stream] += 1
            seen.setdefault(stream, set()).add(json.dumps([rec.get(k) for k in keys.get(stream, [])]))
        elif kind == "STATE":
            states.append(msg["value"])
    return Emitted(records, {s: len(v) for s, v in seen.items()}, states, keys)


def duckdb_counts(path: Path, schema: str = "tap_atlassian") -> dict[str, int]:
    """Rows per table in the loaded DuckDB file."""
    import duckdb

    with duckdb.connect(str(path), read_only=True) as db:
        tables = [r[0] for r in db.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = ? ORDER BY 1",
            [schema]).fetchall()]
        return {tb: db.execute(f'SELECT count(*) FROM "{schema}"."{tb}"').fetchone()[0] for tb in tables}
