"""Jira catalog routes: the dimension tables (projects, versions, components, issue types,
statuses, priorities, resolutions, users, groups), Cloud and Server/DC flavours.

Cloud (v3 shapes, `PageBean` paging: `startAt`/`maxResults`/`total`/`isLast`/`values`):
`/project/search` (`keys`, `expand`, at most 100 a page), `/project/{id}/version` and
`/project/{id}/component` (paged) and their unpaged `/versions`, `/components`;
`/users/search` (a bare list, no total), `/group/bulk`; `/issuetype`, `/status`, `/priority`,
`/resolution` (lists) and `/resolution/search` (paged). Server/DC (v2): `/project` (unpaged,
`expand`), `/project/{id}/versions`, `/project/{id}/components`, `/user/search?username=`
(`startAt`/`maxResults`, inactive users only with `includeInactive=true`; `user_search_cap`:
only the first N matching users are reachable, "the combination of maxResults and startAt is
limited to the first 100 results" on Jira 10, JRASERVER-78660; `user_search_ignores_start_at`:
a server answering every page from the first user), `/groups/picker`
(`FoundGroups`, capped at `group_picker_limit` like `jira.ajax.autocomplete.limit`; `exclude`), the
lookup lists. A hidden project (`hide_project`) leaves every listing and its own endpoints
answer 404, as for a user without Browse Projects. Data: `jira_catalog_data.py`.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from .http import FakeHTTPError, FakeResponse
from .jira_catalog_data import (CatalogData, Component, RESOLUTIONS, COLORS, GROUPS, group_id,
                                issue_types, priorities, statuses, version_json)
from .jira_objects import user_json
from .paging import int_arg
from .site import error_400

if TYPE_CHECKING:
    from .http import FakeRequest
    from .site import FakeAtlassian

PROJECT_MAX = 100  # /project/search caps maxResults at 100 (spec)
PAGE_MAX = 1000


class JiraCatalog:
    """Handlers and control operations (`fake.jira_catalog`)."""

    def __init__(self, fake: FakeAtlassian) -> None:
        self.fake = fake
        self.store = fake.data
        self.cloud = fake.flavour == "cloud"
        self.data = CatalogData.build(fake.seed, self.store.projects, len(self.store.users))
        self.hidden: set[str] = set()  # project keys the demo user may not browse
        self.group_picker_limit = 20  # Server/DC jira.ajax.autocomplete.limit default
        self.group_picker_excludes = True  # False: `exclude=` ignored (a server that would stall paging)
        self.user_search_cap: int | None = None  # Jira DC 10: 100 (startAt + maxResults within the first N)
        self.user_search_ignores_start_at = False  # True: every page starts at the first user

    # ----------------------------------------------------------------- control
    def hide_project(self, key: str, hidden: bool = True) -> None:
        """The demo user loses (or regains) Browse Projects on a project."""
        (self.hidden.add if hidden else self.hidden.discard)(key)

    def projects(self) -> list[dict]:
        """The projects the demo user sees, by key."""
        return sorted((p for p in self.store.projects if p["key"] not in self.hidden), key=lambda p: p["key"])

    # ----------------------------------------------------------------- JSON
    @property
    def base(self) -> str:
        return self.store.jira_url

    def user(self, i: int, *, listing: bool = False) -> dict:
        """A user; Server/DC's user search adds `deleted` and `locale` (embedded users have neither)."""
        u = user_json(self.store, self.store.users[i], cloud=self.cloud, base=self.base)
        u["active"] = i not in self.data.inactive_users
        if listing and not self.cloud:
            u.update(deleted=False, locale="en_US")
        return u

    def issue_type(self, t: tuple, api: str) -> dict:
        tid, name, level, subtask = t
        out = {"self": f"{self.base}/rest/api/{api}/issuetype/{tid}", "id": tid, "description": name,
               "iconUrl": f"{self.base}/rest/api/2/universal_avatar/view/type/issuetype/avatar/10318",
               "name": name, "subtask": subtask, "avatarId": 10318}
        if self.cloud:
            out["hierarchyLevel"] = level
        return out

    def status(self, s: tuple, api: str) -> dict:
        sid, name, cat_id, cat_key, color, cat_name = s
        return {"self": f"{self.base}/rest/api/{api}/status/{sid}", "description": f"{name} work",
                "iconUrl": f"{self.base}/images/icons/statuses/generic.png", "name": name, "id": sid,
                "statusCategory": {"self": f"{self.base}/rest/api/{api}/statuscategory/{cat_id}",
                                   "id": cat_id, "key": cat_key, "colorName": color, "name": cat_name}}

    def priority(self, p: tuple[str, str], api: str) -> dict:
        pid, name = p
        out = {"self": f"{self.base}/rest/api/{api}/priority/{pid}", "statusColor": COLORS.get(pid, "#999999"),
               "description": f"{name} priority", "iconUrl": f"{self.base}/images/icons/priorities/{name.lower()}.svg",
               "name": name, "id": pid}
        if self.cloud:
            out["isDefault"] = pid == "3"
        return out

    def resolution(self, r: tuple[str, str, str], api: str, *, bean: bool) -> dict:
        rid, name, desc = r
        out: dict[str, Any] = {"self": f"{self.base}/rest/api/{api}/resolution/{rid}", "id": rid,
                               "description": desc, "name": name}
        if bean:  # ResolutionJsonBean (/resolution/search)
            out["default"] = rid == "10000"
        return out

    def project(self, p: dict, api: str, expand: set[str]) -> dict:
        i = p["idx"]
        out: dict[str, Any] = dict(self.fake.jira.builder.project_json(p, self.base, api))
        out["expand"] = ("description,lead,issueTypes,url,projectKeys,permissions,insight" if self.cloud
                         else "description,lead,url,projectKeys")
        cat = self.data.categories[i]
        if cat:
            out["projectCategory"] = {"self": f"{self.base}/rest/api/{api}/projectCategory/{cat[0]}",
                                      "id": cat[0], "name": cat[1], "description": cat[2]}
        if self.cloud:
            out.update(style="classic", isPrivate=False, properties={})
        else:
            out["archived"] = False
        if "description" in expand:
            out["description"] = self.data.descriptions[i]
        if "lead" in expand:
            out["lead"] = self.user(self.data.leads[i])
        if "issuetypes" in expand:
            kinds = issue_types()[:3] if p["service_desk_id"] else issue_types()[3:6]
            out["issueTypes"] = [self.issue_type(t, api) for t in kinds]
        if "url" in expand:
            out["url"] = f"https://{p['key'].lower()}.example.com"
        if "projectkeys" in expand and not self.cloud:  # Cloud's `Project` declares no projectKeys
            out["projectKeys"] = [p["key"]]
        if "insight" in expand and self.cloud:
            refs = self.store.issues([p["key"]])
            out["insight"] = {"totalIssueCount": len(refs)}
            if refs:
                out["insight"]["lastIssueUpdateTime"] = _iso(max(r.updated for r in refs))
        return out

    def component(self, c: Component, api: str, *, with_count: bool) -> dict:
        p = self.store.projects[c.project_idx]
        out: dict[str, Any] = {"self": f"{self.base}/rest/api/{api}/component/{c.id}", "id": c.id,
                               "name": c.name, "description": c.description, "assigneeType": c.assignee_type,
                               "realAssigneeType": c.assignee_type, "isAssigneeTypeValid": c.lead is not None,
                               "project": p["key"], "projectId": 10000 + c.project_idx}
        if c.lead is not None:
            lead = self.user(c.lead)
            out.update(lead=lead, assignee=lead, realAssignee=lead)
            if not with_count:
                out["leadAccountId" if self.cloud else "leadUserName"] = (
                    lead["accountId"] if self.cloud else lead["name"])
        if with_count:
            out["issueCount"] = len(self.store.issues([p["key"]])) if c.name == "General" else 0
        return out

    # ----------------------------------------------------------------- handlers
    def _api(self, req: FakeRequest) -> str:
        return "3" if "/api/3/" in req.path else "2"

    def _expand(self, req: FakeRequest) -> set[str]:
        return {e.strip().lower() for e in req.args("expand") if e.strip()}

    def _project(self, req: FakeRequest) -> dict:
        ref = req.params["project"]
        p = self.store.project(ref)
        if p is None or p["key"] in self.hidden:
            what = "id" if ref.isdigit() else "key"
            raise FakeHTTPError(404, {"errorMessages": [f"No project could be found with {what} '{ref}'."],
                                      "errors": {}})
        return p

    def page_bean(self, req: FakeRequest, values: list[dict], default: int = 50, cap: int = PAGE_MAX) -> FakeResponse:
        """`PageBean*`: startAt/maxResults/total/isLast/values, `nextPage` unless last."""
        start = int_arg(req, "startAt", 0, lambda m: error_400([m]), lo=0)
        limit = int_arg(req, "maxResults", default, lambda m: error_400([m]), lo=1, hi=cap)
        url = f"{self.base}{req.path}"
        page = values[start:start + limit]
        last = start + len(page) >= len(values)
        body: dict[str, Any] = {"self": f"{url}?startAt={start}&maxResults={limit}", "maxResults": limit,
                                "startAt": start, "total": len(values), "isLast": last, "values": page}
        if not last:
            body["nextPage"] = f"{url}?startAt={start + limit}&maxResults={limit}"
        return FakeResponse(json=body)

    def project_search(self, req: FakeRequest) -> FakeResponse:
        """Cloud `/project/search`: `keys` (repeated or comma, at most 50), `id`, `query`,
        `typeKey`, `categoryId`, `orderBy` key|name|id (`-` descending), `expand`."""
        projects = self.projects()
        keys = {k.strip() for k in req.args("keys") if k.strip()}
        if len(keys) > 50:
            raise error_400(["You can provide up to 50 project keys."])
        if keys:
            projects = [p for p in projects if p["key"] in keys]
        ids = {i.strip() for i in req.args("id") if i.strip()}
        if ids:
            projects = [p for p in projects if p["id"] in ids]
        if req.arg("query"):
            q = req.arg("query", "").lower()
            projects = [p for p in projects if q in p["key"].lower() or q in p["name"].lower()]
        if req.arg("typeKey"):
            projects = [p for p in projects if p["type"] in req.args("typeKey")]
        if req.arg("categoryId"):
            projects = [p for p in projects if (self.data.categories[p["idx"]] or ("",))[0] == req.arg("categoryId")]
        order = req.arg("orderBy") or "key"
        field = order.lstrip("+-")
        if field not in ("key", "name", "id"):
            raise error_400([f"Invalid orderBy value '{order}'."])
        projects.sort(key=lambda p: int(p["id"]) if field == "id" else p[field], reverse=order.startswith("-"))
        expand = self._expand(req)
        return self.page_bean(req, [self.project(p, "3", expand) for p in projects], cap=PROJECT_MAX)

    def project_list(self, req: FakeRequest) -> FakeResponse:
        """`GET /project` (Cloud: deprecated list; Server/DC: the listing), with `expand`."""
        expand = self._expand(req)
        return FakeResponse(json=[self.project(p, self._api(req), expand) for p in self.projects()])

    def versions_page(self, req: FakeRequest) -> FakeResponse:
        p = self._project(req)
        values = [version_json(v, self.base, "3") for v in self.data.versions[p["idx"]]]
        status = set(req.args("status"))
        if status:
            values = [v for v in values if ("archived" if v["archived"] else
                                            "released" if v["released"] else "unreleased") in status]
        return self.page_bean(req, values)

    def versions_list(self, req: FakeRequest) -> FakeResponse:
        p = self._project(req)
        return FakeResponse(json=[version_json(v, self.base, self._api(req)) for v in self.data.versions[p["idx"]]])

    def components_page(self, req: FakeRequest) -> FakeResponse:
        p = self._project(req)
        return self.page_bean(req, [self.component(c, "3", with_count=True) for c in self.data.components[p["idx"]]])

    def components_list(self, req: FakeRequest) -> FakeResponse:
        p = self._project(req)
        api = self._api(req)
        return FakeResponse(json=[self.component(c, api, with_count=False) for c in self.data.components[p["idx"]]])

    def issuetypes(self, req: FakeRequest) -> FakeResponse:
        return FakeResponse(json=[self.issue_type(t, self._api(req)) for t in issue_types()])

    def statuses(self, req: FakeRequest) -> FakeResponse:
        return FakeResponse(json=[self.status(s, self._api(req)) for s in statuses()])

    def priorities(self, req: FakeRequest) -> FakeResponse:
        return FakeResponse(json=[self.priority(p, self._api(req)) for p in priorities()])

    def resolutions(self, req: FakeRequest) -> FakeResponse:
        return FakeResponse(json=[self.resolution(r, self._api(req), bean=False) for r in RESOLUTIONS])

    def resolution_search(self, req: FakeRequest) -> FakeResponse:
        return self.page_bean(req, [self.resolution(r, "3", bean=True) for r in RESOLUTIONS])

    def users_search(self, req: FakeRequest) -> FakeResponse:
        """Cloud `/users/search` (and `/users`): every user, a bare list, no total."""
        start = int_arg(req, "startAt", 0, lambda m: error_400([m]), lo=0)
        limit = int_arg(req, "maxResults", 50, lambda m: error_400([m]), lo=1, hi=PAGE_MAX)
        users = [self.user(i) for i in range(len(self.store.users))]
        return FakeResponse(json=users[start:start + limit])

    def user_search(self, req: FakeRequest) -> FakeResponse:
        """Server/DC `/user/search?username=` (`.` matches everyone, as Jira 8/9 do); inactive
        users only with `includeInactive=true`."""
        query = req.arg("username")
        if query is None or query == "":
            raise error_400(["The username query parameter was not provided"])
        start = int_arg(req, "startAt", 0, lambda m: error_400([m]), lo=0)
        limit = int_arg(req, "maxResults", 50, lambda m: error_400([m]), lo=1, hi=PAGE_MAX)
        active = (req.arg("includeActive") or "true").lower() == "true"
        inactive = (req.arg("includeInactive") or "false").lower() == "true"
        q = query.strip("\"'").lower()
        out = []
        for i, u in enumerate(self.store.users):
            is_active = i not in self.data.inactive_users
            if (is_active and not active) or (not is_active and not inactive):
                continue
            if q in (".", "%", "_", "") or any(q in s.lower() for s in (u["name"], u["display"], u["email"])):
                out.append(self.user(i, listing=True))
        if self.user_search_ignores_start_at:
            start = 0
        end = start + limit
        if self.user_search_cap is not None:  # JRASERVER-78660: startAt=98&maxResults=20 gives 2 users
            end = min(end, self.user_search_cap)
        return FakeResponse(json=out[start:end])

    def group_bulk(self, req: FakeRequest) -> FakeResponse:
        """Cloud `/group/bulk` (`PageBeanGroupDetails`)."""
        return self.page_bean(req, [{"name": g, "groupId": group_id(g)} for g in GROUPS])

    def groups_picker(self, req: FakeRequest) -> FakeResponse:
        """`/groups/picker?query=&maxResults=` (`FoundGroups`): at most `group_picker_limit`."""
        q = (req.arg("query") or "").lower()
        exclude = set(req.args("exclude")) if self.group_picker_excludes else set()
        hits = [g for g in GROUPS if q in g.lower() and g not in exclude]
        limit = int_arg(req, "maxResults", self.group_picker_limit, lambda m: error_400([m]), lo=0)
        shown = hits[:min(limit, self.group_picker_limit)]
        groups = []
        for g in shown:
            item: dict[str, Any] = {"name": g, "html": g.replace(q, f"<b>{q}</b>", 1) if q else g, "labels": []}
            if self.cloud:
                item["groupId"] = group_id(g)
            groups.append(item)
        return FakeResponse(json={"header": f"Showing {len(shown)} of {len(hits)} matching groups",
                                  "total": len(hits), "groups": groups})


def _iso(ms: int) -> str:
    from .timefmt import dt

    return dt(ms).strftime("%Y-%m-%dT%H:%M:%S.") + f"{ms % 1000:03d}Z"


def install(fake: FakeAtlassian) -> None:
    c = JiraCatalog(fake)
    fake.jira_catalog = c  # type: ignore[attr-defined]
    p = re.escape(fake.jira_context)
    cloud = fake.flavour == "cloud"
    api = "(?:3|2|latest)" if cloud else "(?:2|latest)"
    proj = r"(?P<project>[^/]+)"

    both = [("/project", c.project_list), (f"/project/{proj}/versions", c.versions_list),
            (f"/project/{proj}/components", c.components_list), ("/issuetype", c.issuetypes),
            ("/status", c.statuses), ("/priority", c.priorities), ("/resolution", c.resolutions),
            ("/groups/picker", c.groups_picker)]
    cloud_only = [("/project/search", c.project_search), (f"/project/{proj}/version", c.versions_page),
                  (f"/project/{proj}/component", c.components_page), ("/resolution/search", c.resolution_search),
                  ("/users/search", c.users_search), ("/users", c.users_search), ("/group/bulk", c.group_bulk)]
    server_only = [("/user/search", c.user_search)]
    for path, handler in both + (cloud_only if cloud else server_only):
        fake.route("GET", p + rf"/rest/api/{api}" + path, handler, host="main", product="jira")
