"""Jira catalog streams (the dimension tables), Cloud and Server/DC, over real HTTP against the
fake: every seeded object exactly once by key at two page sizes, children carrying their
project's id, `project_keys`, hidden projects as warnings, the OAuth 2.0 scope skip, and every
record valid against the stream's schema."""

from __future__ import annotations

import collections
import time
from typing import Any

import jsonschema
import pytest

from tap_atlassian.settings_file import SettingsFile
from tests.fake_atlassian.jira_catalog_data import GROUPS, RESOLUTIONS, group_id, issue_types, priorities, statuses
from tests.tapdriver import TapRun, discover, fake_config, free_port, jira_run_config, leaks, run_tap, select

PROJECT_STREAMS = ("jira_projects", "jira_project_versions", "jira_project_components")
LOOKUPS = ("jira_issue_types", "jira_statuses", "jira_priorities", "jira_resolutions")
PEOPLE = ("jira_users", "jira_groups")
STREAMS = PROJECT_STREAMS + LOOKUPS + PEOPLE


def catalog_run(fake: Any, streams: tuple[str, ...] = STREAMS, **overrides: Any) -> TapRun:  # noqa: ANN401
    config, catalog = jira_run_config(fake, streams, **overrides)
    run = run_tap(config, catalog=catalog)
    assert run.returncode == 0, run.stderr[-3000:]
    assert not leaks(run, config)
    return run


def keys(run: TapRun, stream: str) -> list[str]:
    return [str(r["id"]) for r in run.records.get(stream, [])]


def once(run: TapRun, stream: str) -> set[str]:
    got = keys(run, stream)
    dupes = [k for k, n in collections.Counter(got).items() if n > 1]
    assert not dupes, f"{stream}: emitted more than once: {dupes[:5]}"
    return set(got)


def expected(fake: Any, project_keys: set[str] | None = None) -> dict[str, set[str]]:  # noqa: ANN401
    data = fake.jira_catalog.data
    projects = [p for p in fake.data.projects if project_keys is None or p["key"] in project_keys]
    cloud = fake.flavour == "cloud"
    return {
        "jira_projects": {p["id"] for p in projects},
        "jira_project_versions": {v.id for p in projects for v in data.versions[p["idx"]]},
        "jira_project_components": {c.id for p in projects for c in data.components[p["idx"]]},
        "jira_issue_types": {t[0] for t in issue_types()},
        "jira_statuses": {s[0] for s in statuses()},
        "jira_priorities": {p[0] for p in priorities()},
        "jira_resolutions": {r[0] for r in RESOLUTIONS},
        "jira_users": {u["account_id"] if cloud else u["key"] for u in fake.data.users},
        "jira_groups": {group_id(g) if cloud else g for g in GROUPS},
    }


def assert_valid(run: TapRun, stream: str) -> None:
    schema = run.schemas[stream]["schema"]
    validator = jsonschema.Draft7Validator(schema, format_checker=jsonschema.Draft7Validator.FORMAT_CHECKER)
    for record in run.records[stream]:
        errors = [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(record)]
        assert not errors, f"{stream} {record.get('id')}: {errors[:3]}"
        undeclared = set(record) - set(schema["properties"])
        assert not undeclared, f"{stream}: the schema does not declare {sorted(undeclared)}"


@pytest.mark.parametrize("flavour", ["cloud", "server"])
@pytest.mark.parametrize("page_size", [3, 100])
def test_every_catalog_object_exactly_once(fake_factory, flavour: str, page_size: int) -> None:  # noqa: ANN001
    fake = fake_factory(flavour=flavour, seed=7, size="small")
    run = catalog_run(fake, page_size=page_size)
    want = expected(fake)
    for stream in STREAMS:
        got = once(run, stream)
        assert got == want[stream], f"{stream}: missing {sorted(want[stream] - got)[:5]}, extra {sorted(got - want[stream])[:5]}"
        assert_valid(run, stream)
    project_of_version = {v.id: 10000 + v.project_idx for vs in fake.jira_catalog.data.versions.values() for v in vs}
    for version in run.records["jira_project_versions"]:
        assert version["projectId"] == project_of_version[version["id"]]
    project_of_component = {c.id: 10000 + c.project_idx for cs in fake.jira_catalog.data.components.values() for c in cs}
    for component in run.records["jira_project_components"]:
        assert component["projectId"] == project_of_component[component["id"]]
    for project in run.records["jira_projects"]:
        assert project["description"] and project["issueTypes"], project["key"]
        assert project["lead"]["accountId" if flavour == "cloud" else "key"]
    assert {p.get("projectCategory", {}).get("name") for p in run.records["jira_projects"]} >= {"Service", None}
    for user in run.records["jira_users"]:
        assert user["id"] == (user["accountId"] if flavour == "cloud" else user["key"])
    assert any(not u["active"] for u in run.records["jira_users"]), "inactive users are part of the table"
    for group in run.records["jira_groups"]:
        assert group["id"] == (group["groupId"] if flavour == "cloud" else group["name"])
    paths = {e.path.removeprefix(fake.jira_context) for e in fake.log}
    if flavour == "cloud":
        assert {"/rest/api/3/project/search", "/rest/api/3/project/10000/version",
                "/rest/api/3/project/10000/component", "/rest/api/3/users/search", "/rest/api/3/group/bulk",
                "/rest/api/3/resolution/search"} <= paths
    else:
        assert {"/rest/api/2/project", "/rest/api/2/project/10000/versions", "/rest/api/2/project/10000/components",
                "/rest/api/2/user/search", "/rest/api/2/groups/picker", "/rest/api/2/resolution"} <= paths
    assert all(e.status == 200 for e in fake.log), [(e.path, e.status) for e in fake.log if e.status != 200]


@pytest.mark.parametrize("flavour", ["cloud", "server"])
def test_project_keys_filter_projects_versions_and_components(fake_factory, flavour: str) -> None:  # noqa: ANN001
    fake = fake_factory(flavour=flavour, seed=5, size="small")
    run = catalog_run(fake, PROJECT_STREAMS + ("jira_statuses",), page_size=4, project_keys=["SWA", "sda", "NOPE"])
    want = expected(fake, {"SWA", "SDA"})
    for stream in PROJECT_STREAMS:
        assert once(run, stream) == want[stream], stream
    assert {str(v["projectId"]) for v in run.records["jira_project_versions"]} <= {"10000", "10003"}
    assert once(run, "jira_statuses") == want["jira_statuses"]  # lookups are site-wide
    warnings = [ln for ln in run.stderr.splitlines() if "WARNING" in ln]
    assert any("project_keys: NOPE not found or not visible" in ln for ln in warnings), warnings
    reads = [e.path for e in fake.log if "/project/" in e.path and not e.path.endswith("/project/search")]
    assert reads and all("/project/10000/" in p or "/project/10003/" in p for p in reads), reads
    if flavour == "cloud":  # filtered by Jira, not after reading every project: the run's one
        # check of project_keys, then the listing of the projects that exist
        assert [e.query.get("keys") for e in fake.log if e.path.endswith("/project/search")] == \
            [["SWA", "SDA", "NOPE"], ["SWA", "SDA"]]


@pytest.mark.parametrize("flavour", ["cloud", "server"])
def test_hidden_project_is_a_warning_and_the_run_succeeds(fake_factory, flavour: str) -> None:  # noqa: ANN001
    fake = fake_factory(flavour=flavour, seed=7, size="small")
    # SDB (10001) is listed, then its versions and components answer 403 (permission taken away
    # meanwhile); SWA is hidden outright but named in project_keys
    fake.control.inject(r"/project/10001/", "403", None)
    fake.jira_catalog.hide_project("SWA")
    run = catalog_run(fake, PROJECT_STREAMS, page_size=3, project_keys=["SDA", "SDB", "SWA", "SWB"])
    want = expected(fake, {"SDA", "SWB"})
    assert once(run, "jira_projects") == want["jira_projects"] | {"10001"}
    for stream in ("jira_project_versions", "jira_project_components"):
        assert once(run, stream) == want[stream], stream
        assert any(f"{stream}: project SDB (id 10001) skipped: 403" in ln for ln in run.stderr.splitlines()), stream
    assert any("project_keys: SWA not found or not visible" in ln for ln in run.stderr.splitlines())


def test_server_group_picker_cap_is_read_past_with_exclude(fake_factory) -> None:  # noqa: ANN001
    fake = fake_factory(flavour="server", seed=7, size="small")
    fake.jira_catalog.group_picker_limit = 5  # jira.ajax.autocomplete.limit below the 14 groups
    run = catalog_run(fake, ("jira_groups",))
    assert once(run, "jira_groups") == set(GROUPS)
    asks = [e.query.get("exclude", []) for e in fake.log if e.path.endswith("/groups/picker")]
    assert [len(x) for x in asks] == [0, 5, 10]
    assert "jira_groups: Jira listed" not in run.stderr
    # a server that ignores exclude= cannot be paged: what it lists, and a warning saying so
    fake.jira_catalog.group_picker_excludes = False
    run = catalog_run(fake, ("jira_groups",))
    assert once(run, "jira_groups") == set(GROUPS[:5])
    line = next(ln for ln in run.stderr.splitlines() if "jira_groups: Jira listed" in ln)
    assert f"5 of {len(GROUPS)} groups" in line and "jira.ajax.autocomplete.limit" in line


def test_server_user_search_ignoring_start_at_ends_with_a_warning(fake_factory) -> None:  # noqa: ANN001
    fake = fake_factory(flavour="server", seed=7, size="small")
    fake.jira_catalog.user_search_ignores_start_at = True  # every page from the first user
    run = catalog_run(fake, ("jira_users",), page_size=5)
    assert once(run, "jira_users") == {u["key"] for u in fake.data.users[:5]}
    line = next(ln for ln in run.stderr.splitlines() if "jira_users:" in ln and "WARNING" in ln)
    assert "ignores startAt" in line and "5 users read" in line
    assert len([e for e in fake.log if e.path.endswith("/user/search")]) == 2


def test_server_user_search_cap_is_a_warning(fake_factory) -> None:  # noqa: ANN001
    """Jira 10 reaches only the first 100 matching users (startAt + maxResults within them,
    JRASERVER-78660): past them the pages are empty, which must not pass for the end."""
    fake = fake_factory(flavour="server", seed=7, size="large", issues=20, pages=5, blogposts=2)
    assert len(fake.data.users) > 100
    fake.jira_catalog.user_search_cap = 100
    run = catalog_run(fake, ("jira_users",), page_size=30)
    assert once(run, "jira_users") == {u["key"] for u in fake.data.users[:100]}
    line = next(ln for ln in run.stderr.splitlines() if "jira_users:" in ln and "WARNING" in ln)
    assert "exactly 100 users" in line and "JRASERVER-78660" in line


@pytest.mark.parametrize("flavour", ["cloud", "server"])
def test_a_whole_user_listing_warns_nothing(fake_factory, flavour: str) -> None:  # noqa: ANN001
    """The empty page that ends every listing is the end, not a server ignoring startAt."""
    fake = fake_factory(flavour=flavour, seed=7, size="small")
    run = catalog_run(fake, ("jira_users",), page_size=5)
    assert once(run, "jira_users") == expected(fake)["jira_users"]
    assert not [ln for ln in run.stderr.splitlines() if "WARNING" in ln], run.stderr[-2000:]


@pytest.mark.parametrize("flavour", ["cloud", "server"])
def test_no_permission_to_browse_users_is_a_warning(fake_factory, flavour: str) -> None:  # noqa: ANN001
    fake = fake_factory(flavour=flavour, seed=7, size="small")
    fake.control.inject(r"/users/search|/user/search|/group/bulk|/groups/picker", "403", None)
    run = catalog_run(fake, ("jira_projects", *PEOPLE))
    assert once(run, "jira_projects") == expected(fake)["jira_projects"]
    for stream in PEOPLE:
        assert stream not in run.records
        assert any(f"{stream} skipped: 403" in ln and "Browse users and groups" in ln
                   for ln in run.stderr.splitlines()), stream


def test_oauth_token_without_user_scope_skips_users_and_groups(fake_cloud, tmp_path) -> None:  # noqa: ANN001
    fake = fake_cloud
    settings_path = tmp_path / "OAuthSettings.txt"
    config = fake_config(fake, "oauth", **fake.oauth2.tap_config(
        str(settings_path), callback_url=f"http://localhost:{free_port()}"), products=["jira_service_desk"])
    tokens = fake.oauth2.issue("read:jira-work offline_access")
    SettingsFile(settings_path, config["oauth_client_secret"]).save({"oauth2": {
        "client_id": config["oauth_client_id"], "access_token": tokens["access_token"],
        "refresh_token": tokens["refresh_token"], "expires_at": time.time() + 3600, "scope": tokens["scope"]}})
    run = run_tap(config, catalog=select(discover(config), STREAMS))
    assert run.returncode == 0, run.stderr[-3000:]
    want = expected(fake)
    for stream in PROJECT_STREAMS + LOOKUPS:
        assert once(run, stream) == want[stream], stream
    for stream in PEOPLE:
        assert stream not in run.records
        assert any(f"{stream} skipped" in ln and "read:jira-user" in ln for ln in run.stderr.splitlines()), stream
    assert not [e for e in fake.log if e.path.endswith(("/users/search", "/group/bulk"))]
    assert tokens["access_token"] not in run.stdout + run.stderr
