"""The version is the installed distribution's, set from the git tag (setuptools-scm)."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# setuptools-scm's forms: the tag itself, or the next patch's dev release with the commit
SCM_VERSION = re.compile(r"^\d+\.\d+\.\d+(\.dev\d+\+g[0-9a-f]+(\.d\d{8})?)?$")


def _python(code: str) -> str:
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT)
    return run.stdout.strip()


def test_no_version_is_written_in_the_project_files() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    assert "version" not in project
    assert "version" in project["dynamic"]


def test_the_tap_reports_the_installed_version() -> None:
    """``__version__`` and ``--about`` give the distribution's version, read in one process
    (an editable install's metadata is rewritten when the project is installed again, e.g. by
    Meltano during the suite, so two processes may see two commits).
    """
    code = (
        "import contextlib, importlib.metadata, io, json, tap_atlassian\n"
        "from tap_atlassian.tap import TapAtlassian\n"
        "out = io.StringIO()\n"
        "with contextlib.redirect_stdout(out), contextlib.suppress(SystemExit):\n"
        "    TapAtlassian.cli(['--about', '--format=json'])\n"
        "print(json.dumps([tap_atlassian.__version__, importlib.metadata.version('tap-atlassian'),"
        " json.loads(out.getvalue())['version']]))"
    )
    own, installed, about = json.loads(_python(code))
    assert own == installed == about
    assert SCM_VERSION.match(installed), installed
