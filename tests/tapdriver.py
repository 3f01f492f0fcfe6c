"""Run tap-atlassian as a subprocess and parse what it writes (for every test module).

    run = run_tap(config, catalog=..., state=...)
    run.returncode, run.stderr, run.records["jira_issues"], run.states, run.last_state

``stop_after_records=N`` kills the tap (SIGKILL) once N RECORD lines have been read: the
messages read so far are returned, as a target would have seen them.
``fake_config(fake, scheme)`` is the config that points the tap at a ``FakeAtlassian``.
``leaks(run, config)`` lists the configured secrets a run printed; ``free_port()`` a port
for a local listener (OAuth redirects, the SDK tests' fake).
"""

from __future__ import annotations

import base64
import dataclasses
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import typing as t
from pathlib import Path

TAP = [sys.executable, "-m", "tap_atlassian"]
ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    """A free TCP port on 127.0.0.1."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def leaks(run: TapRun, config: dict) -> list[str]:
    """Configured secrets (and their Basic-header encodings) found in stdout or stderr."""
    secrets = [config[k] for k in ("password", "api_token", "personal_access_token") if config.get(k)]
    user = config.get("user", "")
    encoded = [base64.b64encode(f"{user}:{s}".encode()).decode() for s in secrets]
    text = run.stdout + run.stderr
    return [s for s in secrets + encoded if s in text]


@dataclasses.dataclass
class TapRun:
    """What one tap process wrote."""

    returncode: int
    stdout: str
    stderr: str
    messages: list[dict]

    @property
    def records(self) -> dict[str, list[dict]]:
        """RECORD payloads per stream."""
        out: dict[str, list[dict]] = {}
        for m in self.messages:
            if m.get("type") == "RECORD":
                out.setdefault(m["stream"], []).append(m["record"])
        return out

    @property
    def schemas(self) -> dict[str, dict]:
        """The last SCHEMA message per stream."""
        return {m["stream"]: m for m in self.messages if m.get("type") == "SCHEMA"}

    @property
    def states(self) -> list[dict]:
        """STATE values, in order."""
        return [m["value"] for m in self.messages if m.get("type") == "STATE"]

    @property
    def last_state(self) -> dict | None:
        """The last STATE value (what a target would keep)."""
        return self.states[-1] if self.states else None

    def ids(self, stream: str, key: str = "id") -> list[t.Any]:
        """Primary key values of a stream, in emission order."""
        return [r[key] for r in self.records.get(stream, [])]

    @property
    def last_stderr_line(self) -> str:
        """The last non-empty line of stderr."""
        lines = [ln for ln in self.stderr.splitlines() if ln.strip()]
        return lines[-1] if lines else ""


def _write(tmp: Path, name: str, value: t.Any) -> str:  # noqa: ANN401
    path = tmp / name
    path.write_text(json.dumps(value), encoding="utf-8")
    return str(path)


def run_tap(config: dict, *, catalog: dict | None = None, state: dict | None = None,
            args: t.Sequence[str] = (), env: dict[str, str] | None = None, timeout: float = 120,
            stop_after_records: int | None = None) -> TapRun:
    """Run ``tap-atlassian --config C [--catalog K] [--state S] *args`` and parse its output."""
    with tempfile.TemporaryDirectory() as tmpdir:
        tmp = Path(tmpdir)
        cmd = [*TAP, "--config", _write(tmp, "config.json", config)]
        if catalog is not None:
            cmd += ["--catalog", _write(tmp, "catalog.json", catalog)]
        if state is not None:
            cmd += ["--state", _write(tmp, "state.json", state)]
        cmd += list(args)
        full_env = {**os.environ, "PYTHONPATH": str(ROOT), **(env or {})}
        if stop_after_records is None:
            proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=full_env,
                                  cwd=tmpdir, check=False)
            return TapRun(proc.returncode, proc.stdout, proc.stderr, parse_messages(proc.stdout))
        return _run_and_kill(cmd, full_env, tmpdir, stop_after_records, timeout)


def _run_and_kill(cmd: list[str], env: dict[str, str], cwd: str, n: int, timeout: float) -> TapRun:
    err_path = Path(cwd) / "stderr.txt"
    with err_path.open("w") as err:
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=err, text=True, env=env, cwd=cwd)
        lines: list[str] = []
        seen = 0
        assert proc.stdout is not None
        try:
            for line in proc.stdout:
                lines.append(line)
                if line.startswith('{"type":"RECORD"') or '"type": "RECORD"' in line[:40]:
                    seen += 1
                    if seen >= n:
                        proc.send_signal(signal.SIGKILL)
                        break
        finally:
            proc.stdout.close()
            code = proc.wait(timeout=timeout)
    stdout = "".join(lines)
    return TapRun(code, stdout, err_path.read_text(), parse_messages(stdout))


def parse_messages(stdout: str) -> list[dict]:
    """Singer messages of a tap's stdout (a partial last line is ignored)."""
    out = []
    for line in stdout.splitlines():
        if not line.strip():
            continue
        try:
            out.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    return out


def discover(config: dict, *, env: dict[str, str] | None = None) -> dict:
    """The catalog of ``--discover`` (raises when the tap fails)."""
    run = run_tap(config, args=["--discover"], env=env)
    if run.returncode != 0:
        msg = f"discovery failed ({run.returncode}): {run.last_stderr_line}"
        raise RuntimeError(msg)
    return json.loads(run.stdout)


def select(catalog: dict, streams: t.Iterable[str]) -> dict:
    """A copy of ``catalog`` with only ``streams`` selected (a child selects its parent)."""
    wanted = set(streams)
    out = json.loads(json.dumps(catalog))
    for entry in out["streams"]:
        for md in entry.get("metadata", []):
            if md.get("breadcrumb") == []:
                md["metadata"]["selected"] = entry["tap_stream_id"] in wanted
    return out


def fake_config(fake: t.Any, scheme: str = "basic", **overrides: t.Any) -> dict:  # noqa: ANN401
    """Config pointing the tap at a running ``FakeAtlassian`` with its demo credentials."""
    creds = fake.credentials
    config: dict[str, t.Any] = {"url": fake.url, "jira_url": fake.jira_url,
                                "confluence_url": fake.confluence_url, "auth_scheme": scheme,
                                "deployment": "cloud" if fake.flavour == "cloud" else "server",
                                "retry_initial_wait_seconds": 0.05, "retry_max_wait_seconds": 2,
                                "search_lag_minutes": 0}
    if scheme == "basic":
        config["user"] = creds["user"]
        if fake.flavour == "cloud":
            config["api_token"] = creds["api_token"]
        else:
            config["password"] = creds["password"]
    elif scheme == "pat":
        config["personal_access_token"] = creds["personal_access_token"]
    config.update(overrides)
    return config


def jira_run_config(fake: t.Any, streams: t.Iterable[str], **overrides: t.Any) -> tuple[dict, dict]:  # noqa: ANN401
    """``(config, catalog)`` for a Jira/JSM-only run of ``streams`` against ``fake``."""
    config = fake_config(fake, products=["jira_service_desk"], **overrides)
    return config, select(discover(config), streams)


def sweep_due(state: dict | None) -> dict | None:
    """``state`` with every stream's last delete sweep (``swept_at``) an hour further back: the
    next run sweeps with ``delete_sweep_hours: 1`` however fast the runs follow each other."""
    if state is None:
        return None
    out = json.loads(json.dumps(state))
    for bookmark in (out.get("bookmarks") or {}).values():
        if isinstance(bookmark, dict) and bookmark.get("swept_at"):
            bookmark["swept_at"] = "2000-01-01T00:00:00.000Z"
    return out
