"""jira_issue_worklogs, Cloud and Server/DC, both ways of finding changes: the site-wide feed
(no ``project_keys``: /worklog/updated -> /worklog/list, tombstones from /worklog/deleted) and
the changed issues' worklogs (``project_keys``: the search's embedded worklogs, /issue/{id}/worklog
when more than 20, tombstones for worklogs gone from a re-read issue). Expected sets come from
the fake's seeded data (``fake.worklogs``)."""

from __future__ import annotations

import collections
import datetime as dt

import jsonschema
import pytest

from tests.tapdriver import jira_run_config, leaks, run_tap

STREAM = "jira_issue_worklogs"
UTC = dt.timezone.utc
PROJECTS = ["SWA", "SDB"]
MODES = ["feed", "per_issue"]
CASES = [(mode, flavour) for mode in MODES for flavour in ("cloud", "server")]


def iso(value: dt.datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def ms_iso(ms: int) -> str:
    return iso(dt.datetime.fromtimestamp(ms / 1000, UTC))


def configure(fake, mode: str, **overrides):  # noqa: ANN001, ANN201
    if mode == "per_issue":
        overrides.setdefault("project_keys", PROJECTS)
    return jira_run_config(fake, [STREAM], **overrides)


def expected(fake, mode: str) -> dict[str, str]:  # noqa: ANN001
    """Worklog id -> issue id of every live worklog the mode reads."""
    keys = {p["key"]: p["idx"] for p in fake.data.projects}
    proj = fake.data.issue_columns()[0]
    wanted = None if mode == "feed" else {keys[k] for k in PROJECTS}
    return {str(w.id): str(10000 + w.idx) for w in fake.worklogs.live() if wanted is None or proj[w.idx] in wanted}


def live(run) -> list[dict]:  # noqa: ANN001
    return [r for r in run.records.get(STREAM, []) if not r.get("_sdc_deleted_at")]


def tombstones(run) -> list[dict]:  # noqa: ANN001
    return [r for r in run.records.get(STREAM, []) if r.get("_sdc_deleted_at")]


def bookmark(run) -> str:  # noqa: ANN001
    return run.last_state["bookmarks"][STREAM]["replication_key_value"]


def tap_requests(fake, path_part: str, since: int = 0) -> list:  # noqa: ANN001
    return [e for e in fake.log[since:] if path_part in e.path
            and e.headers.get("user-agent", "").startswith("tap-atlassian/")]


@pytest.mark.parametrize(("mode", "flavour"), CASES)
@pytest.mark.parametrize("page_size", [3, 50])
def test_every_worklog_exactly_once(fake_factory, mode: str, flavour: str, page_size: int) -> None:  # noqa: ANN001
    fake = fake_factory(flavour=flavour, seed=7, size="small")
    fake.worklogs.feed_limit = 10 if page_size == 3 else 1000  # the server's feed page, two sizes too
    config, catalog = configure(fake, mode, page_size=page_size)
    run = run_tap(config, catalog=catalog)
    assert run.returncode == 0, run.last_stderr_line
    want = expected(fake, mode)
    got = [str(r["id"]) for r in live(run)]
    dupes = [k for k, n in collections.Counter(got).items() if n > 1]
    assert not dupes, f"emitted twice: {dupes[:5]}"
    assert set(got) == set(want), f"missing {sorted(set(want) - set(got))[:5]}, extra {sorted(set(got) - set(want))[:5]}"
    assert not tombstones(run), "nothing was deleted"
    schema = run.schemas[STREAM]["schema"]
    validator = jsonschema.Draft7Validator(schema)
    for record in live(run):
        assert record["issueId"] == want[str(record["id"])], "a worklog must carry its issue's id"
        errors = [e.message for e in validator.iter_errors(record)]
        assert not errors, f"worklog {record['id']}: {errors[:3]}"
    assert bookmark(run) == max(r["updated"] for r in live(run))
    if mode == "feed":
        lists = tap_requests(fake, "/worklog/list")
        assert lists and all(e.method == "POST" for e in lists)
        assert not tap_requests(fake, "/search"), "the feed needs no issue search"
        assert (len(tap_requests(fake, "/worklog/updated")) > 1) == (page_size == 3), "the feed's pages"
    else:
        big = [i for i, n in collections.Counter(want.values()).items() if n > 20]
        reads = tap_requests(fake, "/worklog")
        assert big and {e.path.split("/")[-2] for e in reads} == set(big), \
            "only an issue with more worklogs than the search embeds is read on its own"
        assert len(reads) == -(-max(collections.Counter(want.values()).values()) // page_size)
        assert not tap_requests(fake, "/worklog/updated"), "project_keys does not read the site-wide feed"
    assert not leaks(run, config)


def pick(fake, mode: str, n: int) -> list:  # noqa: ANN001
    """n worklogs the mode reads, on different issues, none on the busiest issue."""
    want = expected(fake, mode)
    by_issue: dict[str, list[str]] = collections.defaultdict(list)
    for wid, issue in want.items():
        by_issue[issue].append(wid)
    issues = [i for i, ws in sorted(by_issue.items()) if len(ws) < 5]
    return [fake.worklogs.get(by_issue[i][0]) for i in issues[:n]]


@pytest.mark.parametrize(("mode", "flavour"), CASES)
def test_second_run_emits_the_changed_worklogs_only(fake_factory, mode: str, flavour: str) -> None:  # noqa: ANN001
    fake = fake_factory(flavour=flavour, seed=3, size="small")
    config, catalog = configure(fake, mode, page_size=7)
    first = run_tap(config, catalog=catalog)
    assert first.returncode == 0, first.last_stderr_line
    mark = bookmark(first)
    boundary = {str(r["id"]) for r in live(first) if r["updated"] == mark}
    when = iso(dt.datetime.now(UTC) - dt.timedelta(minutes=10))  # the feed leaves out the last minute
    edited, host, bystander = pick(fake, mode, 3)
    fake.worklogs.update(edited.id, at=when)
    added = fake.worklogs.add(10000 + host.idx, at=when)["id"]
    fake.control.touch("issue", 10000 + bystander.idx, at=when)  # an issue changed, not its worklogs
    second = run_tap(config, catalog=catalog, state=first.last_state)
    assert second.returncode == 0, second.last_stderr_line
    got = [str(r["id"]) for r in live(second)]
    changed = {str(edited.id), added}
    assert changed <= set(got), "a changed worklog was missed"
    assert set(got) - changed <= boundary, f"unchanged worklogs emitted again: {sorted(set(got) - changed - boundary)[:5]}"
    assert len(got) == len(set(got))
    assert not tombstones(second)
    assert bookmark(second) == when
    third = run_tap(config, catalog=catalog, state=second.last_state)
    assert {str(r["id"]) for r in live(third)} <= changed


@pytest.mark.parametrize(("mode", "flavour"), CASES)
def test_deleted_worklogs_become_tombstones(fake_factory, mode: str, flavour: str) -> None:  # noqa: ANN001
    fake = fake_factory(flavour=flavour, seed=5, size="small")
    config, catalog = configure(fake, mode, page_size=50)
    first = run_tap(config, catalog=catalog)
    assert first.returncode == 0, first.last_stderr_line
    when = iso(dt.datetime.now(UTC) - dt.timedelta(minutes=10))
    gone = pick(fake, mode, 2)
    issue_of = {str(w.id): str(10000 + w.idx) for w in gone}
    for w in gone:
        fake.worklogs.delete(w.id, at=when)
    second = run_tap(config, catalog=catalog, state=first.last_state)
    assert second.returncode == 0, second.last_stderr_line
    dead = tombstones(second)
    assert sorted(r["id"] for r in dead) == sorted(str(w.id) for w in gone)
    for record in dead:
        assert dt.datetime.fromisoformat(record["_sdc_deleted_at"].replace("Z", "+00:00")) > dt.datetime.now(UTC) - dt.timedelta(minutes=5)
        if mode == "per_issue":
            assert record["issueId"] == issue_of[record["id"]], "a tombstone read per issue names its issue"
    assert not {str(w.id) for w in gone} & {str(r["id"]) for r in live(second)}
    assert bookmark(second) == bookmark(first), "a tombstone must not move the bookmark"
    third = run_tap(config, catalog=catalog, state=second.last_state)
    assert third.returncode == 0, third.last_stderr_line
    assert not tombstones(third), "a deletion is reported once"


def test_per_issue_tombstones_name_their_issue(fake_factory) -> None:  # noqa: ANN001
    fake = fake_factory(flavour="cloud", seed=5, size="small")
    config, catalog = configure(fake, "per_issue")
    first = run_tap(config, catalog=catalog)
    w = pick(fake, "per_issue", 1)[0]
    fake.worklogs.delete(w.id, at=iso(dt.datetime.now(UTC) - dt.timedelta(minutes=10)))
    second = run_tap(config, catalog=catalog, state=first.last_state)
    assert [(r["id"], r["issueId"]) for r in tombstones(second)] == [(str(w.id), str(10000 + w.idx))]
    state = second.last_state["bookmarks"][STREAM]
    assert isinstance(state.get("children"), str), "the ids read per issue live in the state, as one string"


def test_per_issue_worklogs_of_a_deleted_issue_become_tombstones(fake_factory) -> None:  # noqa: ANN001
    fake = fake_factory(flavour="server", seed=5, size="small")
    config, catalog = configure(fake, "per_issue")
    first = run_tap(config, catalog=catalog)
    assert first.returncode == 0, first.last_stderr_line
    victim = pick(fake, "per_issue", 1)[0]
    logs = {str(w.id) for w in fake.worklogs.of_issue(victim.idx)}
    fake.control.delete("issue", 10000 + victim.idx)
    state = first.last_state
    state["bookmarks"][STREAM]["swept_at"] = "2000-01-01T00:00:00.000Z"  # the daily id sweep is due
    second = run_tap(config, catalog=catalog, state=state)
    assert second.returncode == 0, second.last_stderr_line
    assert {(r["id"], r["issueId"]) for r in tombstones(second)} == {(w, str(10000 + victim.idx)) for w in logs}


@pytest.mark.parametrize("flavour", ["cloud", "server"])
def test_feed_is_never_stuck_on_one_millisecond(fake_factory, flavour: str) -> None:  # noqa: ANN001
    """Eight worklogs imported on one issue at the same millisecond, a feed page of three: the
    feed cannot page within that millisecond. The run moves on with one warning, reads the rest
    of the import from the issue the listed ones belong to, and reads everything else."""
    fake = fake_factory(flavour=flavour, seed=7, size="small")
    fake.worklogs.feed_limit = 3
    at, size = collections.Counter(w.updated for w in fake.worklogs.live()).most_common(1)[0]
    assert size > 3, "the seed has no import batch larger than a feed page"
    config, catalog = configure(fake, "feed")
    run = run_tap(config, catalog=catalog, timeout=120)
    assert run.returncode == 0, run.last_stderr_line
    stuck = [ln for ln in run.stderr.splitlines() if "cannot page within one millisecond" in ln]
    assert len(stuck) == 1 and ms_iso(at) in stuck[0] and f"{size - 3} more were read" in stuck[0]
    got = collections.Counter(str(r["id"]) for r in live(run))
    assert set(got) == {str(w.id) for w in fake.worklogs.live()} and max(got.values()) == 1
    updated = [r["updated"] for r in live(run)]
    assert updated == sorted(updated), "the feed's records come oldest change first"
    assert len(tap_requests(fake, "/worklog/updated")) < 200


@pytest.mark.parametrize("flavour", ["cloud", "server"])
def test_killed_feed_run_resumes_from_its_bookmark(fake_factory, flavour: str) -> None:  # noqa: ANN001
    fake = fake_factory(flavour=flavour, seed=9, size="small")
    fake.worklogs.feed_limit = 25
    config, catalog = configure(fake, "feed", page_size=10)
    killed = run_tap(config, catalog=catalog, stop_after_records=75)
    assert killed.returncode != 0
    emitted = {str(r["id"]) for r in live(killed)}
    assert killed.last_state["bookmarks"][STREAM].get("replication_key_value"), "no resumable state before the kill"
    resumed = run_tap(config, catalog=catalog, state=killed.last_state)
    assert resumed.returncode == 0, resumed.last_stderr_line
    again = {str(r["id"]) for r in live(resumed)}
    want = set(expected(fake, "feed"))
    assert emitted | again == want, f"lost: {sorted(want - emitted - again)[:5]}"
    assert len(again) < len(want) - 50, "the resumed run started over instead of resuming"


@pytest.mark.parametrize("last_page_key", ["isLastPage", None])
def test_feed_pages_without_lastpage_are_followed(fake_factory, last_page_key: str | None) -> None:  # noqa: ANN001
    """A Server/DC build writing `isLastPage` (or no flag at all): the feed is still followed to
    its end by the flag it has, else by `nextPage`."""
    fake = fake_factory(flavour="server", seed=7, size="small")
    fake.worklogs.feed_limit = 20
    fake.worklogs.last_page_key = last_page_key
    config, catalog = configure(fake, "feed")
    run = run_tap(config, catalog=catalog)
    assert run.returncode == 0, run.last_stderr_line
    assert sorted(str(r["id"]) for r in live(run)) == sorted(expected(fake, "feed"))
