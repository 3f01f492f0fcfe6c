"""OAuth 2.0: the JSM streams' scopes. A token with the default scope set reads every JSM
stream; one without the customer scopes skips jsm_organizations and jsm_customers with a
warning naming the scope, and reads the rest."""

from __future__ import annotations

import time

from tap_atlassian.auth.oauth2 import DEFAULT_SCOPES, scopes_for_stream
from tap_atlassian.settings_file import SettingsFile
from tests.tapdriver import discover, run_tap, select
from tests.test_oauth2_tap import OAuthRuns
from tests.test_tap_jsm_missing import JSM_STREAMS


def login(fake, tmp_path, scopes: str) -> OAuthRuns:  # noqa: ANN001
    runs = OAuthRuns(fake, tmp_path)
    tokens = fake.oauth2.issue(scopes)
    SettingsFile(runs.settings_path, runs.config["oauth_client_secret"]).save({"oauth2": {
        "client_id": runs.config["oauth_client_id"], "access_token": tokens["access_token"],
        "refresh_token": tokens["refresh_token"], "expires_at": time.time() + 3600, "scope": tokens["scope"]}})
    return runs


def test_every_jsm_stream_has_its_scopes_in_the_default_set() -> None:
    for stream in JSM_STREAMS:
        groups = scopes_for_stream(stream)
        assert groups, stream
        assert all(set(group) & set(DEFAULT_SCOPES) for group in groups), stream


def test_every_stream_class_states_scopes_the_default_set_grants() -> None:
    """The scopes come from the stream classes (`oauth_scopes`); none is left without."""
    from tap_atlassian.streams import STREAMS

    for _, cls in STREAMS:
        groups = scopes_for_stream(cls.name)
        assert groups == cls.oauth_scopes and groups, cls.name
        assert all(set(group) & set(DEFAULT_SCOPES) for group in groups), cls.name
    assert scopes_for_stream("no_such_stream") == ()


def test_a_token_without_the_customer_scopes_skips_those_streams(fake_factory, tmp_path) -> None:  # noqa: ANN001
    fake = fake_factory(flavour="cloud", issues=20)
    runs = login(fake, tmp_path, "read:jira-work read:jira-user read:servicedesk-request offline_access")
    config = {**runs.config, "products": ["jira_service_desk"]}
    run = run_tap(config, catalog=select(discover(config), JSM_STREAMS))
    assert run.returncode == 0, run.last_stderr_line
    for stream, scope in (("jsm_organizations", "read:organization:jira-service-management"),
                          ("jsm_customers", "read:servicedesk.customer:jira-service-management")):
        assert stream not in run.records
        assert any(f"{stream} skipped" in line and scope in line for line in run.stderr.splitlines()), stream
    assert {"jsm_request_comments", "jsm_request_sla", "jsm_queues", "jsm_requests"} <= set(run.records)
    assert not fake.log.find("/organization") and not fake.log.find("/customer")
