"""The Meltano Hub plugin definitions in `plugins/` (what `meltano add extractor tap-atlassian
--from-ref plugins/extractors/tap-atlassian.yml` reads) stay equal to `meltano.yml`'s entries.

Run as a script (`make plugins`) to rewrite them from `meltano.yml`.
"""

from __future__ import annotations

import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
REPO = "https://github.com/tap-atlassian/tap-atlassian"
PIP_URL = f"git+{REPO}.git"
HEADER = ("# Meltano Hub plugin definition, generated from meltano.yml by `make plugins`\n"
          "# (tests/test_docs_plugins.py fails when the two differ). Add it to a project with\n")
FILES = {
    "extractors": ("tap-atlassian", ROOT / "plugins" / "extractors" / "tap-atlassian.yml"),
    "loaders": ("target-duckdb", ROOT / "plugins" / "loaders" / "target-duckdb-lossless.yml"),
}


def hub_definition(kind: str) -> dict:
    """The plugin's entry in meltano.yml as a Hub definition: the project's own values (`config`,
    `select`) left out, `pip_url` pointing at the repository (the loader: its subdirectory)."""
    name, _ = FILES[kind]
    project = yaml.safe_load((ROOT / "meltano.yml").read_text(encoding="utf-8"))
    entry = next(p for p in project["plugins"][kind] if p["name"] == name)
    out = {k: v for k, v in entry.items() if k not in {"config", "select", "pip_url"}}
    if kind == "loaders":  # named as in meltano.yml and the README's commands
        out["pip_url"] = f"{PIP_URL}#subdirectory=loaders/target-duckdb-lossless"
    else:
        out["pip_url"] = PIP_URL
    out["variant"] = "tap-atlassian"
    out["repo"] = REPO
    out["keywords"] = ["meltano_sdk"]
    return out


def render(kind: str) -> str:
    name = hub_definition(kind)["name"]
    command = f"#   meltano add {kind[:-1]} {name} --from-ref <this file or its raw URL>\n"
    body = yaml.safe_dump(hub_definition(kind), sort_keys=False, allow_unicode=True, width=100)
    return HEADER + command + body


def test_plugin_definitions_match_meltano_yml() -> None:
    for kind, (_, path) in FILES.items():
        assert path.read_text(encoding="utf-8") == render(kind), f"{path} drifted: run `make plugins`"


def test_plugin_definitions_are_hub_shaped() -> None:
    for kind, (_, path) in FILES.items():
        definition = yaml.safe_load(path.read_text(encoding="utf-8"))
        for key in ("name", "namespace", "variant", "label", "pip_url", "executable", "settings", "repo"):
            assert definition.get(key), (path, key)
        assert "config" not in definition and "select" not in definition
    loader = yaml.safe_load(FILES["loaders"][1].read_text(encoding="utf-8"))
    assert loader["pip_url"].endswith("#subdirectory=loaders/target-duckdb-lossless")


if __name__ == "__main__":
    for kind, (_, path) in FILES.items():
        path.write_text(render(kind), encoding="utf-8")
        print(f"{path.relative_to(ROOT)} written", file=sys.stderr)
