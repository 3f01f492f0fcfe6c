"""Concurrent reads (``max_concurrent_requests``): what the fake saw and what the tap wrote.

- The fake counts the requests in flight when each arrives (``LogEntry.in_flight``): the tap
  never has more than N at once, for N = 1, 4, 8, and does have several at once when allowed.
- A 429 with ``Retry-After`` on one request pauses every worker of the product: checked in
  the fake's log by arrival, never by timing the tap.
- Records and the final STATE are the same at 1 and at 8 for every stream of the catalog,
  and a run killed mid-stream at 8 resumes with nothing lost.
"""

from __future__ import annotations

import collections
import datetime as dt
import json

import pytest

from tests.tapdriver import discover, fake_config, run_tap, select

SEEDED_UNTIL = 2025  # the fake's seeded history ends on 2024-06-01
PER_ISSUE = "jsm_requests"  # one /request/{key} per changed issue: read through ApiClient.map


def tap_entries(fake) -> list:  # noqa: ANN001
    return [e for e in fake.log.by_arrival() if e.headers.get("user-agent", "").startswith("tap-atlassian/")]


def only(fake, streams: list[str], **overrides):  # noqa: ANN001, ANN201
    config = fake_config(fake, **overrides)
    return config, select(discover(config), streams)


@pytest.mark.parametrize("limit", [1, 4, 8])
def test_requests_in_flight_never_exceed_the_setting(fake_factory, limit: int) -> None:  # noqa: ANN001
    fake = fake_factory(flavour="cloud", seed=7, size="small", issues=40, latency_ms=25)
    config, catalog = only(fake, [PER_ISSUE, "jira_issue_changelogs"], max_concurrent_requests=limit,
                           page_size=10)
    fake.log.clear()
    run = run_tap(config, catalog=catalog)
    assert run.returncode == 0, run.last_stderr_line
    assert run.records[PER_ISSUE] and run.records["jira_issue_changelogs"]
    entries = tap_entries(fake)
    peak = max(e.in_flight for e in entries)
    assert peak <= limit, f"{peak} requests in flight with max_concurrent_requests {limit}"
    if limit > 1:  # and the reads do overlap: latency is hidden, not just bounded
        assert peak >= 2, "requests were never concurrent"


def test_sequential_setting_sends_one_request_at_a_time(fake_factory) -> None:  # noqa: ANN001
    fake = fake_factory(flavour="server", seed=7, size="small", latency_ms=5)
    config, catalog = only(fake, [PER_ISSUE, "jira_issue_comments"], max_concurrent_requests=1)
    fake.log.clear()
    run = run_tap(config, catalog=catalog)
    assert run.returncode == 0, run.last_stderr_line
    assert {e.in_flight for e in tap_entries(fake)} == {1}


@pytest.mark.parametrize("kind", ["429", "503"])
def test_429_pauses_every_worker_until_retry_after(fake_factory, kind: str) -> None:  # noqa: ANN001
    """After the 429 (or 503 with Retry-After) is answered, only requests the other workers had
    already sent may arrive before Retry-After expires (at most one each); then nothing until
    it expires."""
    limit, retry_after = 8, 2
    fake = fake_factory(flavour="cloud", seed=7, size="small", issues=60, latency_ms=20)
    config, catalog = only(fake, [PER_ISSUE], max_concurrent_requests=limit, page_size=10,
                           retry_max_wait_seconds=retry_after)
    victim = fake.data.issues(["SDA"])[3].key
    fake.control.inject(rf"/request/{victim}(\?|$)", kind, times=1, retry_after=retry_after)
    fake.log.clear()
    run = run_tap(config, catalog=catalog)
    assert run.returncode == 0, run.last_stderr_line
    entries = tap_entries(fake)
    limited = [e for e in entries if e.status == int(kind)]
    assert len(limited) == 1
    answered = limited[0].answered
    during = [e for e in entries if answered < e.time < answered + retry_after]
    assert len(during) <= limit - 1, (
        f"{len(during)} requests arrived while the product was told to wait {retry_after} s")
    assert all(not e.path.endswith(f"/request/{victim}") for e in during), "the 429'd request came back early"
    retried = [e for e in entries if e.path.endswith(f"/request/{victim}") and e.status == 200]
    assert retried and retried[0].arrival > limited[0].arrival
    assert victim in {r["issueKey"] for r in run.records[PER_ISSUE]}
    assert kind in run.stderr and "retrying" in run.stderr


def run_times_masked(value):  # noqa: ANN001, ANN201
    """``value`` with every time of the run itself (a sweep's ``swept_at``, a tombstone's
    ``_sdc_deleted_at``) masked: the seeded data ends in 2024, so later times are "now"."""
    if isinstance(value, dict):
        return {k: run_times_masked(v) for k, v in value.items()}
    if isinstance(value, list):
        return [run_times_masked(v) for v in value]
    if isinstance(value, str) and len(value) >= 20 and value[4] == "-" and value[10] == "T":
        try:
            when = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return value
        return "<run time>" if when.year >= SEEDED_UNTIL else value
    return value


def comparable(run) -> tuple[dict, list]:  # noqa: ANN001
    """Records per stream (as JSON, in emission order) and every STATE in order, run times masked."""
    records = {s: [json.dumps(run_times_masked(r), sort_keys=True) for r in rs] for s, rs in run.records.items()}
    return records, [run_times_masked(state) for state in run.states]


@pytest.mark.parametrize("flavour", ["cloud", "server"])
def test_every_stream_same_records_and_state_at_1_and_8(fake_factory, flavour: str) -> None:  # noqa: ANN001
    fake = fake_factory(flavour=flavour, seed=5, size="small", latency_ms=3)
    config = fake_config(fake, page_size=7)
    catalog = discover(config)
    names = [s["tap_stream_id"] for s in catalog["streams"]]
    catalog = select(catalog, names)
    results = {}
    for limit in (1, 8):
        run = run_tap({**config, "max_concurrent_requests": limit}, catalog=catalog, timeout=300)
        assert run.returncode == 0, run.last_stderr_line
        results[limit] = comparable(run)
    (seq_records, seq_state), (con_records, con_state) = results[1], results[8]
    assert seq_records.keys() == con_records.keys()
    for stream in seq_records:
        assert seq_records[stream] == con_records[stream], f"{stream} differs between 1 and 8 in flight"
    assert len(seq_state) == len(con_state), "a different number of STATE messages"
    for n, (one, eight) in enumerate(zip(seq_state, con_state)):
        assert one == eight, f"STATE message {n} differs between 1 and 8 in flight"
    assert {"jira_issues", "jira_issue_comments", "jsm_requests", "confluence_pages"} <= seq_records.keys()


def test_killed_run_at_8_resumes_with_nothing_lost(fake_factory) -> None:  # noqa: ANN001
    fake = fake_factory(flavour="cloud", seed=9, size="small", issues=60, latency_ms=10)
    stream = "jira_issue_comments"
    config, catalog = only(fake, [stream], page_size=10, max_concurrent_requests=8,
                           start_date="2000-01-01T00:00:00Z")
    full = run_tap(config, catalog=catalog)
    assert full.returncode == 0, full.last_stderr_line
    want = collections.Counter(str(r["id"]) for r in full.records[stream])
    assert want and max(want.values()) == 1
    killed = run_tap(config, catalog=catalog, stop_after_records=len(want) // 2)
    assert killed.returncode != 0
    assert killed.last_state["bookmarks"][stream].get("replication_key_value"), "no resumable state"
    resumed = run_tap(config, catalog=catalog, state=killed.last_state)
    assert resumed.returncode == 0, resumed.last_stderr_line
    emitted = {str(r["id"]) for r in killed.records[stream]}
    again = {str(r["id"]) for r in resumed.records[stream]}
    assert emitted | again == set(want), f"lost: {sorted(set(want) - emitted - again)[:5]}"
    assert len(again) < len(want), "the resumed run started over instead of resuming"


@pytest.mark.parametrize(("flavour", "dense"), [("cloud", False), ("server", False), ("cloud", True),
                                               ("server", True)])
def test_issue_search_is_read_as_concurrent_time_slices_in_order(fake_factory, flavour: str, dense: bool) -> None:  # noqa: ANN001
    fake = fake_factory(flavour=flavour, seed=3, size="small", issues=80, latency_ms=10)
    if dense:  # 80 issues 20 s apart: slices of a minute or two, issues in every boundary minute
        base = dt.datetime(2024, 5, 31, 10, 0, 5, tzinfo=dt.timezone.utc)
        for k, ref in enumerate(fake.data.issues()):
            fake.control.touch("issue", ref.id, at=(base + dt.timedelta(seconds=20 * k)).isoformat())
    config, catalog = only(fake, ["jira_issues"], page_size=5 if dense else 10)
    runs = {}
    for limit in (1, 8):
        fake.log.clear()
        run = run_tap({**config, "max_concurrent_requests": limit}, catalog=catalog)
        assert run.returncode == 0, run.last_stderr_line
        searches = [e for e in tap_entries(fake) if "/search" in e.path and e.method == "GET"]
        runs[limit] = (comparable(run), searches)
    assert len(runs[8][0][0]["jira_issues"]) == 80
    assert runs[1][0] == runs[8][0], "slices must give the sequential records and STATE"
    assert [r["id"] for r in json.loads("[" + ",".join(runs[8][0][0]["jira_issues"]) + "]")] == [
        r.id for r in sorted(fake.data.issues(), key=lambda r: (r.updated, r.idx))]
    sequential, sliced = runs[1][1], runs[8][1]
    assert max(e.in_flight for e in sequential) == 1
    reads = [e for e in sliced if "updated DESC" not in e.query["jql"][0]]  # not the probe of issue times
    assert len({e.query["jql"][0] for e in reads}) > 1, "one query: the window was not sliced"
    assert max(e.in_flight for e in reads) >= 2, "the slices were not read concurrently"
    if flavour == "cloud":
        assert [e for e in tap_entries(fake) if e.path.endswith("/search/approximate-count")]


def test_expired_sso_session_is_renewed_once_for_all_workers(fake_factory, tmp_path) -> None:  # noqa: ANN001
    """The session dies while 8 reads are in flight: each gets a 401, one login serves them all."""
    fake = fake_factory(flavour="server", seed=7, size="small", latency_ms=20)
    basic = fake_config(fake, products=["jira_service_desk"])
    catalog = select(discover(basic), [PER_ISSUE])
    reference = run_tap(basic, catalog=catalog)
    assert reference.returncode == 0, reference.last_stderr_line
    fake.log.clear()
    config = fake_config(fake, "crowd", **fake.crowd.settings(), products=["jira_service_desk"],
                         oauth_settings_location=str(tmp_path / "OAuthSettings.txt"),
                         max_concurrent_requests=8)
    fake.saml.expire_sessions_after(12, sessions=1)  # dies in the middle of the per-request reads
    run = run_tap(config, catalog=catalog)
    assert run.returncode == 0, run.last_stderr_line
    assert sorted(run.ids(PER_ISSUE, "issueId")) == sorted(reference.ids(PER_ISSUE, "issueId"))
    logins = fake.log.find("/plugins/servlet/samlconsumer", method="POST", status=302)
    assert len(logins) == 2, "the expired session must be renewed once, not once per worker"
    rejected = [e for e in fake.log if e.path.startswith("/rest/") and e.status in (401, 302)]
    assert 1 <= len(rejected) <= 8
