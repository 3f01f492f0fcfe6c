"""The README's "Try the tap without Meltano" blocks work as written: the bundled fake site
started by itself, then the tap run against it with the printed demo credentials."""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
from pathlib import Path

from tests.tapdriver import free_port, parse_messages

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"


def block(marker: str) -> str:
    after = README.read_text(encoding="utf-8").split(f"<!-- fake-site-example: {marker} -->", 1)[1]
    return after.split("```", 2)[1].split("\n", 1)[1]


def test_the_readme_fake_site_and_tap_commands(tmp_path: Path) -> None:
    port = str(free_port())
    serve = shlex.split(block("serve").strip(), comments=True)
    assert serve[:3] == [".venv/bin/python", "-m", "tests.fake_atlassian"]
    serve = [sys.executable, *serve[1:]]
    serve[serve.index("--port") + 1] = port
    proc = subprocess.Popen(serve, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        printed = [proc.stdout.readline() for _ in range(9)]
        text = block("tap").replace("8089", port)
        config = json.loads(text.split("<<'JSON'\n", 1)[1].split("\nJSON\n", 1)[0])
        assert any(config["api_token"] in ln for ln in printed) and any(config["user"] in ln for ln in printed)
        (tmp_path / "fake-config.json").write_text(json.dumps(config), encoding="utf-8")
        command = shlex.split(text.rsplit("JSON\n", 1)[1].strip())
        assert command[:3] == [".venv/bin/tap-atlassian", "--config", "fake-config.json"]
        tap = str(Path(sys.executable).parent / "tap-atlassian")
        run = subprocess.run([tap, *command[1:3]], cwd=tmp_path, capture_output=True, text=True, timeout=300,
                             env={**os.environ, "PYTHONPATH": str(ROOT)}, check=False)
        assert run.returncode == 0, run.stderr[-2000:]
        streams = {m["stream"] for m in parse_messages(run.stdout) if m.get("type") == "RECORD"}
        assert {"jira_issues", "confluence_pages", "jsm_requests"} <= streams
    finally:
        proc.terminate()
        proc.communicate(timeout=10)  # also closes the pipes
