"""A throwaway PostgreSQL server for the end-to-end tests: initdb + pg_ctl on 127.0.0.1.

Finds the server binaries under /usr/lib/postgresql/*/bin (Debian's layout; `.ci/run`
installs the `postgresql` package when they are missing) or on PATH. PostgreSQL refuses to
run as root, so as root the data directory is given to `nobody` and the server runs as it.
"""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import socket
import subprocess
import tempfile
import typing as t
from pathlib import Path


def find_bindir() -> Path | None:
    """The directory holding initdb and pg_ctl (the newest version), or None."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(p.split("/")[4]))
    if found:
        return Path(found[-1]).parent
    initdb = shutil.which("initdb")
    return Path(initdb).resolve().parent if initdb else None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def temp_postgres() -> t.Iterator[dict[str, t.Any]]:
    """Start a server; yield host, port, user, password, database; stop and delete it after."""
    bindir = find_bindir()
    if bindir is None:
        msg = "no PostgreSQL server binaries (apt-get install postgresql)"
        raise FileNotFoundError(msg)
    root = Path(tempfile.mkdtemp(prefix="tap-atlassian-pg-"))
    data, sock = root / "data", root / "sock"
    sock.mkdir()
    as_user: list[str] = []
    if os.geteuid() == 0:
        shutil.chown(root, "nobody")
        shutil.chown(sock, "nobody")
        os.chmod(root, 0o755)
        as_user = ["runuser", "-u", "nobody", "--"]
    port = free_port()

    def run(*cmd: str) -> None:
        subprocess.run([*as_user, *cmd], check=True, capture_output=True, timeout=120, cwd="/")

    try:
        run(str(bindir / "initdb"), "-D", str(data), "-U", "postgres", "--auth=trust",
            "--no-sync", "-E", "UTF8", "--locale=C")
        run(str(bindir / "pg_ctl"), "-D", str(data), "-l", str(root / "server.log"), "-w",
            "-t", "60", "start", "-o",
            f"-h 127.0.0.1 -p {port} -k {sock} -c fsync=off -c full_page_writes=off")
        try:
            yield {"host": "127.0.0.1", "port": port, "user": "postgres", "password": "unused",
                   "database": "postgres"}
        finally:
            run(str(bindir / "pg_ctl"), "-D", str(data), "-m", "fast", "-w", "stop")
    finally:
        shutil.rmtree(root, ignore_errors=True)


def postgres_env(pg: dict[str, t.Any], schema: str) -> dict[str, str]:
    """target-postgres settings for a server of :func:`temp_postgres`, as Meltano reads them
    from the environment."""
    return {"TARGET_POSTGRES_HOST": pg["host"], "TARGET_POSTGRES_PORT": str(pg["port"]),
            "TARGET_POSTGRES_USER": pg["user"], "TARGET_POSTGRES_PASSWORD": pg["password"],
            "TARGET_POSTGRES_DATABASE": pg["database"], "TARGET_POSTGRES_DEFAULT_TARGET_SCHEMA": schema}
