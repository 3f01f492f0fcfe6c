"""`python -m tests.fake_atlassian`: starts, prints its base URLs and demo credentials, serves,
stops on SIGTERM. (The start-up time is printed, never asserted.)"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

ROOT = Path(__file__).resolve().parent.parent


def start(*args: str) -> tuple[subprocess.Popen[str], str]:
    proc = subprocess.Popen([sys.executable, "-m", "tests.fake_atlassian", *args], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    return proc, proc.stdout.readline()


def stop(proc: subprocess.Popen[str]) -> None:
    """Stop the server and close its pipes (an open pipe is a ResourceWarning, so an error)."""
    proc.terminate()
    try:
        proc.communicate(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()


@pytest.mark.parametrize("flavour", ["cloud", "server"])
def test_standalone_json_line(flavour: str) -> None:
    t0 = time.monotonic()
    proc, line = start("--flavour", flavour, "--port", "0", "--seed", "3", "--size", "small", "--json")
    try:
        info = json.loads(line)
        print(f"\nstandalone {flavour} fake up after {time.monotonic() - t0:.2f} s (process start included)")
        assert info["url"].startswith("http://127.0.0.1:")
        assert info["confluence_url"] == info["url"] + ("/wiki" if flavour == "cloud" else "")
        assert set(info["credentials"]) >= {"user", "personal_access_token"}
        c = info["credentials"]
        r = requests.get(info["jira_url"] + "/rest/api/2/myself", auth=(c["user"], c.get("api_token") or c["password"]),
                         timeout=10)
        assert r.status_code == 200
        assert requests.get(info["control_url"] + "info", timeout=10).json()["seed"] == 3
    finally:
        stop(proc)
    assert proc.returncode == 0


def test_standalone_text_banner_and_options() -> None:
    proc, first = start("--flavour", "server", "--latency-ms", "1", "--jira-context", "/jira",
                        "--confluence-context", "/confluence", "--issues", "30")
    try:
        assert "fake Atlassian (server" in first
        lines = [proc.stdout.readline() for _ in range(9)]  # type: ignore[union-attr]
        text = "".join(lines)
        assert "/jira" in text and "/confluence" in text and "password" in text
        assert "30 issues" in text
    finally:
        stop(proc)
