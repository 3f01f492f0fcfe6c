"""Confluence routes beyond spaces, pages and blog posts: comments, attachments, labels, page
versions, groups; plus the control operations on them (`fake.confluence_extra`).

Cloud (`/wiki`), v2 (cursor paging as `/pages`): `/api/v2/footer-comments`, `/inline-comments`
(site-wide, replies included, `sort` created-date|modified-date and `-`), `/footer-comments/{id}`,
`/inline-comments/{id}`, `/attachments` (`status` current|archived|trashed), `/attachments/{id}`,
`/pages/{id}/versions` (`sort` modified-date|-modified-date, default newest first),
`/pages/{id}/labels`, `/blogposts/{id}/labels`; v1 `/rest/api/group` and
`/rest/api/group/{groupId}/membersByGroupId` (start/limit).
Server/DC, v1 (start/limit): `/rest/experimental/content/{id}/version` (newest first),
`/rest/api/group`, `/rest/api/group/{groupName}/member`; labels as `metadata.labels` expansion
(at most `fake.confluence.pb.labels_expand_limit`, default 200) and `/rest/api/content/{id}/label`.
Both: CQL `type = comment` / `type = attachment` on `/rest/api/content/search` (the core route
answers pages and blog posts), `/rest/api/content/{id}` for a comment or attachment.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

import orjson

from . import cql
from .confluence import v1_error, v2_error
from .confluence_extra_data import MEDIA, ExtraStore, Item
from .http import FakeResponse
from .paging import int_arg
from .timefmt import iso_z

if TYPE_CHECKING:
    from .confluence import Confluence
    from .http import FakeRequest
    from .site import FakeAtlassian

ITEM_TYPES = {"comment", "attachment"}


class ConfluenceExtra:
    """Routes and control operations (`add`, `edit`, `trash`, `restore`, `purge`)."""

    def __init__(self, fake: FakeAtlassian) -> None:
        self.fake = fake
        self.c: Confluence = fake.confluence  # type: ignore[attr-defined]
        self.store = fake.data
        self.data = ExtraStore(fake.data)
        self.cloud = fake.flavour == "cloud"
        self.c.pb.labels_of = self.data.labels
        self.versions_prefix = "/rest/experimental"  # Server/DC: where page histories are served
        self.reply_container = True  # False: v2 replies name only their parent (no pageId/blogPostId)

    # ----------------------------------------------------------------- control
    def add(self, kind: str, container: str, *, location: str = "footer", parent: str | None = None,
            at: str | int | None = None) -> str:
        """A comment (`location` footer|inline, `parent` for a reply) or attachment on a page or
        blog post (`container`: its id); returns the new id."""
        return self.data.add(kind, container, location=location, parent=parent, at=at).ident

    def edit(self, kind: str, ident: str, at: str | int | None = None) -> str:
        """A new version (modified now, or `at`). Pages and blog posts: `control.touch` works too."""
        if kind in ("page", "blogpost"):
            return self.fake.control.touch(kind, ident, at)["id"]
        return self.data.edit(kind, ident, at).ident  # type: ignore[union-attr]

    def trash(self, kind: str, ident: str) -> None:
        """Page, blog post, comment or attachment to the trash."""
        self.data.trash(kind, ident)

    def restore(self, kind: str, ident: str) -> None:
        """Back from the trash, unchanged."""
        self.data.restore(kind, ident)

    def purge(self, kind: str, ident: str) -> None:
        """Gone for good."""
        self.data.purge(kind, ident)

    def items(self, kind: str, *, location: str | None = None) -> list[Item]:
        """Every visible comment or attachment (what a full sync must return), by id."""
        return sorted((i for i in self.data.all_items().values() if i.kind == kind and self.data.visible(i)
                       and (location is None or i.location == location)), key=lambda i: i.id)

    # ----------------------------------------------------------------- shapes
    def _container(self, item: Item) -> dict[str, str]:
        key = "pageId" if self.data.is_page(item.container) else "blogPostId"
        return {key: self.store.page_id(item.container)}

    def v2_version(self, item: Item) -> dict:
        return {"createdAt": iso_z(item.modified), "message": "", "number": item.version, "minorEdit": False,
                "authorId": self.c.pb.author(item.id, f"editor{item.version}")["account_id"]}

    def v2_comment(self, item: Item, body_format: str | None) -> dict:
        pid = self.store.page_id(item.container)
        d: dict[str, Any] = {"id": item.ident, "status": item.status, "title": self.data.title(item)}
        if item.parent is None or self.reply_container:
            d.update(self._container(item))
        if item.parent is not None:
            d["parentCommentId"] = str(item.parent)
        d["version"] = self.v2_version(item)
        d["body"] = {"storage": {"representation": "storage", "value": self.data.body(item)}} \
            if body_format == "storage" else {}
        if item.location == "inline":
            d.update(resolutionStatus="open", properties={
                "inlineMarkerRef": f"marker-{item.id}", "inlineOriginalSelection": "selected text"})
        d["_links"] = {"webui": f"/pages/viewpage.action?pageId={pid}&focusedCommentId={item.id}#comment-{item.id}"}
        return d

    def v2_attachment(self, item: Item) -> dict:
        pid = self.store.page_id(item.container)
        title = self.data.title(item)
        media, description, _ = MEDIA[item.media]
        download = f"/download/attachments/{pid}/{title}?version={item.version}&api=v2"
        return {"id": item.ident, "status": item.status, "title": title, "createdAt": iso_z(item.created),
                **self._container(item), "mediaType": media, "mediaTypeDescription": description,
                "comment": "", "fileId": f"{item.id:08x}-0000-4000-8000-{item.id:012x}", "fileSize": item.size,
                "webuiLink": f"/pages/viewpageattachments.action?pageId={pid}&preview={title}",
                "downloadLink": download, "version": self.v2_version(item),
                "_links": {"webui": f"/pages/viewpageattachments.action?pageId={pid}", "download": download}}

    def v1_version(self, item: Item) -> dict:
        return {"by": self.c.pb.v1_user(self.c.pb.author(item.id, f"editor{item.version}")),
                "when": self.c.pb.when(item.modified), "friendlyWhen": "a while ago", "message": "",
                "number": item.version, "minorEdit": False,
                "_links": {"self": f"{self.store.confluence_url}/rest/experimental/content/{item.ident}/version/{item.version}"}}

    def v1_item(self, item: Item, expand: set[str]) -> dict:
        """v1 content of type comment or attachment."""
        pid = self.store.page_id(item.container)
        title = self.data.title(item)
        d: dict[str, Any] = {"id": item.ident, "type": item.kind, "status": item.status, "title": title}
        expandable: dict[str, str] = {}
        if "version" in expand:
            d["version"] = self.v1_version(item)
        else:
            expandable["version"] = ""
        if "container" in expand:
            d["container"] = self.c.pb.v1_content(item.container, set())
        else:
            expandable["container"] = f"/rest/api/content/{pid}"
        if "space" in expand:
            d["space"] = self.c.pb.v1_space(self.store.spaces[self.store._p_space[item.container]])
        if item.kind == "comment":
            ext: dict[str, Any] = {"location": item.location}
            if item.location == "inline":
                ext["inlineProperties"] = {"markerRef": f"marker-{item.id}", "originalSelection": "selected text"}
                ext["resolution"] = {"status": "open", "lastModifiedDate": self.c.pb.when(item.modified)}
            d["extensions"] = ext
            if "ancestors" in expand:
                d["ancestors"] = [] if item.parent is None else [
                    {"id": str(item.parent), "type": "comment", "status": "current", "title": title}]
            if "body.storage" in expand:
                d["body"] = {"storage": {"value": self.data.body(item), "representation": "storage"}}
            link = f"/pages/viewpage.action?pageId={pid}&focusedCommentId={item.id}#comment-{item.id}"
        else:
            media, _, _ = MEDIA[item.media]
            d["metadata"] = {"mediaType": media, "comment": ""}
            d["extensions"] = {"mediaType": media, "fileSize": item.size, "comment": ""}
            link = f"/pages/viewpageattachments.action?pageId={pid}&preview={title}"
            d["_links"] = {"download": f"/download/attachments/{pid}/{title}?version={item.version}"}
        d["_expandable"] = expandable
        d["_links"] = {**d.get("_links", {}), "webui": link,
                       "self": f"{self.store.confluence_url}/rest/api/content/{item.ident}"}
        return d

    # ----------------------------------------------------------------- v2 routes
    def _v2_sorted(self, req: FakeRequest, items: list[Item]) -> tuple[list[Item], str]:
        sort = req.arg("sort") or "id"
        field = sort.lstrip("-")
        if field not in ("id", "created-date", "modified-date"):
            raise v2_error(400, f"Invalid sort value '{sort}'")
        key = {"id": lambda i: i.id, "created-date": lambda i: (i.created, i.id),
               "modified-date": lambda i: (i.modified, i.id)}[field]
        return sorted(items, key=key, reverse=sort.startswith("-")), sort

    def v2_comments(self, req: FakeRequest) -> FakeResponse:
        location = "inline" if "/inline-comments" in req.path else "footer"
        body_format = req.arg("body-format")
        if body_format not in (None, "storage", "atlas_doc_format"):
            raise v2_error(400, f"Invalid body-format '{body_format}'")
        hits, sort = self._v2_sorted(req, self.items("comment", location=location))
        qkey = f"{location}|{sort}|{self.store.generation}"
        page, nxt, limit = self.c.cursor_slice(req, hits, 25, qkey)
        params = {k: v for k, v in (("sort", req.arg("sort")), ("body-format", body_format)) if v}
        params["limit"] = str(limit)
        items = [orjson.dumps(self.v2_comment(i, body_format)) for i in page]
        return self.c.v2_page_response(f"/api/v2/{location}-comments", items, nxt, params)

    def v2_comment_single(self, req: FakeRequest) -> FakeResponse:
        location = "inline" if "/inline-comments" in req.path else "footer"
        item = self.data.item(req.params["id"], "comment")
        if item is None or item.location != location or not self.data.container_live(item.container):
            raise v2_error(404, "Comment not found")
        d = self.v2_comment(item, req.arg("body-format"))
        d["_links"]["base"] = self.c.base
        return FakeResponse(json=d)

    def v2_attachments(self, req: FakeRequest) -> FakeResponse:
        statuses = set(req.args("status") or ["current", "archived"])
        if not statuses <= {"current", "archived", "trashed"}:
            raise v2_error(400, f"Invalid status {sorted(statuses)}")
        pool = [i for i in self.data.all_items().values() if i.kind == "attachment"
                and self.data.container_live(i.container) and i.status in statuses]
        hits, sort = self._v2_sorted(req, pool)
        qkey = f"att|{sort}|{sorted(statuses)}|{self.store.generation}"
        page, nxt, limit = self.c.cursor_slice(req, hits, 50, qkey)
        params = {k: v for k, v in (("sort", req.arg("sort")), ("status", ",".join(req.args("status")))) if v}
        params["limit"] = str(limit)
        return self.c.v2_page_response("/api/v2/attachments", [orjson.dumps(self.v2_attachment(i)) for i in page],
                                       nxt, params)

    def v2_attachment_single(self, req: FakeRequest) -> FakeResponse:
        item = self.data.item(req.params["id"], "attachment")
        if item is None or not self.data.container_live(item.container):
            raise v2_error(404, "Attachment not found")
        d = self.v2_attachment(item)
        d["_links"]["base"] = self.c.base
        return FakeResponse(json=d)

    def v2_versions(self, req: FakeRequest) -> FakeResponse:
        ref = self.store.page_ref(req.params["id"], "page")
        if ref is None:
            raise v2_error(404, "Page not found")
        sort = req.arg("sort") or "-modified-date"
        if sort not in ("modified-date", "-modified-date"):
            raise v2_error(400, f"Invalid sort value '{sort}'")
        times = self.data.version_times(ref.idx)
        numbers = list(range(1, len(times) + 1))
        if sort.startswith("-"):
            numbers.reverse()
        page, nxt, limit = self.c.cursor_slice(req, numbers, 25, f"versions|{ref.id}|{ref.version}|{sort}")
        title = self.c.pb.title(ref.idx)
        items = [orjson.dumps({"createdAt": iso_z(times[n - 1]), "message": "", "number": n, "minorEdit": False,
                               "authorId": self.c.pb.author(ref.idx, f"editor{n}")["account_id"],
                               "page": {"id": ref.id, "title": title}}) for n in page]
        params = {"sort": sort, "limit": str(limit)} if req.arg("sort") else {"limit": str(limit)}
        return self.c.v2_page_response(f"/api/v2/pages/{ref.id}/versions", items, nxt, params)

    def v2_labels(self, req: FakeRequest) -> FakeResponse:
        kind = "blogpost" if "/blogposts/" in req.path else "page"
        ref = self.store.page_ref(req.params["id"], kind)
        if ref is None:
            raise v2_error(404, f"{kind.capitalize()} not found")
        labels = self.data.labels(ref.idx)
        page, nxt, limit = self.c.cursor_slice(req, labels, 25, f"labels|{ref.id}")
        return self.c.v2_page_response(req.path[len(self.fake.confluence_context):],
                                       [orjson.dumps(x) for x in page], nxt, {"limit": str(limit)})

    # ----------------------------------------------------------------- v1 routes
    def search(self, req: FakeRequest) -> FakeResponse:
        """CQL over comments or attachments; pages and blog posts go to the core route."""
        q = cql.parse(req.arg("cql") or "", self.store.confluence_tz)
        if not q.types & ITEM_TYPES:
            return self.c.v1_search(req)
        if q.types - ITEM_TYPES:
            raise cql.cql_error("the fake searches comments and attachments apart from other types")
        s = self.store
        hidden = s.unindexed(self.data.writes, self.fake.index_lag_ms)
        ops = {"<": int.__lt__, "<=": int.__le__, ">": int.__gt__, ">=": int.__ge__, "=": int.__eq__}

        def keep(i: Item) -> bool:
            return (i.kind in q.types and self.data.visible(i) and i.id not in hidden
                    and (q.spaces is None or s.spaces[s._p_space[i.container]]["key"] in q.spaces)
                    and all(ops[op](i.modified if f == "lastmodified" else i.created, v) for f, op, v in q.ranges))

        hits = [i for i in self.data.all_items().values() if keep(i)]
        for name, desc in reversed([*(q.order or [("id", True)]), ("id", False)]):
            attr = {"lastmodified": "modified", "created": "created"}.get(name, "id")
            hits.sort(key=lambda i, a=attr: getattr(i, a) if a != "title" else self.data.title(i), reverse=desc)
        expand = set(req.args("expand"))
        cap = self.c.search_limit_cap(expand)
        params = {k: v for k, v in (("cql", req.arg("cql")), ("expand", req.arg("expand"))) if v}
        if self.cloud:
            page, nxt, limit = self.c.cursor_slice(req, hits, 25, f"cqlx|{req.arg('cql')}|{s.generation}", hi=cap)
            start = 0
        else:
            err = lambda m: v1_error(400, m)  # noqa: E731
            start = int_arg(req, "start", 0, err, lo=0)
            limit = int_arg(req, "limit", 25, err, lo=1, hi=cap)
            page = hits[start:start + limit]
            nxt = "" if start + limit < len(hits) else None
        path = req.path[len(self.fake.confluence_context):]
        links = {"base": self.c.base, "context": self.fake.confluence_context,
                 "self": self.c.base + path + "?" + urlencode(params)}
        if nxt is not None:
            more = {"cursor": nxt, "next": "true"} if self.cloud else {"start": start + limit}
            links["next"] = f"{path}?" + urlencode({**params, "limit": limit, **more})
        results = [self.v1_item(i, expand) for i in page]
        return FakeResponse(json={"results": results, "start": start, "limit": limit, "size": len(results),
                                  "_links": links})

    def v1_content(self, req: FakeRequest) -> FakeResponse:
        """`/rest/api/content/{id}`: a comment or attachment here, else the core route."""
        ident = req.params["id"]
        num = int(ident[3:] if ident.startswith("att") else ident)
        if num < 1_000_000 and not ident.startswith("att"):
            return self.c.v1_content(req)
        item = self.data.item(ident)
        if item is None or not self.data.visible(item):
            raise v1_error(404, f"No content found with id : ContentId{{id={ident}}}")
        return FakeResponse(json=self.v1_item(item, set(req.args("expand"))))

    def v1_versions(self, req: FakeRequest) -> FakeResponse:
        """DC `/rest/experimental/content/{id}/version`: every version, newest first. With
        `versions_prefix = "/rest/api"` the build serves it there instead (the experimental
        path is then a 404), as some Data Center builds may."""
        prefix = req.path[len(self.fake.confluence_context):].split("/content/")[0]
        ref = self.store.page_ref(req.params["id"], None)
        if prefix != self.versions_prefix:
            raise v1_error(404, "null for uri: " + req.path)
        if ref is None:
            raise v1_error(404, f"No content found with id : ContentId{{id={req.params['id']}}}")
        times = self.data.version_times(ref.idx)
        pb = self.c.pb

        def render(n: int) -> dict:
            return {"by": pb.v1_user(pb.author(ref.idx, f"editor{n}")), "when": pb.when(times[n - 1]),
                    "friendlyWhen": "a while ago", "message": "", "number": n, "minorEdit": False,
                    "_expandable": {"collaborators": "", "content": f"/rest/api/content/{ref.id}"},
                    "_links": {"self": f"{self.store.confluence_url}{prefix}/content/{ref.id}/version/{n}"}}

        numbers = list(range(len(times), 0, -1))
        return self.c.offset_page(req, f"{prefix}/content/{ref.id}/version", numbers, 25, 200, {},
                                  render=render)

    def v1_labels(self, req: FakeRequest) -> FakeResponse:
        """`/rest/api/content/{id}/label` (start/limit, default 200): a page's or blog post's labels."""
        ref = self.store.page_ref(req.params["id"], None)
        if ref is None:
            raise v1_error(404, f"No content found with id : ContentId{{id={req.params['id']}}}")
        labels = [{"prefix": x["prefix"], "name": x["name"], "id": x["id"], "label": x["name"]}
                  for x in self.data.labels(ref.idx)]
        return self.c.offset_page(req, f"/rest/api/content/{ref.id}/label", labels, 200, 200, {})

    def v1_groups(self, req: FakeRequest) -> FakeResponse:
        def render(g: dict) -> dict:
            d = {"type": "group", "name": g["name"]}
            if self.cloud:
                d["id"] = g["id"]
            d["_links"] = {"self": f"{self.store.confluence_url}/rest/api/group/{g['name']}"}
            return d

        return self.c.offset_page(req, "/rest/api/group", self.data.groups, 200, 1000, {}, render=render)

    def v1_members(self, req: FakeRequest) -> FakeResponse:
        ident = req.params["group"]
        key = "id" if self.cloud else "name"
        group = next((g for g in self.data.groups if g[key] == ident), None)
        if group is None:
            raise v1_error(404, f"No group found with {'id' if self.cloud else 'name'} : {ident}")
        users = [self.store.users[u] for u in group["members"]]
        return self.c.offset_page(req, req.path[len(self.fake.confluence_context):], users, 200, 1000, {},
                                  render=self.c.pb.v1_user)


def install(fake: FakeAtlassian) -> None:
    """Routes, and `fake.confluence_extra` for tests (after the core Confluence routes)."""
    x = ConfluenceExtra(fake)
    fake.confluence_extra = x  # type: ignore[attr-defined]
    touch = fake.data.touch_page

    def touch_page(page_id: str | int, at: str | int | None = None):  # noqa: ANN202
        ref = touch(page_id, at)
        x.data.on_page_touched(ref.idx, ref.modified)
        return ref

    fake.data.touch_page = touch_page  # type: ignore[method-assign]  # page histories keep each edit's time
    p = re.escape(fake.confluence_context)
    host = fake.confluence_host_tag

    def add(path: str, handler) -> None:  # noqa: ANN001
        fake.route("GET", p + path, handler, host=host, product="confluence")

    add("/rest/api/content/search", x.search)
    add(r"/rest/api/content/(?P<id>(att)?\d+)", x.v1_content)
    add("/rest/api/group", x.v1_groups)
    add(r"/rest/api/content/(?P<id>\d+)/label", x.v1_labels)
    if fake.flavour == "cloud":
        add("/api/v2/footer-comments", x.v2_comments)
        add("/api/v2/inline-comments", x.v2_comments)
        add(r"/api/v2/footer-comments/(?P<id>\d+)", x.v2_comment_single)
        add(r"/api/v2/inline-comments/(?P<id>\d+)", x.v2_comment_single)
        add("/api/v2/attachments", x.v2_attachments)
        add(r"/api/v2/attachments/(?P<id>att\d+)", x.v2_attachment_single)
        add(r"/api/v2/pages/(?P<id>\d+)/versions", x.v2_versions)
        add(r"/api/v2/(pages|blogposts)/(?P<id>\d+)/labels", x.v2_labels)
        add(r"/rest/api/group/(?P<group>[^/]+)/membersByGroupId", x.v1_members)
    else:
        add(r"/rest/experimental/content/(?P<id>\d+)/version", x.v1_versions)
        add(r"/rest/api/content/(?P<id>\d+)/version", x.v1_versions)
        add(r"/rest/api/group/(?P<group>[^/]+)/member", x.v1_members)
