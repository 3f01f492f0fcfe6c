"""jsm_organizations, jsm_customers, jsm_queues, Cloud and Server/DC at two page sizes: every seeded
object exactly once by key (read from the fake over HTTP, independently of the tap), the
service desk id on per-desk records, Server/DC customers keyed by the user key, queue counts,
records valid against their own schema, a desk the login may not read is a warning."""

from __future__ import annotations

import collections

import pytest

from tests.tapdriver import fake_config, jira_run_config, leaks, run_tap
from tests.test_tap_jsm_children import SDS, assert_valid, tap_requests

STREAMS = {
    "jsm_organizations": ("/organization", ("id",)),
    "jsm_customers": ("/servicedesk/{sd}/customer", ("serviceDeskId", "accountId")),
    "jsm_queues": ("/servicedesk/{sd}/queue?includeCount=true", ("serviceDeskId", "id")),
}


def expected(fake, stream: str) -> dict[tuple, dict]:  # noqa: ANN001
    """Key -> object of everything the stream must emit (one listing of 100 per desk)."""
    path, keys = STREAMS[stream]
    session = fake.client()
    session.headers["X-ExperimentalApi"] = "opt-in"
    desks = [d["service_desk_id"] for d in fake.data.service_desks()] if "{sd}" in path else [None]
    out: dict[tuple, dict] = {}
    for sd in desks:
        url = fake.jira_url + SDS + path.format(sd=sd)
        body = session.get(url, params={"limit": 100}, timeout=10).json()
        assert body["isLastPage"]
        for value in body["values"]:
            record = {**value, "serviceDeskId": sd, "accountId": value.get("accountId") or value.get("key")}
            out[tuple(str(record[k]) for k in keys)] = record
    return out


@pytest.mark.parametrize("flavour", ["cloud", "server"])
@pytest.mark.parametrize("page_size", [3, 50])
def test_every_object_exactly_once(fake_factory, flavour: str, page_size: int) -> None:  # noqa: ANN001
    fake = fake_factory(flavour=flavour, seed=7, size="small")
    config, catalog = jira_run_config(fake, STREAMS, page_size=page_size)
    run = run_tap(config, catalog=catalog)
    assert run.returncode == 0, run.last_stderr_line
    assert set(run.records) == set(STREAMS)
    for stream, (_, keys) in STREAMS.items():
        want = expected(fake, stream)
        got = [tuple(str(r[k]) for k in keys) for r in run.records[stream]]
        dupes = [k for k, n in collections.Counter(got).items() if n > 1]
        assert not dupes, f"{stream}: duplicated {dupes[:5]}"
        assert set(got) == set(want), f"{stream}: missing {sorted(set(want) - set(got))[:3]}, extra {sorted(set(got) - set(want))[:3]}"
        assert_valid(run, stream)
        per_desk = collections.Counter(key[0] if len(keys) == 2 else None for key in want)
        assert min(per_desk.values()) > 3, f"{stream}: the seed must span several pages of 3"
    for queue in run.records["jsm_queues"]:
        assert queue["issueCount"] == expected(fake, "jsm_queues")[(queue["serviceDeskId"], queue["id"])]["issueCount"]
    if flavour == "server":
        assert all(c["accountId"] == c["key"] for c in run.records["jsm_customers"]), "Server/DC: the user key"
    if page_size == 3:
        assert [e for e in tap_requests(fake) if e.path.endswith("/customer") and e.query.get("start") == ["3"]]
    customer_calls = [e for e in tap_requests(fake) if e.path.endswith("/customer")]
    assert customer_calls and all(e.headers.get("x-experimentalapi") == "opt-in" for e in customer_calls)
    assert not leaks(run, config)


def test_project_keys_and_a_desk_refused(fake_factory) -> None:  # noqa: ANN001
    fake = fake_factory(flavour="cloud", seed=7, size="small")
    desks = fake.data.service_desks()
    refused = desks[0]["service_desk_id"]
    fake.control.inject(rf"{SDS}/servicedesk/{refused}/queue", "403", None)
    config, catalog = jira_run_config(fake, ["jsm_queues", "jsm_customers"],
                                 project_keys=[desks[0]["key"], desks[1]["key"]])
    run = run_tap(config, catalog=catalog)
    assert run.returncode == 0, run.last_stderr_line
    assert f"jsm_queues: service desk {refused} ({desks[0]['key']}) skipped" in run.stderr
    assert {r["serviceDeskId"] for r in run.records["jsm_queues"]} == {desks[1]["service_desk_id"]}
    assert {r["serviceDeskId"] for r in run.records["jsm_customers"]} == {desks[0]["service_desk_id"],
                                                                          desks[1]["service_desk_id"]}


def test_server_deployment_discovers_the_same_streams(fake_factory) -> None:  # noqa: ANN001
    from tests.tapdriver import discover

    cloud = {s["tap_stream_id"] for s in discover(fake_config(fake_factory(flavour="cloud")))["streams"]}
    server = {s["tap_stream_id"] for s in discover(fake_config(fake_factory(flavour="server")))["streams"]}
    assert set(STREAMS) <= cloud and set(STREAMS) <= server


def test_organizations_refused_is_a_warning(fake_factory) -> None:  # noqa: ANN001
    fake = fake_factory(flavour="server", seed=7, size="small")
    fake.control.inject(rf"{SDS}/organization", "403", None)
    config, catalog = jira_run_config(fake, ["jsm_organizations", "jsm_queues"])
    run = run_tap(config, catalog=catalog)
    assert run.returncode == 0, run.last_stderr_line
    assert "jsm_organizations skipped: 403" in run.stderr
    assert "jsm_organizations" not in run.records and run.records["jsm_queues"]
