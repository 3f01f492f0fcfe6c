"""Base URLs: deployment auto-detection, DC context paths, a Confluence on its own host."""

from __future__ import annotations

import pytest

from tests.tapdriver import fake_config, run_tap


@pytest.mark.parametrize("flavour", ["cloud", "server"])
def test_deployment_auto_asks_server_info_once_without_credentials(fake_factory, flavour: str) -> None:  # noqa: ANN001
    fake = fake_factory(flavour=flavour, seed=7, size="small")
    config = fake_config(fake, deployment="auto", confluence_url=None)
    config = {k: v for k, v in config.items() if v is not None}
    run = run_tap(config)
    assert run.returncode == 0, run.last_stderr_line
    info = [e for e in fake.log if e.path.endswith("/serverInfo")]
    assert len(info) == 1 and info[0].auth_scheme is None
    api = "3" if flavour == "cloud" else "2"
    assert any(e.path == f"/rest/api/{api}/field" for e in fake.log)
    assert len(run.records["confluence_pages"]) == fake.data.page_count()
    assert len(run.records["jira_issues"]) == fake.data.issue_count()


def test_context_paths_and_a_separate_confluence_host(fake_factory) -> None:  # noqa: ANN001
    fake = fake_factory(flavour="server", seed=7, size="small", jira_context="/jira",
                        confluence_context="/confluence", confluence_host="separate")
    config = fake_config(fake, "pat", deployment="auto")
    config["url"] = fake.jira_url
    run = run_tap(config)
    assert run.returncode == 0, run.last_stderr_line
    assert len(run.records["confluence_pages"]) == fake.data.page_count()
    assert len(run.records["jsm_requests"]) > 0
    assert {e.host for e in fake.log if e.product == "confluence"} == {"confluence"}
    assert all(e.path.startswith("/confluence/") for e in fake.log if e.product == "confluence")
    assert all(e.path.startswith("/jira/") for e in fake.log if e.product in ("jira", "jsm"))


def test_confluence_only_server_is_detected_as_server(fake_factory) -> None:  # noqa: ANN001
    fake = fake_factory(flavour="server", seed=7, size="small", confluence_context="/confluence",
                        confluence_host="separate")
    config = fake_config(fake, deployment="auto", products=["confluence"])
    config.update(url=fake.confluence_url, jira_url=None)
    config = {k: v for k, v in config.items() if v is not None}
    run = run_tap(config)
    assert run.returncode == 0, run.last_stderr_line
    assert len(run.records["confluence_pages"]) == fake.data.page_count()


def test_connection_test_reads_one_record_per_stream(fake_factory) -> None:  # noqa: ANN001
    fake = fake_factory(flavour="cloud", seed=7, size="small")
    run = run_tap(fake_config(fake), args=["--test"])
    assert run.returncode == 0, run.last_stderr_line
    assert "connection test passed" in run.last_stderr_line
    assert not [ln for ln in run.stderr.splitlines() if "ERROR" in ln]
    bad = run_tap(fake_config(fake, api_token="wrong-token-000"), args=["--test"])
    assert bad.returncode == 1 and "401 Unauthorized" in bad.last_stderr_line
