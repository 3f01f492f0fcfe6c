"""The fake's Jira Service Management extras (`tests/fake_atlassian/jsm_children.py`): every answer
validates against the vendored JSM document for every desk and request (Cloud, and Server/DC
against the same document: Atlassian publishes none for Data Center); the seed holds what the
tap's tests need (SLAs met and breached, public and internal comments, approvals of every
decision, feedback, several pages of organizations and customers); experimental operations
answer 412 without the opt-in header; control operations change the answers and move the
request's `updated`; a site without Service Management answers 404 under `/rest/servicedeskapi/`."""

from __future__ import annotations

import collections
from typing import TYPE_CHECKING

import pytest

from tests.fake_atlassian import FakeAtlassian
from tests.specs.validate import assert_conforms
from tests.test_fake_spec import SDS, get, session, walk_jsm

if TYPE_CHECKING:
    from collections.abc import Iterator

    import requests

CHILDREN = ("comment", "sla", "participant", "approval")


@pytest.fixture(scope="module", params=["cloud", "server"])
def fake(request: pytest.FixtureRequest) -> Iterator[FakeAtlassian]:
    with FakeAtlassian(flavour=request.param, seed=23, issues=300) as site:
        yield site


def requests_of(fake: FakeAtlassian) -> list:
    return fake.data.issues([p["key"] for p in fake.data.service_desks()])


def test_every_endpoint_every_desk_and_request_conforms(fake: FakeAtlassian) -> None:
    s = session(fake)
    base = fake.jira_url + SDS
    orgs = walk_jsm(s, base + "/organization?limit=3", SDS + "/organization")
    assert len(orgs) == len({o["id"] for o in orgs}) >= 7
    for desk in fake.data.service_desks():
        sd = desk["service_desk_id"]
        customers = walk_jsm(s, f"{base}/servicedesk/{sd}/customer?limit=3", SDS + "/servicedesk/{serviceDeskId}/customer")
        assert len(customers) > 3, "customers must span several pages of 3"
        ident = "accountId" if fake.flavour == "cloud" else "key"
        assert all(c.get(ident) for c in customers)
        queues = walk_jsm(s, f"{base}/servicedesk/{sd}/queue?includeCount=true&limit=2",
                          SDS + "/servicedesk/{serviceDeskId}/queue")
        assert queues and all(isinstance(q["issueCount"], int) for q in queues)
        assert all("issueCount" not in q for q in get(s, f"{base}/servicedesk/{sd}/queue")["values"])
    seen: dict[str, int] = collections.Counter()
    for ref in requests_of(fake):
        for child in CHILDREN:
            values = walk_jsm(s, f"{base}/request/{ref.key}/{child}?limit=3", SDS + f"/request/{{issueIdOrKey}}/{child}")
            seen[child] += len(values)
        if fake.flavour == "cloud":
            r = s.get(f"{base}/request/{ref.id}/feedback", timeout=10)
            assert r.status_code in (200, 404)
            if r.status_code == 200:
                assert_conforms("jsm", r.json(), SDS + "/request/{requestIdOrKey}/feedback")
                seen["feedback"] += 1
    assert all(seen[c] for c in CHILDREN), seen
    assert bool(seen["feedback"]) == (fake.flavour == "cloud")


def all_values(s: requests.Session, url: str) -> list[dict]:
    return get(s, url, limit=100)["values"]


def test_seed_holds_every_case_the_tap_tests_need(fake: FakeAtlassian) -> None:
    s = session(fake)
    base = fake.jira_url + SDS
    breached, publics, decisions, ratings, many_comments = set(), set(), set(), set(), 0
    for ref in requests_of(fake):
        for metric in all_values(s, f"{base}/request/{ref.id}/sla"):
            cycles = metric["completedCycles"] + ([metric["ongoingCycle"]] if "ongoingCycle" in metric else [])
            breached.update(c["breached"] for c in cycles)
        comments = all_values(s, f"{base}/request/{ref.id}/comment")
        publics.update(c["public"] for c in comments)
        many_comments += len(comments) > 3
        decisions.update(a["finalDecision"] for a in all_values(s, f"{base}/request/{ref.id}/approval"))
        if fake.flavour == "cloud" and (r := s.get(f"{base}/request/{ref.id}/feedback", timeout=10)).ok:
            ratings.add(r.json()["rating"])
    assert breached == {True, False}, "SLAs both met and breached"
    assert publics == {True, False}, "public and internal comments"
    assert decisions == {"approved", "declined", "pending"}
    assert many_comments, "a request with more comments than a page of 3"
    assert ratings <= {1, 2, 3, 4, 5}
    assert (len(ratings) > 1) == (fake.flavour == "cloud")


def test_comment_filters_public_and_internal(fake: FakeAtlassian) -> None:
    s = session(fake)
    ref = next(r for r in requests_of(fake) if len(fake.jsm_children.comment_ids(r.id)) > 2)  # type: ignore[attr-defined]
    url = f"{fake.jira_url}{SDS}/request/{ref.key}/comment"
    both = get(s, url)["values"]
    only_public = get(s, url, internal="false")["values"]
    only_internal = get(s, url, public="false")["values"]
    assert [c["id"] for c in only_public] == [c["id"] for c in both if c["public"]]
    assert [c["id"] for c in only_internal] == [c["id"] for c in both if not c["public"]]


def test_experimental_operations_need_the_opt_in_header(fake: FakeAtlassian) -> None:
    s = session(fake)
    del s.headers["X-ExperimentalApi"]
    base = fake.jira_url + SDS
    sd = fake.data.service_desks()[0]["service_desk_id"]
    assert s.get(f"{base}/servicedesk/{sd}/customer", timeout=10).status_code == 412
    ref = requests_of(fake)[0]
    feedback = s.get(f"{base}/request/{ref.id}/feedback", timeout=10).status_code
    assert feedback == (412 if fake.flavour == "cloud" else 404), "Data Center has no feedback resource"
    assert s.get(f"{base}/request/{ref.id}/sla", timeout=10).status_code == 200


def test_control_operations_change_answers_and_move_updated(fake_factory) -> None:  # noqa: ANN001
    fake = fake_factory(flavour="cloud", seed=5, issues=40)
    jsm = fake.jsm_children
    s = session(fake)
    base = fake.jira_url + SDS
    ref = requests_of(fake)[0]

    def ids(child: str, key: str = "id") -> list[str]:
        return [v[key] for v in all_values(s, f"{base}/request/{ref.id}/{child}")]

    def updated() -> int:
        return fake.data.issue_ref(ref.id).updated

    at = "2024-07-01T00:00:00Z"
    new = jsm.add_comment(ref.id, public=False, at=at)
    assert new in ids("comment") and updated() == 1719792000000
    jsm.update_comment(ref.id, new, at="2024-07-02T00:00:00Z")
    assert all_values(s, f"{base}/request/{ref.id}/comment")[-1]["body"].endswith("(edited)")
    jsm.delete_comment(ref.id, new, at="2024-07-03T00:00:00Z")
    assert new not in ids("comment") and updated() == 1719964800000
    user = jsm.add_participant(ref.id, at="2024-07-04T00:00:00Z")
    assert user["account_id"] in ids("participant", "accountId")
    jsm.change_sla(ref.id, "1", breached=True, at="2024-07-05T00:00:00Z")
    first = all_values(s, f"{base}/request/{ref.id}/sla")[0]["completedCycles"][0]
    assert first["breached"] is True and first["elapsedTime"]["millis"] > first["goalDuration"]["millis"]
    jsm.change_sla(ref.id, "1", breached=False)
    assert all_values(s, f"{base}/request/{ref.id}/sla")[0]["completedCycles"][0]["breached"] is False
    fake.control.delete("issue", ref.id)
    assert s.get(f"{base}/request/{ref.id}/comment", timeout=10).status_code == 404


def test_site_without_service_management(fake_factory) -> None:  # noqa: ANN001
    fake = fake_factory(flavour="server", service_management=False)
    s = session(fake)
    for path in ("/servicedesk", "/organization", "/request/SDA-1/comment", "/info"):
        assert s.get(fake.jira_url + SDS + path, timeout=10).status_code == 404
    assert s.get(fake.jira_url + "/rest/api/2/myself", timeout=10).status_code == 200
