"""The fake's Confluence comments, attachments, labels, page versions and groups: every v2
answer validates against the vendored Confluence v2 document (no undeclared key), over every
seeded object; the control operations (add, edit, trash, restore, purge) show in every listing."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest
import requests

from tests.fake_atlassian import FakeAtlassian
from tests.specs.validate import assert_conforms

if TYPE_CHECKING:
    from collections.abc import Iterator


@pytest.fixture(scope="module")
def cloud() -> Iterator[FakeAtlassian]:
    with FakeAtlassian(flavour="cloud", seed=23, pages=120) as fake:
        yield fake


def walk(s: requests.Session, fake: FakeAtlassian, path: str, spec_path: str, **params: Any) -> list[dict]:
    out: list[dict] = []
    url: str | None = fake.confluence_url + path
    first = True
    while url:
        r = s.get(url, params=params if first else None, timeout=30)
        first = False
        assert r.status_code == 200, r.text[:300]
        body = r.json()
        assert_conforms("confluence", body, spec_path)
        out += body["results"]
        url = fake.url + body["_links"]["next"] if "next" in body["_links"] else None
    return out


def test_v2_comments_attachments_every_object(cloud: FakeAtlassian) -> None:
    s = cloud.client()
    x = cloud.confluence_extra
    for location in ("footer", "inline"):
        got = walk(s, cloud, f"/api/v2/{location}-comments", f"/{location}-comments", limit=40, **{"body-format": "storage"})
        assert sorted(c["id"] for c in got) == sorted(i.ident for i in x.items("comment", location=location))
        assert all(c["body"]["storage"]["value"] for c in got)
        for c in got[::7]:
            one = s.get(f"{cloud.confluence_url}/api/v2/{location}-comments/{c['id']}", timeout=10).json()
            assert_conforms("confluence", one, f"/{location}-comments/{{comment-id}}")
    replies = [c for c in x.items("comment", location="footer") if c.parent is not None]
    assert replies, "the seed has replies"
    attachments = walk(s, cloud, "/api/v2/attachments", "/attachments", limit=20)
    assert sorted(a["id"] for a in attachments) == sorted(i.ident for i in x.items("attachment"))
    for a in attachments[::5]:
        assert_conforms("confluence", s.get(f"{cloud.confluence_url}/api/v2/attachments/{a['id']}", timeout=10).json(), "/attachments/{id}")


def test_v2_versions_and_labels_every_page(cloud: FakeAtlassian) -> None:
    s = cloud.client()
    for ref in cloud.data.pages():
        versions = walk(s, cloud, f"/api/v2/pages/{ref.id}/versions", "/pages/{id}/versions", limit=2)
        assert [v["number"] for v in versions] == list(range(ref.version, 0, -1))
        assert versions[0]["createdAt"] == cloud.confluence.pb.v2_page(ref.idx, None)["version"]["createdAt"]
        times = [v["createdAt"] for v in versions]
        assert times == sorted(times, reverse=True)
        walk(s, cloud, f"/api/v2/pages/{ref.id}/labels", "/pages/{id}/labels")
    for ref in cloud.data.blogposts():
        walk(s, cloud, f"/api/v2/blogposts/{ref.id}/labels", "/blogposts/{id}/labels")
    assert s.get(f"{cloud.confluence_url}/api/v2/pages/{cloud.data.blogposts()[0].id}/labels", timeout=10).status_code == 404


@pytest.mark.parametrize("flavour", ["cloud", "server"])
def test_control_operations_show_everywhere(fake_factory, flavour: str) -> None:  # noqa: ANN001
    fake = fake_factory(flavour=flavour, seed=5)
    s, base, x = fake.client(), fake.confluence_url, fake.confluence_extra

    def cql_ids(kind: str) -> set[str]:
        r = s.get(base + "/rest/api/content/search", params={"cql": f"type = {kind}", "limit": 1000}, timeout=10)
        assert r.status_code == 200, r.text
        return {c["id"] for c in r.json()["results"]}

    page = fake.data.pages()[4]
    new = x.add("comment", page.id, location="inline")
    reply = x.add("comment", page.id, parent=new)
    att = x.add("attachment", page.id)
    assert {new, reply} <= cql_ids("comment") and att in cql_ids("attachment")
    x.edit("comment", new)
    before = page.version
    fake.control.touch("page", page.id)
    fake.control.touch("page", page.id)
    versions = x.data.version_times(page.idx)
    assert len(versions) == before + 2 and versions == sorted(versions)
    x.trash("page", page.id)
    assert page.id not in cql_ids("page") and new not in cql_ids("comment") and att not in cql_ids("attachment")
    x.restore("page", page.id)
    assert page.id in cql_ids("page") and new in cql_ids("comment")
    x.trash("attachment", att)
    assert att not in cql_ids("attachment")
    if flavour == "cloud":
        one = s.get(f"{base}/api/v2/attachments/{att}", timeout=10).json()
        assert one["status"] == "trashed"
    else:
        assert s.get(f"{base}/rest/api/content/{att}", timeout=10).status_code == 404
    x.purge("attachment", att)
    x.purge("comment", reply)
    assert reply not in cql_ids("comment")
    x.trash("page", page.id)
    x.purge("page", page.id)
    with pytest.raises(KeyError):
        x.restore("page", page.id)
    assert s.get(f"{base}/rest/api/content/{page.id}", timeout=10).status_code == 404


@pytest.mark.parametrize("flavour", ["cloud", "server"])
def test_groups_over_several_pages(fake_factory, flavour: str) -> None:  # noqa: ANN001
    fake = fake_factory(flavour=flavour, seed=5)
    s, base = fake.client(), fake.confluence_url
    names, start = [], 0
    while True:
        body = s.get(base + "/rest/api/group", params={"limit": 4, "start": start}, timeout=10).json()
        names += [g["name"] for g in body["results"]]
        if "next" not in body["_links"]:
            break
        start += 4
    groups = fake.confluence_extra.data.groups
    assert names == [g["name"] for g in groups] and len(groups) > 8
    g = groups[3]
    path = f"/rest/api/group/{g['id']}/membersByGroupId" if flavour == "cloud" else f"/rest/api/group/{g['name']}/member"
    members = s.get(base + path, params={"limit": 200}, timeout=10).json()["results"]
    key = "accountId" if flavour == "cloud" else "userKey"
    assert [m[key] for m in members] == [fake.data.users[u]["account_id" if flavour == "cloud" else "key"]
                                          for u in g["members"]]
