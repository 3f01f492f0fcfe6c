"""Jira Software streams (jira_boards, jira_sprints, jira_sprint_issues), Cloud and Server/DC:
every board, every sprint once although a board spanning the software projects shows them all
again, kanban boards skipped with a warning (400), sprint membership with closed sprints read
once, project_keys, and a Jira without Jira Software (404 on /rest/agile/) skipped with one
warning while the rest of the run goes on. Expected sets come from the fake (``fake.agile``)."""

from __future__ import annotations

import collections

import jsonschema
import pytest

from tests.tapdriver import discover, jira_run_config, leaks, run_tap, select

AGILE = ["jira_boards", "jira_sprints", "jira_sprint_issues"]
FLAVOURS = ["cloud", "server"]


def memberships(fake) -> set[tuple[int, str]]:  # noqa: ANN001
    return {(sid, str(10000 + i)) for sid, sp in fake.agile.sprints.items() for i in sp.issues}


def sprint_reads(fake, since: int = 0) -> collections.Counter:  # noqa: ANN001
    """How many times each sprint's issues were read (first pages only)."""
    return collections.Counter(int(e.path.split("/")[-2]) for e in fake.log[since:]
                               if e.path.endswith("/issue") and "/rest/agile/1.0/sprint/" in e.path
                               and e.query.get("startAt", ["0"]) == ["0"])


def valid(run, stream: str) -> None:  # noqa: ANN001
    validator = jsonschema.Draft7Validator(run.schemas[stream]["schema"])
    for record in run.records.get(stream, []):
        errors = [e.message for e in validator.iter_errors(record)]
        assert not errors, f"{stream} {record}: {errors[:3]}"


@pytest.mark.parametrize("flavour", FLAVOURS)
@pytest.mark.parametrize("page_size", [3, 50])
def test_boards_sprints_and_membership_exactly_once(fake_factory, flavour: str, page_size: int) -> None:  # noqa: ANN001
    fake = fake_factory(flavour=flavour, seed=7, size="small")
    config, catalog = jira_run_config(fake, AGILE, page_size=page_size)
    run = run_tap(config, catalog=catalog)
    assert run.returncode == 0, run.last_stderr_line
    fake.agile._ensure()
    boards = run.ids("jira_boards")
    assert sorted(boards) == sorted(b.id for b in fake.agile.boards) and len(boards) == len(set(boards))
    assert {r["type"] for r in run.records["jira_boards"]} == {"scrum", "kanban"}
    sprints = run.ids("jira_sprints")
    assert sorted(sprints) == sorted(fake.agile.sprints), "every sprint, once, though a board shows them all again"
    assert {r["state"] for r in run.records["jira_sprints"]} == {"closed", "active", "future"}
    pairs = [(r["sprintId"], r["issueId"]) for r in run.records["jira_sprint_issues"]]
    assert len(pairs) == len(set(pairs)) and set(pairs) == memberships(fake)
    keys = {str(10000 + i): fake.data.issue_key(i) for sp in fake.agile.sprints.values() for i in sp.issues}
    assert all(r["key"] == keys[r["issueId"]] for r in run.records["jira_sprint_issues"])
    kanban = [b for b in fake.agile.boards if b.type == "kanban"]
    warned = [ln for ln in run.stderr.splitlines() if "does not support sprints" in ln]
    assert len(warned) == len(kanban), "one warning per kanban board, however many streams read sprints"
    assert all(f"board {b.id} " in "".join(warned) for b in kanban)
    assert sum(sprint_reads(fake).values()) and max(sprint_reads(fake).values()) == 1, "each sprint's issues read once"
    if page_size == 3:
        assert fake.log.find("/rest/agile/1.0/board", status=200) and [
            e for e in fake.log if e.path.endswith("/board") and e.query.get("startAt") == ["3"]], "boards not paged"
    for stream in AGILE:
        valid(run, stream)
    assert not leaks(run, config)


@pytest.mark.parametrize("flavour", FLAVOURS)
def test_closed_sprints_membership_is_read_once(fake_factory, flavour: str) -> None:  # noqa: ANN001
    fake = fake_factory(flavour=flavour, seed=4, size="small")
    config, catalog = jira_run_config(fake, ["jira_sprint_issues"], page_size=10)
    first = run_tap(config, catalog=catalog)
    assert first.returncode == 0, first.last_stderr_line
    fake.agile._ensure()
    by_state = collections.defaultdict(set)
    for sid, sp in fake.agile.sprints.items():
        by_state[sp.state].add(sid)
    active = sorted(by_state["active"])[0]
    newcomer = next(r for r in fake.data.issues(["SWA", "SWB"]) if r.idx not in fake.agile.sprints[active].issues)
    fake.agile.add_to_sprint(active, newcomer.id)
    closing = sorted(by_state["active"])[-1]
    seen = len(fake.log)
    second = run_tap(config, catalog=catalog, state=first.last_state)
    assert second.returncode == 0, second.last_stderr_line
    reads = sprint_reads(fake, seen)
    assert set(reads) == by_state["active"] | by_state["future"], "closed sprints read again, or open ones not"
    pairs = {(r["sprintId"], r["issueId"]) for r in second.records["jira_sprint_issues"]}
    assert (active, newcomer.id) in pairs
    assert pairs == {p for p in memberships(fake) if p[0] not in by_state["closed"]}
    fake.agile.close_sprint(closing)
    seen = len(fake.log)
    third = run_tap(config, catalog=catalog, state=second.last_state)
    assert set(sprint_reads(fake, seen)) == (by_state["active"] | by_state["future"]), \
        "a sprint closed since the last run is read once more"
    seen = len(fake.log)
    fourth = run_tap(config, catalog=catalog, state=third.last_state)
    assert fourth.returncode == 0
    assert closing not in sprint_reads(fake, seen), "a closed sprint already read is not read again"
    assert closing in fourth.last_state["bookmarks"]["jira_sprint_issues"]["closed_sprints_read"]


def test_project_keys_limit_the_boards(fake_factory) -> None:  # noqa: ANN001
    fake = fake_factory(flavour="cloud", seed=7, size="small")
    config, catalog = jira_run_config(fake, AGILE, project_keys=["SWB"])
    run = run_tap(config, catalog=catalog)
    assert run.returncode == 0, run.last_stderr_line
    fake.agile._ensure()
    want = [b for b in fake.agile.boards if b.project is None or b.project["key"] == "SWB"]
    assert sorted(run.ids("jira_boards")) == sorted(b.id for b in want)
    listings = [e for e in fake.log if e.path.endswith("/rest/agile/1.0/board") and "startAt" in e.query]
    assert listings and all(e.query.get("projectKeyOrId") == ["SWB"] for e in listings)
    shown = {sid for b in want if b.type == "scrum" for sid in b.sprints}
    assert sorted(run.ids("jira_sprints")) == sorted(shown)


@pytest.mark.parametrize("flavour", FLAVOURS)
def test_site_without_jira_software_skips_agile_with_one_warning(fake_factory, flavour: str) -> None:  # noqa: ANN001
    fake = fake_factory(flavour=flavour, seed=7, size="small", issues=12)
    fake.agile.enabled = False
    config, catalog = jira_run_config(fake, [*AGILE, "jira_issues"])
    run = run_tap(config, catalog=catalog)
    assert run.returncode == 0, run.last_stderr_line
    assert len(run.records["jira_issues"]) == 12, "the rest of the run goes on"
    assert not any(s in run.records for s in AGILE)
    warnings = [ln for ln in run.stderr.splitlines() if "WARNING" in ln and "Jira Software" in ln]
    assert len(warnings) == 1, warnings
    agile_calls = [e for e in fake.log if e.path.startswith(fake.jira_context + "/rest/agile/")]
    assert len(agile_calls) == 1 and agile_calls[0].status == 404, "one probe, nothing more"


def test_a_board_or_sprint_refusing_its_read_is_a_warning(fake_factory) -> None:  # noqa: ANN001
    fake = fake_factory(flavour="server", seed=7, size="small")
    fake.agile._ensure()
    hidden_board = next(b for b in fake.agile.boards if b.type == "scrum" and b.project is not None)
    only_there = [sid for sid in hidden_board.sprints]
    gone_sprint = next(s for s in fake.agile.sprints.values() if s.state == "active")
    fake.control.inject(rf"/rest/agile/1\.0/board/{hidden_board.id}/sprint\b", "404", None)
    fake.control.inject(rf"/rest/agile/1\.0/sprint/{gone_sprint.id}/issue\b", "403", None)
    config, catalog = jira_run_config(fake, AGILE, project_keys=["SWA", "SWB", "NOPE"])
    run = run_tap(config, catalog=catalog)
    assert run.returncode == 0, run.last_stderr_line
    assert f"board {hidden_board.id} ({hidden_board.name}" in run.stderr
    assert f"sprint {gone_sprint.id} ({gone_sprint.name}) skipped" in run.stderr
    assert "project NOPE skipped" in run.stderr
    assert sorted(run.ids("jira_sprints")) == sorted(fake.agile.sprints), \
        "the board spanning every project still shows the hidden board's sprints"
    assert set(only_there) <= set(run.ids("jira_sprints"))
    pairs = {(r["sprintId"], r["issueId"]) for r in run.records["jira_sprint_issues"]}
    assert pairs == {p for p in memberships(fake) if p[0] != gone_sprint.id}


def test_oauth_token_without_the_sprint_scope_skips_the_sprint_streams(fake_factory, tmp_path) -> None:  # noqa: ANN001
    from tap_atlassian.settings_file import SettingsFile
    from tests.test_oauth2_tap import OAuthRuns

    fake = fake_factory(flavour="cloud", seed=7, size="small")
    runs = OAuthRuns(fake, tmp_path, products=["jira_service_desk"])
    tokens = fake.oauth2.issue("read:jira-work read:board-scope:jira-software read:project:jira offline_access")
    SettingsFile(runs.settings_path, runs.config["oauth_client_secret"]).save({"oauth2": {
        "client_id": runs.config["oauth_client_id"], "access_token": tokens["access_token"],
        "refresh_token": tokens["refresh_token"], "expires_at": __import__("time").time() + 3600,
        "scope": tokens["scope"]}})
    run = runs.run(catalog=select(discover(runs.config), AGILE))
    assert run.returncode == 0, run.stderr[-3000:]
    assert len(run.records.get("jira_boards", [])) == 5
    for stream in ("jira_sprints", "jira_sprint_issues"):
        assert stream not in run.records
        assert any(f"{stream} skipped" in ln and "read:sprint:jira-software" in ln for ln in run.stderr.splitlines())
    assert not [e for e in fake.log if "/sprint" in e.path]
    runs.assert_clean()


@pytest.mark.parametrize("flavour", FLAVOURS)
def test_an_issue_taken_out_of_an_open_sprint_is_a_tombstone(fake_factory, flavour: str) -> None:  # noqa: ANN001
    fake = fake_factory(flavour=flavour, seed=7, size="small")
    config, catalog = jira_run_config(fake, ["jira_sprint_issues"])
    first = run_tap(config, catalog=catalog)
    assert first.returncode == 0, first.last_stderr_line
    future = next(s for s in fake.agile.sprints.values() if s.state == "future" and s.issues)
    leaving = future.issues[0]
    fake.agile.remove_from_sprint(future.id, 10000 + leaving)
    second = run_tap(config, catalog=catalog, state=first.last_state)
    assert second.returncode == 0, second.last_stderr_line
    dead = [r for r in second.records["jira_sprint_issues"] if r.get("_sdc_deleted_at")]
    assert [(r["sprintId"], r["issueId"]) for r in dead] == [(future.id, str(10000 + leaving))]
    live = {(r["sprintId"], r["issueId"]) for r in second.records["jira_sprint_issues"] if not r.get("_sdc_deleted_at")}
    assert (future.id, str(10000 + leaving)) not in live
    third = run_tap(config, catalog=catalog, state=second.last_state)
    assert not [r for r in third.records["jira_sprint_issues"] if r.get("_sdc_deleted_at")], "reported once"
