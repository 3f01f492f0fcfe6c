"""The README's generated parts and its promises stay true.

Run as a script (`make readme`) to rewrite the generated settings table in place.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
BEGIN = "<!-- BEGIN GENERATED SETTINGS: tap-atlassian --about --format=markdown -->"
END = "<!-- END GENERATED SETTINGS -->"


def about_markdown() -> str:
    """`tap-atlassian --about --format=markdown`, as a user would run it."""
    return subprocess.run(
        [sys.executable, "-c", "from tap_atlassian.tap import TapAtlassian; TapAtlassian.cli()",
         "--about", "--format=markdown"],
        capture_output=True, text=True, check=True, timeout=120, cwd=ROOT,
    ).stdout


def settings_section(markdown: str) -> str:
    """The `## Settings` part of the about output, without its heading."""
    _, sep, rest = markdown.partition("## Settings\n")
    assert sep, "no '## Settings' in tap-atlassian --about --format=markdown"
    return rest.split("\n## ", 1)[0].strip()


def readme_section(text: str) -> str:
    start, end = text.index(BEGIN) + len(BEGIN), text.index(END)
    return text[start:end].strip()


def render(text: str, section: str) -> str:
    start, end = text.index(BEGIN) + len(BEGIN), text.index(END)
    return text[:start] + "\n" + section + "\n" + text[end:]


def test_settings_table_matches_the_tap() -> None:
    want = settings_section(about_markdown())
    have = readme_section(README.read_text(encoding="utf-8"))
    assert have == want, "README settings table drifted from the tap: run `make readme`"


def test_settings_table_names_every_setting_once() -> None:
    rows = re.findall(r"^\| ([a-z0-9_.]+) \|", readme_section(README.read_text(encoding="utf-8")), re.M)
    assert len(rows) == len(set(rows))
    for name in ("url", "auth_scheme", "api_token", "personal_access_token", "project_keys", "space_keys"):
        assert name in rows


def test_the_two_commands_are_the_ones_ci_and_make_run() -> None:
    text = README.read_text(encoding="utf-8")
    block = text.split("## Two commands", 1)[1].split("```", 2)[1]
    commands = [line.split("#")[0].strip() for line in block.splitlines()[1:] if line.strip()]
    assert commands == ["make demo", "make test"]
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert re.search(r"^exec make test$", ci, re.M)
    workflow = (ROOT / ".github" / "workflows" / "ci.yml").read_text(encoding="utf-8")
    assert "bash .ci/run" in workflow
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    assert re.search(r"^demo:", makefile, re.M) and re.search(r"^test:", makefile, re.M)


def readme_streams() -> list[str]:
    text = README.read_text(encoding="utf-8")
    return re.findall(r"^\| `([a-z_]+)` \| (?:Confluence|Jira|JSM) \|", text, re.M)


def test_readme_streams_are_the_contract_streams() -> None:
    contract = ["confluence_spaces", "confluence_pages", "jira_fields", "jira_issues",
                "jsm_service_desks", "jsm_request_types", "jsm_requests"]
    assert readme_streams()[: len(contract)] == contract


def test_readme_streams_are_streams_the_tap_discovers(tmp_path: Path) -> None:
    """Every stream the README lists is in the catalog the tap discovers (on the fake site)."""
    import json

    from tests.fake_atlassian import FakeAtlassian

    with FakeAtlassian(flavour="cloud", seed=7, size="small") as fake:
        config = tmp_path / "config.json"
        config.write_text(json.dumps({"url": fake.url, "auth_scheme": "basic", "user": fake.credentials["user"],
                                      "api_token": fake.credentials["api_token"]}))
        out = subprocess.run(
            [sys.executable, "-c", "from tap_atlassian.tap import TapAtlassian; TapAtlassian.cli()",
             "--config", str(config), "--discover"],
            capture_output=True, text=True, check=True, timeout=120, cwd=ROOT,
        ).stdout
    discovered = {s["tap_stream_id"] for s in json.loads(out)["streams"]}
    assert set(readme_streams()) <= discovered


def test_scale_out_example_is_the_working_meltano_yml() -> None:
    import yaml

    text = README.read_text(encoding="utf-8")
    section = text.split("## Running at scale", 1)[1]
    example = yaml.safe_load(section.split("```yaml", 1)[1].split("```", 1)[0])
    project = yaml.safe_load((ROOT / "meltano.yml").read_text(encoding="utf-8"))
    extractors = {p["name"]: p for p in project["plugins"]["extractors"]}
    for plugin in example["plugins"]["extractors"]:
        assert extractors[plugin["name"]] == plugin
    assert example["jobs"] == project["jobs"]
    assert example["schedules"] == project["schedules"]


if __name__ == "__main__":
    current = README.read_text(encoding="utf-8")
    updated = render(current, settings_section(about_markdown()))
    README.write_text(updated, encoding="utf-8")
    print("README.md settings table " + ("unchanged" if updated == current else "regenerated"))
