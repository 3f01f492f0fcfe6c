"""A Jira without Service Management (every `/rest/servicedeskapi/` path answers 404) is not an
error: the JSM streams are skipped with ONE warning naming the product and the streams, the
probe is asked once, and the run, `--test` and `--discover` succeed with everything else."""

from __future__ import annotations

import pytest

from tests.tapdriver import discover, fake_config, run_tap, select
from tests.test_tap_jsm_children import SDS, tap_requests

JSM_STREAMS = {"jsm_service_desks", "jsm_request_types", "jsm_requests", "jsm_organizations", "jsm_customers",
               "jsm_queues", "jsm_request_comments", "jsm_request_sla", "jsm_request_participants",
               "jsm_request_approvals", "jsm_request_feedback"}


def warnings(stderr: str) -> list[str]:
    """WARNING lines about Service Management (other products' streams may warn of their own things)."""
    return [line for line in stderr.splitlines() if "WARNING" in line
            and ("Service Management" in line or "jsm_" in line or "servicedesk" in line)]


@pytest.mark.parametrize("flavour", ["cloud", "server"])
def test_sync_skips_service_management_with_one_warning(fake_factory, flavour: str) -> None:  # noqa: ANN001
    fake = fake_factory(flavour=flavour, service_management=False, issues=20)
    config = fake_config(fake, products=["jira_service_desk"])
    catalog = discover(config)
    names = {s["tap_stream_id"] for s in catalog["streams"]}
    offered = JSM_STREAMS - ({"jsm_request_feedback"} if flavour == "server" else set())  # Cloud only
    assert offered <= names, "discovery lists them: the product is only probed when syncing"
    assert not [e for e in tap_requests(fake) if SDS in e.path], "discovery does not probe"
    run = run_tap(config, catalog=select(catalog, {"jira_issues", "jira_issue_comments", "jira_fields", *JSM_STREAMS}))
    assert run.returncode == 0, run.last_stderr_line
    assert not JSM_STREAMS & set(run.records)
    assert {"jira_issues", "jira_issue_comments", "jira_fields"} <= set(run.records)
    lines = warnings(run.stderr)
    assert len(lines) == 1, lines
    assert "Jira Service Management" in lines[0] and "404" in lines[0]
    assert all(name in lines[0] for name in offered), "the warning names every skipped stream"
    probes = [e for e in tap_requests(fake) if SDS in e.path]
    assert [e.path for e in probes] == [SDS + "/servicedesk"], "one probe per run"


def test_connection_test_succeeds_with_one_warning(fake_factory) -> None:  # noqa: ANN001
    fake = fake_factory(flavour="cloud", service_management=False, issues=10)
    run = run_tap(fake_config(fake), args=["--test"])
    assert run.returncode == 0, run.last_stderr_line
    lines = warnings(run.stderr)
    assert len(lines) == 1 and "Jira Service Management" in lines[0], lines


def test_only_service_management_selected(fake_factory) -> None:  # noqa: ANN001
    fake = fake_factory(flavour="server", service_management=False, issues=10)
    config = fake_config(fake, products=["jira_service_desk"])
    run = run_tap(config, catalog=select(discover(config), ["jsm_requests", "jsm_request_sla"]))
    assert run.returncode == 0, run.last_stderr_line
    assert not run.records
    lines = warnings(run.stderr)
    assert len(lines) == 1 and "jsm_request_sla, jsm_requests" in lines[0], lines


def test_a_site_with_service_management_warns_nothing(fake_factory) -> None:  # noqa: ANN001
    fake = fake_factory(flavour="cloud", issues=10)
    config = fake_config(fake, products=["jira_service_desk"])
    run = run_tap(config, catalog=select(discover(config), ["jsm_service_desks", "jsm_queues"]))
    assert run.returncode == 0, run.last_stderr_line
    assert not warnings(run.stderr)
    assert run.records["jsm_service_desks"] and run.records["jsm_queues"]


def test_a_refused_probe_is_not_a_missing_product(fake_factory) -> None:  # noqa: ANN001
    fake = fake_factory(flavour="cloud", issues=10)
    fake.control.inject(rf"{SDS}/servicedesk\?", "403", None)
    config = fake_config(fake, products=["jira_service_desk"])
    run = run_tap(config, catalog=select(discover(config), ["jsm_service_desks"]))
    assert run.returncode != 0
    assert "403" in run.last_stderr_line and "servicedesk" in run.last_stderr_line


def test_products_jira_is_the_jira_product_as_users_write_it(fake_factory) -> None:  # noqa: ANN001
    fake = fake_factory(flavour="cloud", service_management=False, issues=10)
    config = fake_config(fake, products=["jira"])
    names = {s["tap_stream_id"] for s in discover(config)["streams"]}
    assert "jira_issues" in names and JSM_STREAMS <= names
    assert not [n for n in names if n.startswith("confluence_")]
    run = run_tap(config, catalog=select(discover(config), {"jira_issues", *JSM_STREAMS}))
    assert run.returncode == 0, run.last_stderr_line
    assert set(run.records) == {"jira_issues"}
    assert len(warnings(run.stderr)) == 1


def test_feedback_is_offered_on_cloud_only(fake_factory) -> None:  # noqa: ANN001
    def names(flavour: str) -> set[str]:
        fake = fake_factory(flavour=flavour, issues=5)
        return {s["tap_stream_id"] for s in discover(fake_config(fake, products=["jira_service_desk"]))["streams"]}

    assert "jsm_request_feedback" in names("cloud")
    server = names("server")
    assert "jsm_request_feedback" not in server, "Data Center has no feedback resource"
    assert JSM_STREAMS - {"jsm_request_feedback"} <= server
