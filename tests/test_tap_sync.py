"""Every seeded object exactly once per primary key, Cloud and Server, several page sizes."""

from __future__ import annotations

import collections

import pytest

from tests.tapdriver import fake_config, run_tap


def expected(fake, project_keys=None, space_keys=None) -> dict[str, set[str]]:  # noqa: ANN001
    """What a full sync must return, from the fake's seeded index."""
    d = fake.data
    desks = [p for p in d.service_desks() if not project_keys or p["key"] in project_keys]
    desk_projects = {p["key"] for p in desks}
    return {
        "jira_issues": {r.id for r in d.issues(project_keys)},
        "confluence_pages": {p.id for p in d.pages(space_keys)},
        "confluence_spaces": {str(s["id"]) for s in d.spaces if not space_keys or s["key"] in space_keys},
        "jsm_service_desks": {p["service_desk_id"] for p in desks},
        "jsm_request_types": {rt["id"] for p in desks for rt in d.request_types[p["service_desk_id"]]},
        "jsm_requests": {r.id for r in d.issues(sorted(desk_projects))} if desk_projects else set(),
    }


def assert_exactly_once(run, want: dict[str, set[str]]) -> None:  # noqa: ANN001
    assert run.returncode == 0, run.last_stderr_line
    for stream, ids in want.items():
        key = "issueId" if stream == "jsm_requests" else "id"
        got = [str(r[key]) for r in run.records.get(stream, [])]
        dupes = [k for k, n in collections.Counter(got).items() if n > 1]
        assert not dupes, f"{stream}: duplicated keys {dupes[:5]}"
        assert set(got) == ids, f"{stream}: missing {sorted(ids - set(got))[:5]}, extra {sorted(set(got) - ids)[:5]}"


@pytest.mark.parametrize("flavour", ["cloud", "server"])
@pytest.mark.parametrize("page_size", [4, 50])
def test_full_sync_exactly_once(fake_factory, flavour: str, page_size: int) -> None:  # noqa: ANN001
    fake = fake_factory(flavour=flavour, seed=7, size="small")
    run = run_tap(fake_config(fake, page_size=page_size))
    assert_exactly_once(run, expected(fake))
    fields = run.records["jira_fields"]
    assert {"summary", "updated"} <= {f["id"] for f in fields}
    assert len({f["id"] for f in fields}) == len(fields)


@pytest.mark.parametrize("flavour", ["cloud", "server"])
def test_project_and_space_filters(fake_factory, flavour: str) -> None:  # noqa: ANN001
    fake = fake_factory(flavour=flavour, seed=11, size="small")
    desk = fake.data.service_desks()[1]["key"]
    space = fake.data.spaces[0]["key"]
    run = run_tap(fake_config(fake, project_keys=[desk], space_keys=[space], page_size=10))
    assert_exactly_once(run, expected(fake, [desk], [space]))
    assert {r["fields"]["project"]["key"] for r in run.records["jira_issues"]} == {desk}


def test_products_limit_streams_and_pat_login(fake_factory) -> None:  # noqa: ANN001
    fake = fake_factory(flavour="server", seed=7, size="small")
    run = run_tap(fake_config(fake, "pat", products=["confluence"]))
    assert run.returncode == 0, run.last_stderr_line
    assert {"confluence_blogposts", "confluence_pages", "confluence_spaces"} <= set(run.records)
    assert all(s.startswith("confluence_") for s in run.records)
    assert {e.auth_scheme for e in fake.log if e.path.endswith(("/content", "/space"))} == {"Bearer"}
    assert not [e for e in fake.log if e.product == "jira"]


def test_request_headers(fake_factory) -> None:  # noqa: ANN001
    fake = fake_factory(flavour="cloud", seed=7, size="small")
    run = run_tap(fake_config(fake, products=["jira_service_desk"]))
    assert run.returncode == 0, run.last_stderr_line
    jsm = [e for e in fake.log if "/rest/servicedeskapi/" in e.path]
    assert jsm and all(e.headers.get("x-experimentalapi") == "opt-in" for e in jsm)
    assert all(e.headers.get("user-agent", "").startswith("tap-atlassian/") for e in fake.log)


def test_deselected_property_is_left_out(fake_factory) -> None:  # noqa: ANN001
    from tests.tapdriver import discover, select  # noqa: PLC0415

    fake = fake_factory(flavour="cloud", seed=7, size="small")
    config = fake_config(fake, products=["jira_service_desk"])
    catalog = select(discover(config), ["jira_issues"])
    entry = next(s for s in catalog["streams"] if s["tap_stream_id"] == "jira_issues")
    for md in entry["metadata"]:
        if md["breadcrumb"] == ["properties", "self"]:
            md["metadata"]["selected"] = False
    run = run_tap(config, catalog=catalog)
    assert run.returncode == 0, run.last_stderr_line
    records = run.records["jira_issues"]
    assert len(records) == fake.data.issue_count()
    assert not [r for r in records if "self" in r] and all("fields" in r for r in records)
