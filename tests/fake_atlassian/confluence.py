"""Confluence routes.

Cloud (`/wiki`): v2 `/api/v2/spaces`, `/api/v2/pages` (cursor, `Link: <...>; rel="next"` and
`_links.next`, both absent on the last page), v1 CQL search `/rest/api/search` and
`/rest/api/content/search` (cursor via `_links.next`), `/rest/api/user/current`.
Server/DC: `/rest/api/space`, `/rest/api/content`, `/rest/api/content/search` (start/limit/size/
`_links.next`, DC caps), `/rest/api/user/current`.
"""

from __future__ import annotations

import re
import zlib
from functools import lru_cache
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

import orjson

from . import cql
from .confluence_objects import PageBuilder
from .data import KINDS, PAGE
from .http import FakeHTTPError, FakeResponse
from .paging import ViewCache, decode_cursor, encode_cursor, int_arg, join_json

if TYPE_CHECKING:
    from .http import FakeRequest
    from .site import FakeAtlassian

V2_SORTS = {"id", "created-date", "modified-date", "title"}


def v2_error(status: int, message: str) -> FakeHTTPError:
    return FakeHTTPError(status, {"errors": [{"status": status, "code": "INVALID_REQUEST_PARAMETER",
                                              "title": message, "detail": None}]})


def v1_error(status: int, message: str) -> FakeHTTPError:
    return FakeHTTPError(status, {"statusCode": status, "data": {"authorized": True, "valid": False,
                                                                 "errors": [], "successful": False},
                                  "message": message})


class Confluence:
    def __init__(self, fake: FakeAtlassian) -> None:
        self.fake = fake
        self.store = fake.data
        self.cloud = fake.flavour == "cloud"
        self.pb = PageBuilder(self.store, cloud=self.cloud)
        self.views = ViewCache()
        self._v2 = lru_cache(maxsize=fake.render_cache)(self._render_v2)

    @property
    def base(self) -> str:
        return self.store.confluence_url

    @property
    def endless_next(self) -> bool:
        """DC bug CONFSERVER-95396 (opt-in quirk): `_links.next` keeps coming past the end."""
        return not self.cloud and "confserver-95396" in self.fake.quirks

    def _render_v2(self, idx: int, version: int, body_format: str | None, single: bool = False) -> bytes:
        page = self.pb.v2_page(idx, body_format) if self.store._p_kind[idx] == PAGE else \
            self.pb.v2_blogpost(idx, body_format)
        if single:  # GET /pages/{id} adds the site base to _links
            page["_links"] = {**page["_links"], "base": self.base}
        return orjson.dumps(page)

    # ----------------------------------------------------------------- shared
    def sorted_pages(self, key: tuple, build_filter, order: list[tuple[str, bool]]) -> list[int]:  # noqa: ANN001
        s = self.store

        def build() -> list[int]:
            with s.lock:
                spaces, modified, created, deleted = s.page_columns()
                out = [i for i in range(len(spaces)) if i not in deleted and build_filter(i)]
                for name, desc in reversed([*order, ("id", False)]):
                    if name == "id":
                        out.sort(reverse=desc)
                    elif name == "title":
                        out.sort(key=self.pb.title, reverse=desc)
                    else:
                        col = modified if name in ("modified-date", "lastmodified") else created
                        out.sort(key=col.__getitem__, reverse=desc)
            return out

        return self.views.get(key, s.generation, build)

    def v2_page_response(self, path: str, items: list[bytes], nxt: str | None,
                         params: dict[str, str]) -> FakeResponse:
        links: dict[str, str] = {"base": self.base}
        headers = []
        link_header = [f"<{self.base}>; rel=\"base\""]
        if nxt is not None:
            rel = f"/wiki{path}?" + urlencode({**params, "cursor": nxt}) if self.cloud else \
                f"{path}?" + urlencode({**params, "cursor": nxt})
            links["next"] = rel
            link_header.insert(0, f"<{rel}>; rel=\"next\"")
        headers.append(("Link", ", ".join(link_header)))
        body = b'{"results":' + join_json(items) + b',"_links":' + orjson.dumps(links) + b"}"
        return FakeResponse(body=body, headers=headers)

    def cursor_slice(self, req: FakeRequest, hits: list[Any], default: int, qkey: str,
                     hi: int = 250) -> tuple[list[Any], str | None, int]:
        err = lambda m: v2_error(400, m)  # noqa: E731
        limit = int_arg(req, "limit", default, err, lo=1, hi=hi)
        start = 0
        token = req.arg("cursor")
        qhash = zlib.crc32(qkey.encode())  # keeps cursors short when the query has 250 ids
        if token:
            state = decode_cursor(token, err)
            if state.get("k") != qhash:
                raise err("Cursor does not belong to this request.")
            start = int(state.get("o", 0))
        page = hits[start:start + limit]
        nxt = encode_cursor(k=qhash, o=start + limit) if start + limit < len(hits) else None
        return page, nxt, limit

    # ----------------------------------------------------------------- v2 (Cloud)
    def v2_spaces(self, req: FakeRequest) -> FakeResponse:
        s = self.store
        ids, keys = set(req.args("ids")), set(req.args("keys"))
        spaces = [sp for sp in s.spaces if (not ids or sp["id"] in ids) and (not keys or sp["key"] in keys)]
        sort = req.arg("sort") or "id"
        field_ = sort.lstrip("-")
        if field_ not in ("id", "key", "name"):
            raise v2_error(400, f"Invalid sort value '{sort}'")
        spaces.sort(key=lambda sp: int(sp["id"]) if field_ == "id" else sp[field_], reverse=sort.startswith("-"))
        qkey = f"spaces|{sorted(ids)}|{sorted(keys)}|{sort}"
        page, nxt, limit = self.cursor_slice(req, spaces, 25, qkey)
        dfmt, icon = req.arg("description-format"), req.arg("include-icon")
        if dfmt not in (None, "plain", "view"):
            raise v2_error(400, f"Invalid description-format '{dfmt}'")
        params = {k: v for k, v in (("ids", ",".join(sorted(ids))), ("keys", ",".join(sorted(keys))),
                                    ("sort", req.arg("sort")), ("description-format", dfmt),
                                    ("include-icon", icon)) if v}
        params["limit"] = str(limit)
        items = [orjson.dumps(self.pb.v2_space(sp, dfmt, icon == "true")) for sp in page]
        return self.v2_page_response("/api/v2/spaces", items, nxt, params)

    def v2_pages(self, req: FakeRequest) -> FakeResponse:
        return self.v2_list(req, "page")

    def v2_blogposts(self, req: FakeRequest) -> FakeResponse:
        return self.v2_list(req, "blogpost")

    def v2_list(self, req: FakeRequest, kind: str) -> FakeResponse:
        """`/pages`, `/blogposts` and their `/spaces/{id}/...` forms."""
        s = self.store
        code = KINDS[kind]
        ids = req.args("id")
        if len(ids) > 250:
            raise v2_error(400, "At most 250 ids may be given.")
        space_ids = set(req.args("space-id") or ([req.params["space"]] if "space" in req.params else []))
        if "space" in req.params and s.space(req.params["space"]) is None:
            raise v2_error(404, "Space not found")
        statuses = set(req.args("status") or ["current", "archived"])
        body_format = req.arg("body-format")
        if body_format not in (None, "storage", "atlas_doc_format"):
            raise v2_error(400, f"Invalid body-format '{body_format}'")
        sort = req.arg("sort") or "id"
        if sort.lstrip("-") not in V2_SORTS:
            raise v2_error(400, f"Invalid sort value '{sort}'")
        title = req.arg("title")
        idset = {s._page_idx(i, kind) for i in ids} - {None} if ids else None
        sp_idx = {s.space(x)["idx"] for x in space_ids if s.space(x)} if space_ids else None
        spaces_col = s.page_columns()[0]

        def keep(i: int) -> bool:
            return ("current" in statuses and s._p_kind[i] == code and (idset is None or i in idset)
                    and (sp_idx is None or spaces_col[i] in sp_idx) and (title is None or self.pb.title(i) == title))

        order = [(sort.lstrip("-"), sort.startswith("-"))]
        qkey = f"{kind}|{sorted(ids)}|{sorted(space_ids)}|{sorted(statuses)}|{sort}|{title}"
        hits = self.sorted_pages(qkey, keep, order)
        page, nxt, limit = self.cursor_slice(req, hits, 25, qkey)
        params = {k: v for k, v in (("id", ",".join(ids)), ("space-id", ",".join(sorted(space_ids))
                                    if "space" not in req.params else ""),
                                    ("sort", req.arg("sort")), ("status", ",".join(req.args("status"))),
                                    ("body-format", body_format), ("title", title)) if v}
        params["limit"] = str(limit)
        items = [self._v2(i, s._p_version[i], body_format) for i in page]
        return self.v2_page_response(req.path[len(self.fake.confluence_context):], items, nxt, params)

    def v2_page(self, req: FakeRequest) -> FakeResponse:
        """`/pages/{id}` and `/blogposts/{id}` (a page id under /blogposts is a 404, and back)."""
        kind = "blogpost" if "/blogposts/" in req.path else "page"
        ref = self.store.page_ref(req.params["id"], kind)
        if ref is None:
            raise v2_error(404, f"{kind.capitalize()} not found")
        fmt = req.arg("body-format")
        return FakeResponse(body=self._v2(ref.idx, ref.version, fmt if fmt in ("storage", "atlas_doc_format") else None,
                                          single=True))

    # ----------------------------------------------------------------- v1 (Cloud search, Server all)
    def v1_expand(self, req: FakeRequest) -> set[str]:
        return set(req.args("expand"))

    def cql_hits(self, req: FakeRequest) -> list[int]:
        q = cql.parse(req.arg("cql") or "", self.store.confluence_tz)
        s = self.store
        spaces_col, modified, created, _ = s.page_columns()
        sp_idx = None if q.spaces is None else {s.space(k)["idx"] for k in q.spaces if s.space(k)}
        cols = {"lastmodified": modified, "created": created}
        ops = {"<": int.__lt__, "<=": int.__le__, ">": int.__gt__, ">=": int.__ge__, "=": int.__eq__}

        kinds = {KINDS[t] for t in q.types if t in KINDS}

        def keep(i: int) -> bool:
            return (s._p_kind[i] in kinds and (sp_idx is None or spaces_col[i] in sp_idx)
                    and all(ops[op](cols[f][i], v) for f, op, v in q.ranges))

        hits = self.sorted_pages(("cql", q.cache_key()), keep, q.order or [("id", True)])
        hidden = s.unindexed(s.page_writes, self.fake.index_lag_ms)
        return [i for i in hits if i not in hidden] if hidden else hits

    def search_limit_cap(self, expand: set[str]) -> int:
        """DC KB caps: body expansion 50, other expansions 200, none 1000."""
        if any(e.startswith("body") for e in expand):
            return 50
        return 200 if expand else 1000

    def v1_search(self, req: FakeRequest) -> FakeResponse:
        """`/rest/api/search` (SearchResult wrappers) and `/rest/api/content/search` (content)."""
        s = self.store
        wrapped = req.path.endswith("/rest/api/search")
        expand = self.v1_expand(req)
        if wrapped:  # /rest/api/search expands the wrapped content as `content.version` etc.
            expand = {e.removeprefix("content.") for e in expand}
        hits = self.cql_hits(req)
        cap = self.search_limit_cap(expand)
        params = {k: v for k, v in (("cql", req.arg("cql")), ("expand", req.arg("expand"))) if v}
        if self.cloud:
            qkey = f"cql|{req.arg('cql')}|{wrapped}"
            page, nxt, limit = self.cursor_slice(req, hits, 25, qkey, hi=cap)
            start = 0
        else:
            err = lambda m: v1_error(400, m)  # noqa: E731
            start = int_arg(req, "start", 0, err, lo=0)
            limit = int_arg(req, "limit", 25, err, lo=1, hi=cap)
            page = hits[start:start + limit]
            nxt = "" if start + limit < len(hits) or self.endless_next else None
        results = []
        for i in page:
            content = self.pb.v1_content(i, expand)
            if wrapped:
                results.append(self.pb.search_result(i, content))
            else:
                results.append(content)
        path = req.path[len(self.fake.confluence_context):]
        links = {"base": self.base, "context": self.fake.confluence_context,
                 "self": self.base + path + ("?" + urlencode(params) if params else "")}
        if nxt is not None:
            more = {"cursor": nxt, "next": "true"} if self.cloud else {"start": start + limit}
            links["next"] = f"{path}?" + urlencode({**params, "limit": limit, **more})
        body: dict[str, Any] = {"results": results, "start": start, "limit": limit, "size": len(results)}
        if wrapped:
            body.update(totalSize=len(hits), cqlQuery=req.arg("cql"), searchDuration=12)
        body["_links"] = links
        return FakeResponse(json=body)

    def v1_spaces(self, req: FakeRequest) -> FakeResponse:
        keys = set(req.args("spaceKey"))
        spaces = [sp for sp in self.store.spaces if not keys or sp["key"] in keys]
        return self.offset_page(req, "/rest/api/space", [self.pb.v1_space(sp) for sp in spaces], 25, 500,
                                {"spaceKey": ",".join(sorted(keys))} if keys else {})

    def space_listing(self, req: FakeRequest, kind: str = "page") -> tuple[str | None, list[int], set[str], int]:
        """(spaceKey, page (or blog post) idxs in id order, expand, limit cap) of a v1 content listing."""
        s = self.store
        code = KINDS[kind]
        key = req.arg("spaceKey")
        if key and s.space(key) is None:
            raise v1_error(404, f"No space with key : {key}")
        expand = self.v1_expand(req)
        sp = s.space(key)["idx"] if key else None
        spaces_col = s.page_columns()[0]
        hits = self.sorted_pages(("content", kind, sp), lambda i: s._p_kind[i] == code and (
            sp is None or spaces_col[i] == sp), [("id", False)])
        return key, hits, expand, 100 if any(e.startswith("body") for e in expand) else 200

    def v1_contents(self, req: FakeRequest) -> FakeResponse:
        ctype = req.arg("type") or "page"
        if ctype not in KINDS:
            raise v1_error(400, f"Unsupported content type: {ctype}")
        key, hits, expand, cap = self.space_listing(req, ctype)
        params = {k: v for k, v in (("type", req.arg("type")), ("spaceKey", key),
                                    ("expand", req.arg("expand"))) if v}
        return self.offset_page(req, "/rest/api/content", hits, 25, cap, params,
                                render=lambda i: self.pb.v1_content(i, expand))

    def offset_page(self, req: FakeRequest, path: str, values: list, default: int, cap: int,
                    params: dict[str, str], render=None) -> FakeResponse:  # noqa: ANN001
        err = lambda m: v1_error(400, m)  # noqa: E731
        start = int_arg(req, "start", 0, err, lo=0)
        limit = int_arg(req, "limit", default, err, lo=0, hi=cap)
        page = values[start:start + limit]
        results = [render(v) for v in page] if render else page
        links = {"base": self.base, "context": self.fake.confluence_context,
                 "self": self.base + path + ("?" + urlencode(params) if params else "")}
        if limit and (start + limit < len(values) or self.endless_next):
            links["next"] = f"{path}?" + urlencode({**params, "limit": limit, "start": start + limit})
        if start > 0:
            links["prev"] = f"{path}?" + urlencode({**params, "limit": limit, "start": max(0, start - limit)})
        return FakeResponse(json={"results": results, "start": start, "limit": limit, "size": len(results),
                                  "_links": links})

    def v1_scan(self, req: FakeRequest) -> FakeResponse:
        """DC 7.18+ `GET /rest/api/content/scan`: pages only, cursor paging via `_links.next`."""
        key, hits, expand, cap = self.space_listing(req)
        page, nxt, limit = self.cursor_slice(req, hits, 25, f"scan|{key}", hi=cap)
        params = {k: v for k, v in (("spaceKey", key), ("expand", req.arg("expand"))) if v}
        links = {"base": self.base, "context": self.fake.confluence_context,
                 "self": self.base + "/rest/api/content/scan" + ("?" + urlencode(params) if params else "")}
        if nxt is not None:
            links["next"] = "/rest/api/content/scan?" + urlencode({**params, "limit": limit, "cursor": nxt})
        results = [self.pb.v1_content(i, expand) for i in page]
        return FakeResponse(json={"results": results, "limit": limit, "size": len(results), "_links": links})

    def v1_content(self, req: FakeRequest) -> FakeResponse:
        ref = self.store.page_ref(req.params["id"])
        if ref is None:
            raise v1_error(404, f"No content found with id : ContentId{{id={req.params['id']}}}")
        return FakeResponse(json=self.pb.v1_content(ref.idx, self.v1_expand(req)))

    def current_user(self, req: FakeRequest) -> FakeResponse:
        return FakeResponse(json=self.pb.v1_user(self.store.demo_user, current=True))


def install(fake: FakeAtlassian) -> None:
    c = Confluence(fake)
    fake.confluence = c  # type: ignore[attr-defined]
    p = re.escape(fake.confluence_context)
    host = fake.confluence_host_tag

    def add(path: str, handler) -> None:  # noqa: ANN001
        fake.route("GET", p + path, handler, host=host, product="confluence")

    add("/rest/api/user/current", c.current_user)
    add("/rest/api/space", c.v1_spaces)
    add("/rest/api/content/search", c.v1_search)
    add(r"/rest/api/content/(?P<id>\d+)", c.v1_content)
    if fake.flavour == "cloud":
        add("/rest/api/search", c.v1_search)
        add("/api/v2/spaces", c.v2_spaces)
        add("/api/v2/pages", c.v2_pages)
        add(r"/api/v2/spaces/(?P<space>\d+)/pages", c.v2_pages)
        add(r"/api/v2/pages/(?P<id>\d+)", c.v2_page)
        add("/api/v2/blogposts", c.v2_blogposts)
        add(r"/api/v2/spaces/(?P<space>\d+)/blogposts", c.v2_blogposts)
        add(r"/api/v2/blogposts/(?P<id>\d+)", c.v2_page)
    else:
        add("/rest/api/content", c.v1_contents)
        add("/rest/api/content/scan", c.v1_scan)
