"""The version is the installed distribution's, set from the git tag (setuptools-scm)."""

from __future__ import annotations

import importlib.metadata
import json
import subprocess
import sys
import tomllib
from pathlib import Path

import tap_atlassian

ROOT = Path(__file__).resolve().parent.parent


def test_no_version_is_written_in_the_project_files() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    assert "version" not in project
    assert "version" in project["dynamic"]


def test_the_tap_reports_the_installed_version() -> None:
    installed = importlib.metadata.version("tap-atlassian")
    assert tap_atlassian.__version__ == installed
    about = subprocess.run(
        [sys.executable, "-m", "tap_atlassian", "--about", "--format=json"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert json.loads(about.stdout)["version"] == installed
