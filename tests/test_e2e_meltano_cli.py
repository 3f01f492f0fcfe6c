"""The README's Meltano commands, run as a user would with Meltano 4 (`.venv-meltano`):

a fresh `meltano init` project adds the tap and the DuckDB loader from the plugin definitions
in `plugins/` (`meltano add --from-ref`), every `meltano config set` line of the README is
accepted, and the Cloud quick start (`--test`, `meltano run`) loads the fake site into DuckDB
with the tap's per-stream summary lines in Meltano's log, stream names kept.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import typing as t
from pathlib import Path

import duckdb
import pytest

from demo.pipeline import MELTANO
from tests.fake_atlassian import FakeAtlassian

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("e2e_meltano")]

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
RAW = "https://raw.githubusercontent.com/tap-atlassian/tap-atlassian/main/"
REPO_PIP = "git+https://github.com/tap-atlassian/tap-atlassian.git"


def readme_block(marker: str) -> list[str]:
    """The commands of the code block after ``<!-- meltano-example: marker -->``."""
    text = README.read_text(encoding="utf-8")
    after = text.split(f"<!-- meltano-example: {marker} -->", 1)[1]
    block = after.split("```", 2)[1].split("\n", 1)[1]
    return [ln for ln in block.splitlines() if ln.strip()]


def readme_config_lines() -> list[str]:
    """Every ``meltano config set`` line in the README's code blocks."""
    blocks = README.read_text(encoding="utf-8").split("```")[1::2]
    return [ln for b in blocks for ln in b.splitlines() if ln.startswith("meltano config set ")]


class Project:
    """One fresh Meltano project; each command's output is kept for the failure message."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.env = {k: v for k, v in os.environ.items() if k != "VIRTUAL_ENV" and not k.startswith("MELTANO_")}
        self.env.update(MELTANO_SEND_ANONYMOUS_USAGE_STATS="false", NO_COLOR="1")

    def run(self, line: str, *, ok: bool = True, timeout: float = 900, answer: str = "") -> subprocess.CompletedProcess:
        args = shlex.split(line, comments=True)
        assert args[0] == "meltano", line
        proc = subprocess.run([str(MELTANO), "--log-level=info", *args[1:]], cwd=self.path, env=self.env,
                              capture_output=True, text=True, timeout=timeout, check=False, input=answer)
        if ok:
            assert proc.returncode == 0, f"{line}\n{proc.stderr[-4000:]}"
        return proc


@pytest.fixture(scope="module")
def fake() -> t.Iterator[FakeAtlassian]:
    with FakeAtlassian(flavour="cloud", seed=7, size="small") as site:
        yield site


def local_definitions(tmp: Path) -> dict[str, str]:
    """The plugin definitions with ``pip_url`` on this checkout (what a user does with a local
    clone), keyed by the raw URL the README gives."""
    out = {}
    for rel in ("plugins/extractors/tap-atlassian.yml", "plugins/loaders/target-duckdb-lossless.yml"):
        text = (ROOT / rel).read_text(encoding="utf-8")
        text = text.replace(f"{REPO_PIP}#subdirectory=loaders/target-duckdb-lossless",
                            f"-e {ROOT / 'loaders' / 'target-duckdb-lossless'}")
        text = text.replace(REPO_PIP, f"-e {ROOT}")
        copy = tmp / Path(rel).name
        copy.write_text(text, encoding="utf-8")
        out[RAW + rel] = str(copy)
    return out


def test_readme_meltano_commands_in_a_fresh_project(fake: FakeAtlassian, tmp_path: Path) -> None:
    if not MELTANO.exists():
        pytest.fail("Meltano is not installed: run `make meltano` (make test does)")
    init = Project(tmp_path)
    init.run("meltano init proj --no_usage_stats")
    project = Project(tmp_path / "proj")
    refs = local_definitions(tmp_path)

    for line in readme_block("add"):
        for url, path in refs.items():
            line = line.replace(url, path)
        project.run(line)
    added = (project.path / "meltano.yml").read_text(encoding="utf-8")
    assert "utilities:" not in added  # the plugin type given as an option: added once, as what it is
    assert "name: tap-atlassian" in added and "name: target-duckdb" in added

    # every `meltano config set` line of the README is accepted by Meltano 4 ...
    for line in readme_config_lines():
        project.run(line)
    project.run("meltano config reset tap-atlassian", answer="y\n")
    assert "yoursite" not in (project.path / "meltano.yml").read_text(encoding="utf-8")

    # ... and the Cloud quick start, against the fake site, loads it
    creds = fake.credentials
    values = {"https://yoursite.atlassian.net": fake.url, "you@example.com": creds["user"],
              "'ATATT...'": creds["api_token"]}
    outputs = []
    for line in readme_block("cloud"):
        for placeholder, value in values.items():
            line = line.replace(placeholder, value)
        outputs.append(project.run(line))
    log = "\n".join(p.stdout + p.stderr for p in outputs)
    assert "connection test passed" in log

    db = duckdb.connect(str(project.path / "output" / "atlassian.duckdb"), read_only=True)
    try:
        schema = db.execute("select table_schema from information_schema.tables "
                            "where table_name = 'jira_issues'").fetchone()[0]
        issues = db.execute(f'select count(distinct id) from "{schema}".jira_issues').fetchone()[0]
        pages = db.execute(f'select count(distinct id) from "{schema}".confluence_pages').fetchone()[0]
    finally:
        db.close()
    assert issues == fake.data.issue_count() and pages == fake.data.page_count()

    # the tap's summary lines reach Meltano's log with their stream names
    summaries = re.findall(r"(jira_issues|confluence_pages): done: ([\d,]+) records", log)
    assert ("jira_issues", f"{fake.data.issue_count():,}") in summaries
    assert ("confluence_pages", f"{fake.data.page_count():,}") in summaries

    for line in readme_block("run"):
        if line.startswith("meltano state get"):
            assert '"jira_issues"' in project.run(line).stdout
