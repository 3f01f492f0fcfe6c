"""Jira platform routes: search (Cloud `/search/jql` tokens, Server `/search` offsets), fields,
myself, serverInfo, issue, project. Cloud's old `/rest/api/{2,3}/search` answers 410."""

from __future__ import annotations

import re
from functools import lru_cache
from typing import TYPE_CHECKING

import orjson

from . import jql
from .http import FakeHTTPError, FakeResponse
from .jira_objects import ALL_FIELD_IDS, NAVIGABLE_IDS, IssueBuilder, field_list, user_json
from .jira_objects import changelog as build_changelog
from .paging import ViewCache, decode_cursor, encode_cursor, int_arg, join_json
from .site import error_400
from .timefmt import jira_time, now_ms

if TYPE_CHECKING:
    from .http import FakeRequest
    from .site import FakeAtlassian

GONE = {"errorMessages": [
    "The requested API has been removed. Please migrate to the /rest/api/3/search/jql API. A full "
    "migration guideline is available at https://developer.atlassian.com/changelog/#CHANGE-2046"]}
EXPAND = "renderedFields,names,schema,operations,editmeta,changelog,versionedRepresentations"
CLOUD_MAX = 100  # /search/jql page cap with fields; 5000 when only id/key are asked for
CLOUD_MAX_IDS = 5000
SERVER_MAX = 1000  # jira.search.views.default.max


class Jira:
    def __init__(self, fake: FakeAtlassian) -> None:
        self.fake = fake
        self.store = fake.data
        self.builder = IssueBuilder(self.store)
        self.views = ViewCache()
        self.cloud = fake.flavour == "cloud"
        self._issue_bytes = lru_cache(maxsize=fake.render_cache)(self._render)
        self.field_names: dict[str, str] = {}  # field id -> new name (control.rename_field)

    # ----------------------------------------------------------------- rendering
    def _render(self, idx: int, version: int, api: str, fields: tuple[str, ...] | None) -> bytes:
        """One issue as JSON bytes; fields None = id only (Cloud /search/jql default)."""
        s = self.store
        iid = str(10000 + idx)
        if fields is None:
            return orjson.dumps({"id": iid})
        full = self.builder.issue(idx, api)
        return orjson.dumps({"expand": EXPAND, "id": iid,
                             "self": f"{s.jira_url}/rest/api/{api}/issue/{iid}", "key": s.issue_key(idx),
                             "fields": {f: full[f] for f in fields if f in full}})

    def issue_bytes(self, idx: int, api: str, fields: tuple[str, ...] | None) -> bytes:
        return self._issue_bytes(idx, self.store._i_ver[idx], api, fields)

    def fields_spec(self, raw: list[str] | None) -> tuple[str, ...] | None:
        """Jira `fields`: named ids, `*all`, `*navigable`, `-id` exclusions; None = id only."""
        if not raw:
            return None if self.cloud else tuple(NAVIGABLE_IDS)
        chosen: list[str] = []
        excluded: set[str] = set()
        for f in raw:
            f = f.strip()
            if f == "*all":
                chosen += ALL_FIELD_IDS
            elif f == "*navigable":
                chosen += NAVIGABLE_IDS
            elif f.startswith("-"):
                excluded.add(f[1:])
            elif f in ("id", "key"):
                continue
            elif f:
                chosen.append(f)
        out = tuple(dict.fromkeys(c for c in chosen if c not in excluded))
        if not out:
            return None if all(f.strip() in ("id", "key") for f in raw) else ()
        return out

    # ----------------------------------------------------------------- query
    def run(self, text: str, *, require_bounded: bool) -> list[int]:
        s = self.store
        q = jql.parse(text, s.jira_tz, {p["key"] for p in s.projects})
        if require_bounded and not q.bounded:
            raise jql.jql_error("Unbounded JQL queries are not allowed here. Please add a search "
                                "restriction to your query.")
        hits = self.views.get(q.cache_key(), s.generation, lambda: self._evaluate(q))
        hidden = s.unindexed(s.issue_writes, self.fake.index_lag_ms)
        return [i for i in hits if i not in hidden] if hidden else hits

    def _evaluate(self, q: jql.Query) -> list[int]:
        s = self.store
        with s.lock:
            proj, updated, created, deleted = s.issue_columns()
            n = len(proj)
            pset = None if q.projects is None else {s.project(k)["idx"] for k in q.projects}
            keys = None if q.keys is None else {i for k in q.keys if (i := s._issue_idx(k)) is not None}
            cols = {"updated": updated, "created": created}
            ranges = [(cols[f], op, v) for f, op, v in q.ranges]
            out = []
            candidates = range(n) if keys is None else sorted(keys)
            for i in candidates:
                if i in deleted or (pset is not None and proj[i] not in pset):
                    continue
                if all(_cmp(col[i], op, v) for col, op, v in ranges):
                    out.append(i)
            order = q.order or [("created", True)]
            for name, desc in reversed(order + [("id", False)]):
                if name == "key":
                    out.sort(key=lambda i: (s.projects[proj[i]]["key"], s._i_num[i]), reverse=desc)
                elif name == "id":
                    out.sort(reverse=desc)
                else:
                    col = cols[name]
                    out.sort(key=col.__getitem__, reverse=desc)
        return out

    # ----------------------------------------------------------------- handlers
    def search_jql(self, req: FakeRequest) -> FakeResponse:
        """Cloud `GET|POST /rest/api/3/search/jql`: nextPageToken/isLast, token absent at the end."""
        body = req.json() if req.method == "POST" else None
        if body is not None:
            text, token = body.get("jql", ""), body.get("nextPageToken")
            fields_raw = body.get("fields")
            max_raw = body.get("maxResults")
        else:
            text, token = req.arg("jql", ""), req.arg("nextPageToken")
            fields_raw = req.args("fields") or None
            max_raw = req.arg("maxResults")
        fields = self.fields_spec(fields_raw)
        cap = CLOUD_MAX_IDS if fields is None else CLOUD_MAX
        limit = _clamp(max_raw, 50, 1, cap)
        hits = self.run(text or "", require_bounded=True)
        start = 0
        if token:
            state = decode_cursor(token, lambda m: error_400([m]))
            if state.get("q") != text:
                raise error_400(["The nextPageToken does not belong to this query."])
            start = int(state.get("o", 0))
        if fields is not None and "jira-short-pages" in self.fake.quirks:
            limit = max(1, limit // 2)  # "fewer returned if many fields": not the last page for all that
        page = hits[start:start + limit]
        api = "3" if "/api/3/" in req.path else "2"
        items = join_json([self.issue_bytes(i, api, fields) for i in page])
        out = b'{"issues":' + items
        if start + limit < len(hits):
            out += b',"nextPageToken":' + orjson.dumps(encode_cursor(q=text, o=start + limit))
            out += b',"isLast":false}'
        else:
            out += b',"isLast":true}'
        return FakeResponse(body=out)

    def search_server(self, req: FakeRequest) -> FakeResponse:
        """Server/DC `GET|POST /rest/api/2/search`: startAt/maxResults/total."""
        body = req.json() if req.method == "POST" else None
        if body is not None:
            text, fields_raw = body.get("jql", ""), body.get("fields")
            start, max_raw = int(body.get("startAt") or 0), body.get("maxResults")
        else:
            text, fields_raw = req.arg("jql", ""), req.args("fields") or None
            start = int_arg(req, "startAt", 0, lambda m: error_400([m]), lo=0)
            max_raw = req.arg("maxResults")
        limit = _clamp(max_raw, 50, 0, SERVER_MAX)
        fields = self.fields_spec(fields_raw)
        hits = self.run(text or "", require_bounded=False)
        page = hits[start:start + limit]
        items = join_json([self.issue_bytes(i, "2", fields) for i in page])
        head = orjson.dumps({"expand": "schema,names", "startAt": start, "maxResults": limit,
                             "total": len(hits)})
        return FakeResponse(body=head[:-1] + b',"issues":' + items + b"}")

    def approximate_count(self, req: FakeRequest) -> FakeResponse:
        """Cloud `POST /rest/api/3/search/approximate-count` (bounded JQL) -> {"count"}."""
        body = req.json() or {}
        return FakeResponse(json={"count": len(self.run(body.get("jql", ""), require_bounded=True))})

    def gone(self, req: FakeRequest) -> FakeResponse:
        return FakeResponse(410, json=GONE)

    def fields(self, req: FakeRequest) -> FakeResponse:
        return FakeResponse(json=field_list(self.api(req), self.field_names))

    def api(self, req: FakeRequest) -> str:
        return "3" if "/api/3/" in req.path else "2"

    def myself(self, req: FakeRequest) -> FakeResponse:
        s = self.store
        u = user_json(s, s.demo_user, cloud=self.cloud, base=s.jira_url)
        u.update({"locale": "en_US", "groups": {"size": 2, "items": []},
                  "applicationRoles": {"size": 1, "items": []}, "expand": "groups,applicationRoles"})
        return FakeResponse(json=u)

    def server_info(self, req: FakeRequest) -> FakeResponse:
        cloud = self.cloud
        version = "1001.0.0-SNAPSHOT" if cloud else "9.12.2"
        return FakeResponse(json={
            "baseUrl": self.store.jira_url, "displayUrl": self.store.jira_url, "version": version,
            "versionNumbers": [int(x) for x in re.findall(r"\d+", version)[:3]],
            "deploymentType": self.fake.deployment_type, "buildNumber": 100275 if cloud else 9120002,
            "buildDate": "2024-05-30T00:00:00.000+0000",
            "serverTime": jira_time(now_ms(), self.store.jira_tz),
            "scmInfo": "5177f96791252404c766ca1ff3f185116ee1a1a1", "serverTitle": "Jira"})

    def issue(self, req: FakeRequest) -> FakeResponse:
        """`GET /rest/api/{2,3}/issue/{key}` (`fields`); on Server `expand=changelog` adds every
        history in one answer (`{startAt, maxResults, total, histories}`, oldest first)."""
        idx = self._issue_or_404(req)
        fields = self.fields_spec(req.args("fields") or ["*all"])
        body = self.issue_bytes(idx, self.api(req), fields)
        if not self.cloud and "changelog" in req.args("expand"):
            histories = self.server_histories(idx)
            changelog = {"startAt": 0, "maxResults": len(histories), "total": len(histories),
                         "histories": histories}
            body = body[:-1] + b',"changelog":' + orjson.dumps(changelog) + b"}"
        return FakeResponse(body=body)

    def server_histories(self, idx: int) -> list[dict]:
        """The histories the Cloud `/changelog` serves, as Server v2 writes them (no `fieldId`)."""
        histories = build_changelog(self.builder, idx)
        for history in histories:
            history["items"] = [{k: v for k, v in item.items() if k != "fieldId"} for item in history["items"]]
        return histories

    def _issue_or_404(self, req: FakeRequest) -> int:
        ref = self.store.issue_ref(req.params["key"])
        if ref is None:
            raise FakeHTTPError(404, {"errorMessages": [
                "Issue does not exist or you do not have permission to see it."], "errors": {}})
        return ref.idx

    def comments(self, req: FakeRequest) -> FakeResponse:
        """`GET /rest/api/{2,3}/issue/{key}/comment` (startAt/maxResults/total; oldest first,
        `orderBy=-created` newest first)."""
        idx = self._issue_or_404(req)
        all_ = self.builder.issue(idx, self.api(req))["comment"]["comments"]
        if (req.arg("orderBy") or "created").startswith("-"):
            all_ = all_[::-1]
        start = int_arg(req, "startAt", 0, lambda m: error_400([m]), lo=0)
        limit = int_arg(req, "maxResults", 100, lambda m: error_400([m]), lo=0, hi=5000)
        return FakeResponse(json={"startAt": start, "maxResults": limit, "total": len(all_),
                                  "comments": all_[start:start + limit]})

    def changelog(self, req: FakeRequest) -> FakeResponse:
        """Cloud `GET /rest/api/3/issue/{key}/changelog` (`PageBeanChangelog`, oldest first)."""
        idx = self._issue_or_404(req)
        values = build_changelog(self.builder, idx)
        start = int_arg(req, "startAt", 0, lambda m: error_400([m]), lo=0)
        limit = int_arg(req, "maxResults", 100, lambda m: error_400([m]), lo=1, hi=100)
        url = f"{self.store.jira_url}{req.path}"
        body = {"self": f"{url}?startAt={start}&maxResults={limit}", "maxResults": limit, "startAt": start,
                "total": len(values), "isLast": start + limit >= len(values), "values": values[start:start + limit]}
        if not body["isLast"]:
            body["nextPage"] = f"{url}?startAt={start + limit}&maxResults={limit}"
        return FakeResponse(json=body)

    def projects(self, req: FakeRequest) -> FakeResponse:
        api = self.api(req)
        return FakeResponse(json=[self.builder.project_json(p, self.store.jira_url, api)
                                  for p in self.store.projects])


def _cmp(a: int, op: str, b: int) -> bool:
    return {"<": a < b, "<=": a <= b, ">": a > b, ">=": a >= b, "=": a == b}[op]


def _clamp(raw: object, default: int, lo: int, hi: int) -> int:
    if raw is None or raw == "":
        return default
    try:
        v = int(raw)  # type: ignore[call-overload]
    except (TypeError, ValueError) as e:
        raise error_400([f"'maxResults' must be an integer, not '{str(raw)[:20]}'"]) from e
    return max(lo, min(hi, v))


def install(fake: FakeAtlassian) -> None:
    j = Jira(fake)
    fake.jira = j  # type: ignore[attr-defined]
    p = re.escape(fake.jira_context)
    api = "(?:3|2|latest)" if fake.flavour == "cloud" else "(?:2|latest)"

    def add(method: str, path: str, handler, auth: bool = True) -> None:  # noqa: ANN001
        fake.route(method, p + path, handler, auth=auth, host="main", product="jira")

    add("GET", rf"/rest/api/{api}/serverInfo", j.server_info, auth=False)
    add("GET", rf"/rest/api/{api}/myself", j.myself)
    add("GET", rf"/rest/api/{api}/field", j.fields)
    add("GET", rf"/rest/api/{api}/project", j.projects)
    add("GET", rf"/rest/api/{api}/issue/(?P<key>[^/]+)", j.issue)
    add("GET", rf"/rest/api/{api}/issue/(?P<key>[^/]+)/comment", j.comments)
    if fake.flavour == "cloud":
        add("GET", rf"/rest/api/{api}/issue/(?P<key>[^/]+)/changelog", j.changelog)
    if fake.flavour == "cloud":
        add("POST", r"/rest/api/(?:3|2|latest)/search/approximate-count", j.approximate_count)
    for method in ("GET", "POST"):
        if fake.flavour == "cloud":
            add(method, r"/rest/api/(?:3|2|latest)/search/jql", j.search_jql)
            add(method, r"/rest/api/(?:3|2|latest)/search", j.gone)
        else:
            add(method, r"/rest/api/(?:2|latest)/search", j.search_server)
