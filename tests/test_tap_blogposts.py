"""confluence_blogposts: exactly once, never a page (and pages never a blog post), incremental,
filters, products, Cloud and Server."""

from __future__ import annotations

import collections
import datetime as dt

import pytest

from tests.tapdriver import discover, fake_config, leaks, run_tap, select

UTC = dt.timezone.utc
STREAM = "confluence_blogposts"


def ts(value: str) -> dt.datetime:
    return dt.datetime.fromisoformat(value.replace("Z", "+00:00"))


def iso(value: dt.datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def ids(run, stream: str = STREAM) -> list[str]:  # noqa: ANN001
    return [str(r["id"]) for r in run.records.get(stream, [])]


def only_blogposts(fake, **overrides):  # noqa: ANN001, ANN201
    config = fake_config(fake, products=["confluence"], **overrides)
    return config, select(discover(config), [STREAM])


@pytest.mark.parametrize("flavour", ["cloud", "server"])
@pytest.mark.parametrize("page_size", [4, 50])
def test_blogposts_exactly_once_and_never_pages(fake_factory, flavour: str, page_size: int) -> None:  # noqa: ANN001
    fake = fake_factory(flavour=flavour, seed=7, size="small", blogposts=23)
    config = fake_config(fake, products=["confluence"], page_size=page_size)
    run = run_tap(config)
    assert run.returncode == 0, run.last_stderr_line
    assert not leaks(run, config)
    blogposts = {p.id for p in fake.data.blogposts()}
    pages = {p.id for p in fake.data.pages()}
    assert len(blogposts) == 23 and not blogposts & pages
    got = ids(run)
    dupes = [k for k, n in collections.Counter(got).items() if n > 1]
    assert not dupes, f"duplicated blog posts {dupes[:5]}"
    # the copy-paste slip that swaps the two streams is caught both ways
    assert set(got) == blogposts, f"missing {sorted(blogposts - set(got))[:5]}, extra {sorted(set(got) - blogposts)[:5]}"
    assert not set(got) & pages, "a page was emitted as a blog post"
    assert set(ids(run, "confluence_pages")) == pages, "confluence_pages must hold the pages only"
    for record in run.records[STREAM]:
        assert record["last_modified"].endswith("Z")
        assert record.get("type", "blogpost") == "blogpost"  # v1 content says its type; v2 BlogPostBulk has none
        assert (record.get("body") or {}).get("storage"), "the storage body is missing"
    if flavour == "cloud":
        assert fake.log.find("/api/v2/blogposts") and not [e for e in fake.log.find("/api/v2/blogposts")
                                                           if e.status != 200]
    else:
        assert [e for e in fake.log.find("/rest/api/content") if e.query.get("type") == ["blogpost"]]


@pytest.mark.parametrize("flavour", ["cloud", "server"])
def test_second_run_emits_touched_blogposts_only(fake_factory, flavour: str) -> None:  # noqa: ANN001
    fake = fake_factory(flavour=flavour, seed=3, size="small", blogposts=20)
    config, catalog = only_blogposts(fake, page_size=6)
    first = run_tap(config, catalog=catalog)
    assert first.returncode == 0, first.last_stderr_line
    assert set(first.records) == {STREAM}
    records = first.records[STREAM]
    bookmark = first.last_state["bookmarks"][STREAM]["replication_key_value"]
    assert bookmark == max(r["last_modified"] for r in records)
    boundary = {r["id"] for r in records if r["last_modified"] == bookmark}
    touched = [r["id"] for r in records if r["id"] not in boundary][:3]
    page = fake.data.pages()[0].id
    when = dt.datetime.now(UTC) - dt.timedelta(minutes=10)
    for ident in touched:
        fake.control.touch("blogpost", ident, at=iso(when))
    fake.control.touch("page", page, at=iso(when))  # a changed page is not a blog post
    second = run_tap(config, catalog=catalog, state=first.last_state)
    assert second.returncode == 0, second.last_stderr_line
    got = ids(second)
    assert set(touched) <= set(got), "a touched blog post was missed"
    assert set(got) - set(touched) <= boundary, "an unchanged older blog post was emitted again"
    assert page not in got and len(got) == len(set(got))
    if flavour == "cloud":  # incremental: CQL for the ids, then v2 by id
        assert [e for e in fake.log.find("/rest/api/content/search")
                if "type = blogpost" in e.query.get("cql", [""])[0]]
    assert ts(second.last_state["bookmarks"][STREAM]["replication_key_value"]) >= when.replace(microsecond=0)
    third = run_tap(config, catalog=catalog, state=second.last_state)
    assert set(ids(third)) <= set(touched)


@pytest.mark.parametrize("flavour", ["cloud", "server"])
def test_space_keys_and_start_date(fake_factory, flavour: str) -> None:  # noqa: ANN001
    fake = fake_factory(flavour=flavour, seed=11, size="small", blogposts=30)
    space = fake.data.spaces[1]["key"]
    config, catalog = only_blogposts(fake, page_size=5)
    full = run_tap(config, catalog=catalog)
    assert full.returncode == 0, full.last_stderr_line
    in_space = {p.id for p in fake.data.blogposts([space])}
    assert in_space and in_space != {p.id for p in fake.data.blogposts()}
    filtered = run_tap({**config, "space_keys": [space]}, catalog=catalog)
    assert filtered.returncode == 0, filtered.last_stderr_line
    assert sorted(ids(filtered)) == sorted(in_space)
    start = sorted(r["last_modified"] for r in full.records[STREAM])[12]
    bounded = run_tap({**config, "start_date": start, "space_keys": [space]}, catalog=catalog)
    assert bounded.returncode == 0, bounded.last_stderr_line
    want = {r["id"] for r in full.records[STREAM] if ts(r["last_modified"]) >= ts(start) and r["id"] in in_space}
    assert set(ids(bounded)) == want and len(ids(bounded)) == len(want)


def test_products_setting_owns_the_stream(fake_cloud) -> None:  # noqa: ANN001
    names = lambda products: {s["tap_stream_id"] for s in discover(fake_config(fake_cloud, products=products))["streams"]}  # noqa: E731
    assert STREAM in names(["confluence"])
    assert STREAM not in names(["jira_service_desk"])
