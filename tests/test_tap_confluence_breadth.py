"""Confluence comments, attachments, page versions, groups, group members and labels, run
against the fake site, Cloud and Server/DC, at two page sizes: every seeded object exactly
once, records valid against the stream's schema; then incremental runs."""

from __future__ import annotations

import collections
import datetime as dt

import jsonschema
import pytest

from tests.tapdriver import discover, fake_config, run_tap, select, sweep_due

UTC = dt.timezone.utc
NEW_STREAMS = ["confluence_comments", "confluence_attachments", "confluence_page_versions",
               "confluence_groups", "confluence_group_members"]
CONTENT = ["confluence_pages", "confluence_blogposts"]


def iso(value: dt.datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def ts(value: str) -> dt.datetime:
    return dt.datetime.fromisoformat(value.replace("Z", "+00:00"))


def once(records: list[dict], *keys: str) -> list[tuple]:
    got = [tuple(str(r[k]) for k in keys) for r in records]
    dupes = [k for k, n in collections.Counter(got).items() if n > 1]
    assert not dupes, f"emitted more than once: {dupes[:5]}"
    return got


def valid(run, stream: str) -> None:  # noqa: ANN001
    schema = run.schemas[stream]["schema"]
    validator = jsonschema.Draft7Validator(schema)
    for record in run.records.get(stream, []):
        errors = list(validator.iter_errors(record))
        assert not errors, f"{stream}: {errors[0].message} in {record.get('id')}"


def expected_versions(fake) -> set[tuple[str, str]]:  # noqa: ANN001
    return {(ref.id, str(n)) for ref in fake.data.pages() for n in range(1, ref.version + 1)}


@pytest.mark.parametrize("flavour", ["cloud", "server"])
@pytest.mark.parametrize("page_size", [4, 50])
def test_every_object_exactly_once(fake_factory, flavour: str, page_size: int) -> None:  # noqa: ANN001
    fake = fake_factory(flavour=flavour, seed=7, size="small")
    x = fake.confluence_extra
    config = fake_config(fake, products=["confluence"], page_size=page_size)
    run = run_tap(config, catalog=select(discover(config), NEW_STREAMS + CONTENT))
    assert run.returncode == 0, run.last_stderr_line
    for stream in NEW_STREAMS + CONTENT:
        valid(run, stream)

    comments = run.records["confluence_comments"]
    assert sorted(once(comments, "id")) == sorted((i.ident,) for i in x.items("comment"))
    by_id = {i.ident: i for i in x.items("comment")}
    assert {c["location"] for c in comments} == {"footer", "inline"}
    for c in comments:
        item = by_id[c["id"]]
        assert c["location"] == item.location
        container = fake.data.page_id(item.container)
        assert c["containerId"] == container
        assert c["containerType"] == ("page" if x.data.is_page(item.container) else "blogpost")
        assert c["pageId" if c["containerType"] == "page" else "blogPostId"] == container
        assert ts(c["last_modified"]) == dt.datetime.fromtimestamp(item.modified / 1000, UTC)
        parent = c.get("parentCommentId") or next((a["id"] for a in c.get("ancestors") or []), None)
        assert parent == (str(item.parent) if item.parent else None), "a reply keeps its parent"
    assert any(i.parent for i in by_id.values())

    attachments = run.records["confluence_attachments"]
    assert sorted(once(attachments, "id")) == sorted((i.ident,) for i in x.items("attachment"))
    for a in attachments:
        assert a["containerId"] == fake.data.page_id(x.data.item(a["id"]).container)
        assert "location" not in a

    versions = run.records["confluence_page_versions"]
    assert set(once(versions, "pageId", "number")) == expected_versions(fake)
    modified = {r["id"]: r["last_modified"] for r in run.records["confluence_pages"]}
    assert all(v["pageLastModified"] == modified[v["pageId"]] for v in versions)

    groups = x.data.groups
    key = "id" if flavour == "cloud" else "name"
    assert once(run.records["confluence_groups"], "id") == [(g[key],) for g in groups]
    user_key = "account_id" if flavour == "cloud" else "key"
    want = {(g[key], fake.data.users[u][user_key]) for g in groups for u in g["members"]}
    assert set(once(run.records["confluence_group_members"], "groupId", "accountId")) == want

    for stream in CONTENT:
        records = run.records[stream]
        assert records
        for record in records:
            idx = fake.data.page_ref(record["id"], None).idx
            assert [(lb["id"], lb["name"]) for lb in record["labels"]] == [
                (lb["id"], lb["name"]) for lb in x.data.labels(idx)], f"{stream} {record['id']} labels"
        assert any(r["labels"] for r in records)
    if flavour == "cloud":
        assert fake.log.find("/api/v2/footer-comments") and fake.log.find("/api/v2/attachments")
        assert fake.log.find("/labels")
    else:
        assert fake.log.find("/rest/experimental/content/")


@pytest.mark.parametrize("flavour", ["cloud", "server"])
def test_second_run_reads_only_what_changed(fake_factory, flavour: str) -> None:  # noqa: ANN001
    fake = fake_factory(flavour=flavour, seed=3, size="small")
    x = fake.confluence_extra
    config = fake_config(fake, products=["confluence"], page_size=5, delete_sweep_hours=1)
    catalog = select(discover(config), NEW_STREAMS[:3])
    first = run_tap(config, catalog=catalog)
    assert first.returncode == 0, first.last_stderr_line
    state = first.last_state
    marks = {s: ts(state["bookmarks"][s]["replication_key_value"]) for s in NEW_STREAMS[:3]}

    # a comment edited one minute after the bookmark (Confluence's zone is Asia/Kolkata, +05:30)
    comment = next(i for i in x.items("comment") if i.modified < marks["confluence_comments"].timestamp() * 1000 - 86_400_000)
    x.edit("comment", comment.ident, at=iso(marks["confluence_comments"] + dt.timedelta(minutes=1)))
    recent = iso(dt.datetime.now(UTC) - dt.timedelta(minutes=10))
    page = fake.data.pages()[7]
    new_comment = x.add("comment", page.id, location="inline", at=recent)
    attachment = x.items("attachment")[3]
    x.edit("attachment", attachment.ident, at=recent)
    before = page.version
    fake.control.touch("page", page.id, at=iso(dt.datetime.now(UTC) - dt.timedelta(minutes=12)))
    fake.control.touch("page", page.id, at=recent)

    second = run_tap(config, catalog=catalog, state=state)
    assert second.returncode == 0, second.last_stderr_line
    got = second.records
    assert not [r for s in got.values() for r in s if r.get("_sdc_deleted_at")], "nothing was deleted"

    def boundary(stream: str, key: str = "last_modified") -> set[str]:
        mark = state["bookmarks"][stream]["replication_key_value"]
        return {r["id"] for r in first.records[stream] if r[key] == mark}

    comments = [r["id"] for r in got.get("confluence_comments", [])]
    assert {comment.ident, new_comment} <= set(comments) and len(comments) == len(set(comments))
    assert set(comments) - {comment.ident, new_comment} <= boundary("confluence_comments")
    assert all(ts(r["last_modified"]) >= marks["confluence_comments"] for r in got["confluence_comments"])
    attachments = [r["id"] for r in got.get("confluence_attachments", [])]
    assert attachment.ident in attachments
    assert set(attachments) - {attachment.ident} <= boundary("confluence_attachments")
    versions = once(got.get("confluence_page_versions", []), "pageId", "number")
    assert set(versions) == {(page.id, str(before + 1)), (page.id, str(before + 2))}, \
        "only the versions not read before"
    third = run_tap(config, catalog=catalog, state=sweep_due(second.last_state))
    assert third.returncode == 0, third.last_stderr_line
    assert not third.records.get("confluence_page_versions"), "versions are never read twice"
    assert set(r["id"] for r in third.records.get("confluence_comments", [])) <= {comment.ident, new_comment}


def test_server_labels_beyond_the_expansion(fake_factory) -> None:  # noqa: ANN001
    """A Server/DC expansion holds a page of labels only: the rest come from /content/{id}/label."""
    fake = fake_factory(flavour="server", seed=7, size="small")
    fake.confluence.pb.labels_expand_limit = 1
    config = fake_config(fake, products=["confluence"], page_size=10)
    run = run_tap(config, catalog=select(discover(config), CONTENT))
    assert run.returncode == 0, run.last_stderr_line
    x = fake.confluence_extra
    many = 0
    for stream in CONTENT:
        for record in run.records[stream]:
            want = x.data.labels(fake.data.page_ref(record["id"], None).idx)
            assert [lb["name"] for lb in record["labels"]] == [lb["name"] for lb in want]
            many += len(want) > 1
    assert many, "some page has more labels than the expansion holds"
    assert fake.log.find("/label")


def test_server_histories_outside_the_experimental_path(fake_factory) -> None:  # noqa: ANN001
    """A Data Center build without /rest/experimental/content/{id}/version: /rest/api/... is used."""
    fake = fake_factory(flavour="server", seed=7, size="small")
    fake.confluence_extra.versions_prefix = "/rest/api"
    config = fake_config(fake, products=["confluence"], page_size=50)
    run = run_tap(config, catalog=select(discover(config), ["confluence_page_versions"]))
    assert run.returncode == 0, run.last_stderr_line
    assert set(once(run.records["confluence_page_versions"], "pageId", "number")) == expected_versions(fake)
    assert len([e for e in fake.log.find("/rest/experimental/") if e.status == 404]) == 1


@pytest.mark.parametrize("flavour", ["cloud", "server"])
def test_space_keys_limit_comments_attachments_versions(fake_factory, flavour: str) -> None:  # noqa: ANN001
    fake = fake_factory(flavour=flavour, seed=13, size="small")
    x = fake.confluence_extra
    space = fake.data.spaces[1]["key"]
    config = fake_config(fake, products=["confluence"], page_size=5, space_keys=[space], delete_sweep_hours=1)
    catalog = select(discover(config), NEW_STREAMS[:3])
    run = run_tap(config, catalog=catalog)
    assert run.returncode == 0, run.last_stderr_line
    in_space = {i for i in range(len(fake.data._p_space)) if fake.data.spaces[fake.data._p_space[i]]["key"] == space}
    for stream, kind in (("confluence_comments", "comment"), ("confluence_attachments", "attachment")):
        want = {i.ident for i in x.items(kind) if i.container in in_space}
        assert want and sorted(once(run.records[stream], "id")) == sorted((w,) for w in want)
    assert {v["pageId"] for v in run.records["confluence_page_versions"]} == {p.id for p in fake.data.pages([space])}
    other = next(i for i in x.items("comment") if i.container not in in_space)
    x.purge("comment", other.ident)  # another space's deletion is not this shard's
    second = run_tap(config, catalog=catalog, state=sweep_due(run.last_state))
    assert second.returncode == 0, second.last_stderr_line
    assert not [r for s in second.records.values() for r in s if r.get("_sdc_deleted_at")]


def test_cloud_replies_that_name_only_their_parent(fake_factory) -> None:  # noqa: ANN001
    """Should a v2 reply carry only parentCommentId, it takes its parent's container."""
    fake = fake_factory(flavour="cloud", seed=7, size="small")
    x = fake.confluence_extra
    x.reply_container = False
    config = fake_config(fake, products=["confluence"], page_size=50)
    run = run_tap(config, catalog=select(discover(config), ["confluence_comments"]))
    assert run.returncode == 0, run.last_stderr_line
    replies = [c for c in run.records["confluence_comments"] if c.get("parentCommentId")]
    assert replies and all("pageId" not in c and "blogPostId" not in c for c in replies)
    for c in replies:
        assert c["containerId"] == fake.data.page_id(x.data.item(c["id"]).container)
