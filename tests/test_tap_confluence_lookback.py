"""Confluence records indexed late: a page and a comment that become searchable only after
the bookmark passed their time (three hours before it) are emitted by the next run through
the look-back span; nothing unchanged is emitted twice. Cloud and Server/DC."""

from __future__ import annotations

import datetime as dt

import pytest

from tests.tapdriver import discover, fake_config, run_tap, select

UTC = dt.timezone.utc
STREAMS = ["confluence_pages", "confluence_comments", "confluence_attachments"]


def iso(value: dt.datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def ids(run, stream: str) -> list[str]:  # noqa: ANN001
    return [r["id"] for r in run.records.get(stream, []) if not r.get("_sdc_deleted_at")]


@pytest.mark.parametrize("flavour", ["cloud", "server"])
def test_late_records_are_caught_once(fake_factory, flavour: str) -> None:  # noqa: ANN001
    fake = fake_factory(flavour=flavour, seed=21, size="small")
    x = fake.confluence_extra
    config = fake_config(fake, products=["confluence"], page_size=7)
    catalog = select(discover(config), STREAMS)
    first = run_tap(config, catalog=catalog)
    assert first.returncode == 0, first.last_stderr_line
    mark = {s: dt.datetime.fromisoformat(first.last_state["bookmarks"][s]["replication_key_value"].replace("Z", "+00:00"))
            for s in STREAMS}
    # the index shows them only now, with a time three hours before the bookmark
    page = fake.data.pages()[6]
    fake.control.touch("page", page.id, at=iso(mark["confluence_pages"] - dt.timedelta(hours=3)))
    comment = x.items("comment")[4]
    x.edit("comment", comment.ident, at=iso(mark["confluence_comments"] - dt.timedelta(hours=3)))
    attachment = x.items("attachment")[2]
    x.edit("attachment", attachment.ident, at=iso(mark["confluence_attachments"] - dt.timedelta(hours=3)))

    blind = run_tap({**config, "lookback_minutes": 0}, catalog=catalog, state=first.last_state)
    assert blind.returncode == 0, blind.last_stderr_line
    assert page.id not in ids(blind, "confluence_pages"), "without the look-back a late record is missed"

    second = run_tap(config, catalog=catalog, state=first.last_state)
    assert second.returncode == 0, second.last_stderr_line
    assert ids(second, "confluence_pages") == [page.id]
    assert ids(second, "confluence_comments") == [comment.ident]
    assert ids(second, "confluence_attachments") == [attachment.ident]
    for stream in STREAMS:
        assert second.last_state["bookmarks"][stream]["replication_key_value"] == \
            first.last_state["bookmarks"][stream]["replication_key_value"], "a late record never moves the bookmark back"

    third = run_tap(config, catalog=catalog, state=second.last_state)
    assert third.returncode == 0, third.last_stderr_line
    assert not any(ids(third, s) for s in STREAMS), "nothing unchanged is emitted twice"
