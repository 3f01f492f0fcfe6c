"""Progress and logs a person can read: periodic lines on a long sync (records, rate, percent and
ETA where the API gives a total), one summary line per stream, no warning on a normal run."""

from __future__ import annotations

import re

import pytest

from tests.tapdriver import discover, fake_config, run_tap, select


FIRST_SET = ["confluence_spaces", "confluence_pages", "confluence_blogposts", "jira_fields", "jira_issues",
             "jira_issue_comments", "jira_issue_changelogs", "jsm_service_desks", "jsm_request_types",
             "jsm_requests"]


def lines(run, pattern: str) -> list[str]:  # noqa: ANN001
    return [ln for ln in run.stderr.splitlines() if re.search(pattern, ln)]


@pytest.mark.parametrize("flavour", ["cloud", "server"])
def test_a_long_sync_reports_progress_with_percent_and_eta(fake_factory, flavour) -> None:  # noqa: ANN001
    fake = fake_factory(flavour=flavour, issues=120)
    # max_concurrent_requests 1: one search, whose first answer carries Server/DC's total
    config = fake_config(fake, products=["jira_service_desk"], page_size=10, progress_seconds=0.5,
                         max_concurrent_requests=1)
    catalog = select(discover(config), ["jira_issues"])
    fake.control.set_latency(60)
    run = run_tap(config, catalog=catalog)
    assert run.returncode == 0, run.last_stderr_line
    periodic = lines(run, r"\| jira_issues: [\d,]+ records so far")
    assert periodic, run.stderr[-2000:]
    total = fake.data.issue_count()
    for line in periodic:
        assert re.search(rf"jira_issues: [\d,]+ records so far \([\d,]+/s\), \d+% of about {total}(, ETA [\d.]+ (s|min))?",
                         line), line
    assert any("ETA" in line for line in periodic)


def test_each_stream_ends_with_one_summary_line(fake_factory) -> None:  # noqa: ANN001
    fake = fake_factory(flavour="cloud")
    fake.control.inject(r"/rest/api/3/search/jql", "429", times=1, retry_after=1)
    config = fake_config(fake, products=["jira_service_desk"])
    run = run_tap(config, catalog=select(discover(config), FIRST_SET))
    assert run.returncode == 0, run.last_stderr_line
    for stream, records in run.records.items():
        summary = lines(run, rf"\| {stream}: done: ")
        assert len(summary) == 1, (stream, summary)
        assert f"{stream}: done: {len(records):,} records in " in summary[0]
        assert re.search(r"; [\d,]+ requests?, \d+ retr(y|ies), \d+ 429s? \([\d.]+ s waited\)$", summary[0])
    throttled = lines(run, r": done: .*1 retry, 1 429 \((?!0\.0 s)[\d.]+ s waited\)$")
    assert len(throttled) == 1  # the stream whose search the 429 hit, with the wait
    # no progress line on a short sync, and the summary is not a METRIC line
    assert not lines(run, r"records so far")


@pytest.mark.parametrize("flavour", ["cloud", "server"])
def test_a_normal_run_logs_no_warning(fake_factory, flavour) -> None:  # noqa: ANN001
    fake = fake_factory(flavour=flavour)
    # every stream (the SDK's "Stream is assumed to be unsorted" notice came from the
    # Confluence full syncs, twice every run; a kanban board without sprints is no warning)
    run = run_tap(fake_config(fake))
    assert run.returncode == 0, run.last_stderr_line
    assert lines(run, r"\| (WARNING|ERROR) ") == []
