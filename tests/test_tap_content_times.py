"""A v1 content item answered without its replication-key value (neither ``version`` nor
``history.lastUpdated``: seen from real Server/DC sites behind restricted expansions) is never
emitted with ``last_modified: null``: one extra read by id gives it, else it is skipped with
a warning."""

from __future__ import annotations

import orjson
import pytest

from tests.fake_atlassian.http import FakeResponse
from tests.tapdriver import discover, fake_config, run_tap, select


def strip_times(fake, path: str, victim: str, times: int | None = None):  # noqa: ANN001, ANN201
    """Answers of ``path`` (the fake's own) with ``victim``'s version and history removed."""
    route = next(r for r in fake.routes if r.method == "GET" and r.pattern.pattern == path)
    seen = {"n": 0}

    def answer(req):  # noqa: ANN001, ANN202
        resp = route.handler(req)
        body = resp.json if resp.json is not None else orjson.loads(resp.payload())
        items = body.get("results") if isinstance(body, dict) and "results" in body else [body]
        for item in items:
            if str(item.get("id")) == victim and (times is None or seen["n"] < times):
                seen["n"] += 1
                item.pop("version", None)
                item.pop("history", None)
        return FakeResponse(resp.status, json=body)

    fake.route("GET", path, answer, product="confluence")


@pytest.fixture
def site(fake_factory):  # noqa: ANN001, ANN201
    fake = fake_factory(flavour="server")
    config = fake_config(fake, products=["confluence"])
    return fake, config, select(discover(config), ["confluence_pages"])


def test_a_page_without_its_time_is_read_again_by_id(site) -> None:  # noqa: ANN001
    fake, config, catalog = site
    victim = str(fake.data.pages()[4].id)
    strip_times(fake, "/rest/api/content", victim)
    run = run_tap(config, catalog=catalog)
    assert run.returncode == 0, run.last_stderr_line
    pages = {str(r["id"]): r for r in run.records["confluence_pages"]}
    assert len(pages) == fake.data.page_count()
    assert pages[victim]["last_modified"] is not None
    fake.routes = [r for r in fake.routes if r.handler.__name__ != "answer"]
    reference = run_tap(config, catalog=catalog)  # the same site answering normally
    expected = {str(r["id"]): r["last_modified"] for r in reference.records["confluence_pages"]}
    assert pages[victim]["last_modified"] == expected[victim]
    reads = [e for e in fake.log if e.path == f"/rest/api/content/{victim}"]
    assert reads  # the one extra read


def test_a_page_whose_time_cannot_be_found_is_skipped_with_a_warning(site) -> None:  # noqa: ANN001
    fake, config, catalog = site
    victim = str(fake.data.pages()[4].id)
    strip_times(fake, "/rest/api/content", victim)
    strip_times(fake, r"/rest/api/content/(?P<id>\d+)", victim)
    run = run_tap(config, catalog=catalog)
    assert run.returncode == 0, run.last_stderr_line
    ids = [str(r["id"]) for r in run.records["confluence_pages"]]
    assert victim not in ids and len(ids) == fake.data.page_count() - 1
    assert all(r["last_modified"] for r in run.records["confluence_pages"])
    warnings = [ln for ln in run.stderr.splitlines() if "WARNING" in ln and victim in ln]
    assert len(warnings) == 1 and "no version time" in warnings[0] and "skipped" in warnings[0]
