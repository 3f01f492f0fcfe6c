"""Retries and failures over real HTTP: 429/503/5xx, truncated and non-JSON bodies, 401/403/404."""

from __future__ import annotations

from tests.tapdriver import fake_config, run_tap

SEARCH = {"cloud": r"/rest/api/3/search/jql", "server": r"/rest/api/2/search"}


def jira_only(fake, **kw):  # noqa: ANN001, ANN201
    return fake_config(fake, products=["jira_service_desk"], **kw)


def test_429_waits_for_retry_after(fake_factory) -> None:  # noqa: ANN001
    fake = fake_factory(flavour="cloud", seed=7, size="small")
    fake.control.inject(SEARCH["cloud"], "429", times=2, retry_after=1)
    run = run_tap(jira_only(fake, max_concurrent_requests=1))  # one search request at a time
    assert run.returncode == 0, run.last_stderr_line
    hits = [e for e in fake.log if e.path == "/rest/api/3/search/jql"]
    assert [e.status for e in hits[:3]] == [429, 429, 200]
    # the request log shows each retry came no sooner than Retry-After allowed
    assert hits[1].time - hits[0].time >= 0.95
    assert hits[2].time - hits[1].time >= 0.95
    assert len(run.records["jira_issues"]) == fake.data.issue_count()
    warnings = [ln for ln in run.stderr.splitlines() if "WARNING" in ln and "429" in ln]
    assert len(warnings) == 2 and "retrying" in warnings[0]
    assert not [ln for ln in run.stderr.splitlines() if "ERROR" in ln]


def test_503_and_500_are_retried(fake_factory) -> None:  # noqa: ANN001
    fake = fake_factory(flavour="server", seed=7, size="small")
    fake.control.inject(SEARCH["server"], "503", times=1, retry_after=0)
    fake.control.inject(r"/rest/servicedeskapi/servicedesk\?", "500", times=2)
    run = run_tap(jira_only(fake))
    assert run.returncode == 0, run.last_stderr_line
    statuses = [e.status for e in fake.log if e.path == "/rest/api/2/search"]
    assert statuses[:2] == [503, 200]
    desks = [e.status for e in fake.log if e.path == "/rest/servicedeskapi/servicedesk"]
    assert desks[:3] == [500, 500, 200]
    assert len(run.records["jira_issues"]) == fake.data.issue_count()


def test_a_retry_after_that_is_no_number_is_still_a_retry(fake_factory) -> None:  # noqa: ANN001
    fake = fake_factory(flavour="cloud", seed=7, size="small")
    fake.control.inject(SEARCH["cloud"], "503", times=1, retry_after="Wed, 21 Oct 2015 07:28:00 -0000")
    fake.control.inject(SEARCH["cloud"], "503", times=1, retry_after="soon")
    run = run_tap(jira_only(fake))
    assert run.returncode == 0, run.last_stderr_line
    statuses = [e.status for e in fake.log if e.path == "/rest/api/3/search/jql"]
    assert statuses[:3] == [503, 503, 200]
    assert len(run.records["jira_issues"]) == fake.data.issue_count()


def test_retries_are_bounded(fake_factory) -> None:  # noqa: ANN001
    fake = fake_factory(flavour="cloud", seed=7, size="small")
    fake.control.inject(SEARCH["cloud"], "503", times=None, retry_after=0)
    run = run_tap(jira_only(fake, max_retries=2, max_concurrent_requests=1))  # one search at a time
    assert run.returncode != 0
    assert len([e for e in fake.log if e.path == "/rest/api/3/search/jql"]) == 3
    assert "503" in run.last_stderr_line and "gave up after 3 tries" in run.last_stderr_line


def test_truncated_body_is_a_clear_error(fake_factory) -> None:  # noqa: ANN001
    fake = fake_factory(flavour="cloud", seed=7, size="small")
    fake.control.inject(SEARCH["cloud"], "truncated", times=None)
    run = run_tap(jira_only(fake, max_retries=1))
    assert run.returncode != 0
    assert "truncated" in run.last_stderr_line
    assert "GET /rest/api/3/search/jql" in run.last_stderr_line
    assert "Traceback" not in run.stderr


def test_truncated_body_once_is_retried(fake_factory) -> None:  # noqa: ANN001
    fake = fake_factory(flavour="server", seed=7, size="small")
    fake.control.inject(r"/rest/api/content\?", "truncated", times=1)
    run = run_tap(fake_config(fake, products=["confluence"]))
    assert run.returncode == 0, run.last_stderr_line
    assert len(run.records["confluence_pages"]) == fake.data.page_count()


def test_non_json_answer_is_a_clear_error(fake_factory) -> None:  # noqa: ANN001
    fake = fake_factory(flavour="cloud", seed=7, size="small")
    fake.control.inject(r"/wiki/api/v2/spaces", "non_json", times=1)
    run = run_tap(fake_config(fake, products=["confluence"]))
    assert run.returncode != 0
    line = run.last_stderr_line
    assert "not JSON" in line and "text/html" in line and "/wiki/api/v2/spaces" in line


def test_bad_credentials_are_fatal_with_the_servers_message(fake_factory) -> None:  # noqa: ANN001
    fake = fake_factory(flavour="server", seed=7, size="small")
    run = run_tap(jira_only(fake, password="wrong-password"))
    assert run.returncode != 0
    line = run.last_stderr_line
    assert "401" in line and "not authenticated" in line and "auth_scheme basic" in line
    assert "wrong-password" not in run.stderr


def test_403_on_the_product_is_fatal(fake_factory) -> None:  # noqa: ANN001
    fake = fake_factory(flavour="cloud", seed=7, size="small")
    fake.control.inject(SEARCH["cloud"], "403", times=None)
    run = run_tap(jira_only(fake))
    assert run.returncode != 0
    assert "403" in run.last_stderr_line and "permission" in run.last_stderr_line


def test_403_on_one_service_desk_is_a_warning(fake_factory) -> None:  # noqa: ANN001
    fake = fake_factory(flavour="cloud", seed=7, size="small")
    desk = fake.data.service_desks()[0]
    fake.control.inject(rf"/servicedesk/{desk['service_desk_id']}/requesttype", "403", times=None)
    run = run_tap(jira_only(fake))
    assert run.returncode == 0, run.last_stderr_line
    got = {r["serviceDeskId"] for r in run.records["jsm_request_types"]}
    assert desk["service_desk_id"] not in got and len(got) == len(fake.data.service_desks()) - 1
    assert any("WARNING" in ln and desk["key"] in ln for ln in run.stderr.splitlines())


def test_404_on_one_request_is_a_warning(fake_factory) -> None:  # noqa: ANN001
    fake = fake_factory(flavour="server", seed=7, size="small")
    desk_keys = sorted(p["key"] for p in fake.data.service_desks())
    victim = fake.data.issues(desk_keys)[0].key
    fake.control.inject(rf"/rest/servicedeskapi/request/{victim}(\?|$)", "404", times=None)
    run = run_tap(jira_only(fake))
    assert run.returncode == 0, run.last_stderr_line
    assert victim not in {r["issueKey"] for r in run.records["jsm_requests"]}
    assert any("WARNING" in ln and victim in ln for ln in run.stderr.splitlines())
