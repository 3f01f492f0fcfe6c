"""Deleted Confluence content: trashed, deleted (straight to purge) and purged pages, blog
posts, comments and attachments become one tombstone each on the next run; nothing deleted,
no tombstone; a restored page is emitted live again, with its comments; delete_sweep_hours 0
turns it off. Cloud and Server/DC."""

from __future__ import annotations

import pytest

from tests.tapdriver import discover, fake_config, run_tap, select, sweep_due

STREAMS = ["confluence_pages", "confluence_blogposts", "confluence_comments", "confluence_attachments"]


def tombstones(run) -> dict[str, list[str]]:  # noqa: ANN001
    return {s: sorted(r["id"] for r in rs if r.get("_sdc_deleted_at")) for s, rs in run.records.items()
            if any(r.get("_sdc_deleted_at") for r in rs)}


def live(run, stream: str) -> list[str]:  # noqa: ANN001
    return [r["id"] for r in run.records.get(stream, []) if not r.get("_sdc_deleted_at")]


def visible(fake) -> dict[str, set[str]]:  # noqa: ANN001
    x = fake.confluence_extra
    return {"confluence_pages": {p.id for p in fake.data.pages()},
            "confluence_blogposts": {p.id for p in fake.data.blogposts()},
            "confluence_comments": {i.ident for i in x.items("comment")},
            "confluence_attachments": {i.ident for i in x.items("attachment")}}


@pytest.mark.parametrize("flavour", ["cloud", "server"])
def test_trashed_deleted_purged_and_restored(fake_factory, flavour: str) -> None:  # noqa: ANN001
    fake = fake_factory(flavour=flavour, seed=9, size="small")
    x = fake.confluence_extra
    config = fake_config(fake, products=["confluence"], page_size=6, delete_sweep_hours=1)
    catalog = select(discover(config), STREAMS)
    first = run_tap(config, catalog=catalog)
    assert first.returncode == 0, first.last_stderr_line
    assert not tombstones(first)

    quiet = run_tap(config, catalog=catalog, state=sweep_due(first.last_state))
    assert quiet.returncode == 0, quiet.last_stderr_line
    assert not tombstones(quiet), "nothing was deleted: no tombstone"

    before = visible(fake)
    pages = fake.data.pages()
    trashed = next(p for p in pages[5:] if any(i.container == p.idx for i in x.items("comment")))
    x.trash("page", trashed.id)
    gone_page = pages[9]
    x.purge("page", gone_page.id)  # deleted for good without passing the trash
    purged_later = pages[11]
    x.trash("page", purged_later.id)
    x.purge("page", purged_later.id)
    blog = fake.data.blogposts()[2]
    x.trash("blogpost", blog.id)
    comment = next(i for i in x.items("comment") if fake.data.page_ref(fake.data.page_id(i.container), None))
    x.purge("comment", comment.ident)  # Cloud comments have no trash
    attachment = x.items("attachment")[-1]
    x.trash("attachment", attachment.ident)
    after = visible(fake)

    second = run_tap(config, catalog=catalog, state=sweep_due(quiet.last_state))
    assert second.returncode == 0, second.last_stderr_line
    got = tombstones(second)
    want = {s: sorted(before[s] - after[s]) for s in STREAMS}
    assert got == want, "exactly one tombstone per deleted object"
    assert trashed.id in got["confluence_pages"] and gone_page.id in got["confluence_pages"]
    assert comment.ident in got["confluence_comments"] and attachment.ident in got["confluence_attachments"]
    for stream in STREAMS:
        for record in second.records[stream]:
            if record.get("_sdc_deleted_at"):
                assert set(record) == {"id", "last_modified", "_sdc_deleted_at"}
        state = second.last_state["bookmarks"][stream]
        assert state["replication_key_value"] == quiet.last_state["bookmarks"][stream]["replication_key_value"], \
            "a tombstone never moves the bookmark"

    third = run_tap(config, catalog=catalog, state=sweep_due(second.last_state))
    assert third.returncode == 0, third.last_stderr_line
    assert not tombstones(third), "a deletion is reported once"

    x.restore("page", trashed.id)
    fourth = run_tap(config, catalog=catalog, state=sweep_due(third.last_state))
    assert fourth.returncode == 0, fourth.last_stderr_line
    assert not tombstones(fourth)
    assert trashed.id in live(fourth, "confluence_pages"), "a restored page is live again"
    back = {i.ident for i in x.items("comment") if i.container == trashed.idx}
    assert back and back <= set(live(fourth, "confluence_comments")), "its comments come back with it"
    restored = next(r for r in fourth.records["confluence_pages"] if r["id"] == trashed.id)
    assert restored["labels"] == [] or restored["labels"][0]["name"]
    assert fourth.last_state["bookmarks"]["confluence_pages"]["replication_key_value"] >= \
        third.last_state["bookmarks"]["confluence_pages"]["replication_key_value"]
    fifth = run_tap(config, catalog=catalog, state=sweep_due(fourth.last_state))
    assert trashed.id not in live(fifth, "confluence_pages"), "restored once, not every run"


@pytest.mark.parametrize("flavour", ["cloud", "server"])
def test_sweep_off(fake_factory, flavour: str) -> None:  # noqa: ANN001
    fake = fake_factory(flavour=flavour, seed=9, size="small")
    config = fake_config(fake, products=["confluence"], delete_sweep_hours=0)
    catalog = select(discover(config), STREAMS)
    first = run_tap(config, catalog=catalog)
    assert first.returncode == 0, first.last_stderr_line
    assert "live_ids" not in first.last_state["bookmarks"]["confluence_pages"]
    fake.confluence_extra.trash("page", fake.data.pages()[5].id)
    second = run_tap(config, catalog=catalog, state=sweep_due(first.last_state))
    assert second.returncode == 0, second.last_stderr_line
    assert not tombstones(second)
    assert not fake.log.find("/rest/api/content/search", status=200) or all(
        "order by created" not in (e.query.get("cql") or [""])[0] for e in fake.log.find("/rest/api/content/search"))
