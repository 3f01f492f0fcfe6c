"""Jira Service Management `/rest/servicedeskapi`: start/limit/size/isLastPage/_links paging,
412 on experimental operations without `X-ExperimentalApi: opt-in`.

Every request is a Jira issue of a service desk project (same id, key and `updated`)."""

from __future__ import annotations

import re
from functools import lru_cache
from typing import TYPE_CHECKING, Any, Callable
from urllib.parse import urlencode

from .http import FakeHTTPError, FakeResponse
from .jira_objects import STATUSES, request_type_of
from .paging import ViewCache, int_arg
from .timefmt import date_dto

if TYPE_CHECKING:
    from .http import FakeRequest
    from .site import FakeAtlassian

MAX_LIMIT = 100
EXPANDS = ["participant", "status", "sla", "requestType", "serviceDesk", "attachment", "action", "comment"]
EXPERIMENTAL_412 = {
    "errorMessage": "This API is experimental. Experimental APIs are not guaranteed to be stable "
                    "within the preview period. You must set the header 'X-ExperimentalApi: opt-in' "
                    "to opt into using this API.",
    "i18nErrorMessage": {"i18nKey": "sd.api.experimental.error", "parameters": []}}


def jsm_error(status: int, message: str) -> FakeHTTPError:
    return FakeHTTPError(status, {"errorMessage": message,
                                  "i18nErrorMessage": {"i18nKey": "sd.api.error", "parameters": []}})


class Jsm:
    def __init__(self, fake: FakeAtlassian) -> None:
        self.fake = fake
        self.store = fake.data
        self.cloud = fake.flavour == "cloud"
        self.views = ViewCache()
        self._request = lru_cache(maxsize=fake.render_cache)(self._request_json)

    def request_json(self, idx: int) -> dict:
        """A request's JSON (cached per issue version; never mutated by callers)."""
        return self._request(idx, self.store._i_ver[idx])

    @property
    def base(self) -> str:
        return self.store.jira_url + "/rest/servicedeskapi"

    def paged(self, req: FakeRequest, path: str, values: list[Any], expands: list[str] | None = None,
              extra: dict[str, str] | None = None, render: Callable[[Any], Any] | None = None) -> FakeResponse:
        err = lambda m: jsm_error(400, m)  # noqa: E731
        start = int_arg(req, "start", 0, err, lo=0)
        limit = int_arg(req, "limit", 50, err, lo=1, hi=MAX_LIMIT)
        page = values[start:start + limit]
        last = start + len(page) >= len(values)
        params = dict(extra or {})
        links: dict[str, str] = {"self": f"{self.base}{path}", "base": self.base,
                                 "context": self.fake.jira_context}
        if not last:
            links["next"] = f"{self.base}{path}?" + urlencode({**params, "start": start + limit, "limit": limit})
        if start > 0:
            links["prev"] = f"{self.base}{path}?" + urlencode(
                {**params, "start": max(0, start - limit), "limit": limit})
        vals = [render(v) for v in page] if render else page
        return FakeResponse(json={"_expands": expands or [], "size": len(vals), "start": start,
                                  "limit": limit, "isLastPage": last, "_links": links, "values": vals})

    def desk_json(self, p: dict) -> dict:
        return {"id": p["service_desk_id"], "projectId": p["id"], "projectName": p["name"],
                "projectKey": p["key"], "_links": {"self": f"{self.base}/servicedesk/{p['service_desk_id']}"}}

    def desk(self, sd_id: str) -> dict:
        p = next((p for p in self.store.service_desks() if p["service_desk_id"] == sd_id
                  or p["key"] == sd_id), None)
        if p is None:
            raise jsm_error(404, f"Service Desk with id {sd_id} does not exist.")
        return p

    def rt_json(self, rt: dict, sd_id: str) -> dict:
        icon = f"{self.store.jira_url}/secure/viewavatar?avatarType=SD_REQTYPE&avatarId=10500&size="
        return {"_expands": [], "id": rt["id"],
                "_links": {"self": f"{self.base}/servicedesk/{sd_id}/requesttype/{rt['id']}"},
                "name": rt["name"], "description": rt["name"] + ".", "helpText": "Tell us what you need.",
                "issueTypeId": rt["issue_type_id"], "serviceDeskId": sd_id, "portalId": sd_id,
                "groupIds": ["1"], "icon": {"id": "10500", "_links": {"iconUrls": {
                    "48x48": icon + "large", "24x24": icon + "small", "16x16": icon + "xsmall",
                    "32x32": icon + "medium"}}}}

    def user_dto(self, u: dict) -> dict:
        base = self.store.jira_url
        ident = u["account_id"] if self.cloud else u["name"]
        d: dict[str, Any] = {"emailAddress": u["email"], "displayName": u["display"], "active": True,
                             "timeZone": self.store.jira_tz_name, "_links": {
                                 "jiraRest": f"{base}/rest/api/2/user?{'accountId' if self.cloud else 'username'}={ident}",
                                 "avatarUrls": {s: f"{base}/secure/useravatar?size={s}" for s in
                                                ("48x48", "24x24", "16x16", "32x32")},
                                 "self": f"{base}/rest/api/2/user?{'accountId' if self.cloud else 'username'}={ident}"}}
        if self.cloud:
            d["accountId"] = u["account_id"]
        else:
            d.update(name=u["name"], key=u["key"])
        return d

    def _request_json(self, idx: int, version: int) -> dict:
        s = self.store
        fields = self.fake.jira.builder.issue(idx, "2")  # type: ignore[attr-defined]
        p = s.projects[s._i_proj[idx]]
        rt = request_type_of(s, idx)
        st = next(x for x in STATUSES if x[1] == fields["status"]["name"])
        reporter = next(u for u in s.users if (u["account_id"] if self.cloud else u["name"]) ==
                        (fields["reporter"].get("accountId") or fields["reporter"].get("name")))
        iid = str(10000 + idx)
        return {
            "_expands": EXPANDS, "issueId": iid, "issueKey": s.issue_key(idx), "requestTypeId": rt["id"],
            "serviceDeskId": p["service_desk_id"], "createdDate": date_dto(s._i_created[idx], s.jira_tz),
            "reporter": self.user_dto(reporter),
            "requestFieldValues": [
                {"fieldId": "summary", "label": "What do you need?", "value": fields["summary"]},
                {"fieldId": "description", "label": "Why do you need this?", "value": fields["description"],
                 "renderedValue": {"html": "<p>" + fields["description"].replace("\n\n", "</p><p>") + "</p>"}},
            ],
            "currentStatus": {"status": st[1], "statusCategory": st[3].upper(),
                              "statusDate": date_dto(s._i_updated[idx], s.jira_tz)},
            "_links": {"jiraRest": f"{s.jira_url}/rest/api/2/issue/{iid}",
                       "web": f"{s.jira_url}/servicedesk/customer/portal/{p['service_desk_id']}/{s.issue_key(idx)}",
                       "agent": f"{s.jira_url}/browse/{s.issue_key(idx)}",
                       "self": f"{self.base}/request/{iid}"},
        }

    # ----------------------------------------------------------------- handlers
    def servicedesks(self, req: FakeRequest) -> FakeResponse:
        return self.paged(req, "/servicedesk", [self.desk_json(p) for p in self.store.service_desks()])

    def servicedesk(self, req: FakeRequest) -> FakeResponse:
        return FakeResponse(json=self.desk_json(self.desk(req.params["sd"])))

    def request_types(self, req: FakeRequest) -> FakeResponse:
        p = self.desk(req.params["sd"])
        sd = p["service_desk_id"]
        return self.paged(req, f"/servicedesk/{sd}/requesttype",
                          [self.rt_json(rt, sd) for rt in self.store.request_types[sd]])

    def all_request_types(self, req: FakeRequest) -> FakeResponse:
        """Experimental `GET /requesttype` (every desk's)."""
        vals = [self.rt_json(rt, sd) for sd, rts in self.store.request_types.items() for rt in rts]
        return self.paged(req, "/requesttype", vals)

    def requests(self, req: FakeRequest) -> FakeResponse:
        """`GET /request`: newest activity first; serviceDeskId/requestTypeId/requestStatus filters."""
        s = self.store
        desks = {p["idx"] for p in s.service_desks()}
        sd_filter = req.arg("serviceDeskId")
        rt_filter = req.arg("requestTypeId")
        status = (req.arg("requestStatus") or "ALL_REQUESTS").upper()
        if sd_filter:
            desks = {self.desk(sd_filter)["idx"]}

        def build() -> list[int]:
            with s.lock:
                proj, updated, _created, deleted = s.issue_columns()
                idxs = [i for i in range(len(proj)) if proj[i] in desks and i not in deleted]
                idxs.sort(key=lambda i: (-updated[i], -i))
            if rt_filter:
                idxs = [i for i in idxs if request_type_of(s, i)["id"] == rt_filter]
            if status != "ALL_REQUESTS":
                closed = status == "CLOSED_REQUESTS"
                idxs = [i for i in idxs
                        if (self.request_json(i)["currentStatus"]["statusCategory"] == "DONE") == closed]
            return idxs

        idxs = self.views.get((tuple(sorted(desks)), rt_filter, status), s.generation, build)
        extra = {k: v for k, v in (("serviceDeskId", sd_filter), ("requestTypeId", rt_filter)) if v}
        expand = set(req.args("expand"))
        return self.paged(req, "/request", idxs, expands=EXPANDS, extra=extra,
                          render=lambda i: self.expanded(i, expand))

    def request(self, req: FakeRequest) -> FakeResponse:
        ref = self.store.issue_ref(req.params["key"])
        if ref is None or not self.store.projects[self.store._i_proj[ref.idx]]["service_desk_id"]:
            raise jsm_error(404, "The request could not be found, or you do not have permission to view it.")
        return FakeResponse(json=self.expanded(ref.idx, set(req.args("expand"))))

    def expanded(self, idx: int, expand: set[str]) -> dict:
        """`expand`: serviceDesk, requestType, participant, status (transitions, oldest first),
        sla, action (attachment and comment are ignored). Participants and SLAs are the request's own (the same as
        `/request/{key}/participant` and `/sla` give) when the JSM children are installed."""
        body = self.request_json(idx)
        if not expand:
            return body
        s = self.store
        body = dict(body)
        p = s.projects[s._i_proj[idx]]
        iid = body["issueId"]
        children = getattr(self.fake, "jsm_children", None)
        if "serviceDesk" in expand:
            body["serviceDesk"] = self.desk_json(p)
        if "requestType" in expand:
            body["requestType"] = self.rt_json(request_type_of(s, idx), p["service_desk_id"])
        if "participant" in expand:
            users = ([self.user_dto(s.users[u]) for u in children.extras(idx).participants]
                     if children is not None else [])
            body["participants"] = self.sub_page(f"/request/{iid}/participant", users)
        if "status" in expand:  # the transitions, oldest first: opened as "Waiting for support"
            opened = {"status": "Waiting for support", "statusCategory": "NEW",
                      "statusDate": date_dto(s._i_created[idx], s.jira_tz)}
            history = [body["currentStatus"]] if body["currentStatus"]["status"] == opened["status"] \
                else [opened, body["currentStatus"]]
            body["status"] = self.sub_page(f"/request/{iid}/status", history)
        if "sla" in expand:
            metrics = children.sla_json(idx) if children is not None else [self.sla(idx)]
            body["sla"] = self.sub_page(f"/request/{iid}/sla", metrics)
        if "action" in expand:
            body["actions"] = {action: {"allowed": True} for action in
                               ("addAttachment", "addComment", "addParticipant", "removeParticipant")}
        return body

    def sub_page(self, path: str, values: list) -> dict:
        return {"_expands": [], "size": len(values), "start": 0, "limit": 50, "isLastPage": True,
                "_links": {"self": f"{self.base}{path}", "base": self.base, "context": self.fake.jira_context},
                "values": values}

    def sla(self, idx: int) -> dict:
        s = self.store
        start, tz = s._i_created[idx], s.jira_tz
        goal = 8 * 3_600_000
        elapsed = min(goal * 2, max(0, s._i_updated[idx] - start))

        def dur(ms: int) -> dict:
            return {"millis": ms, "friendly": f"{ms // 3_600_000}h {ms % 3_600_000 // 60_000}m"}

        return {"id": "1", "name": "Time to resolution", "completedCycles": [],
                "ongoingCycle": {"startTime": date_dto(start, tz), "breachTime": date_dto(start + goal, tz),
                                 "breached": elapsed > goal, "paused": False, "withinCalendarHours": True,
                                 "goalDuration": dur(goal), "elapsedTime": dur(elapsed),
                                 "remainingTime": dur(max(0, goal - elapsed))},
                "_links": {"self": f"{self.base}/request/{10000 + idx}/sla/1"}}

    def info(self, req: FakeRequest) -> FakeResponse:
        return FakeResponse(json={"version": "10.3.0" if self.cloud else "5.12.2",
                                  "platformVersion": "1001.0.0" if self.cloud else "9.12.2",
                                  "buildDate": date_dto(1717200000000, self.store.jira_tz),
                                  "buildChangeSet": "5177f96791252404c766ca1ff3f185116ee1a1a1",
                                  "isLicensedForUse": True,
                                  "_links": {"self": f"{self.base}/info"}})


def experimental(handler):  # noqa: ANN001, ANN201
    def wrapped(req: FakeRequest) -> FakeResponse:
        if (req.headers.get("x-experimentalapi") or "").lower() != "opt-in":
            return FakeResponse(412, json=EXPERIMENTAL_412)
        return handler(req)

    return wrapped


def install(fake: FakeAtlassian) -> None:
    j = Jsm(fake)
    fake.jsm = j  # type: ignore[attr-defined]
    p = re.escape(fake.jira_context) + "/rest/servicedeskapi"

    def add(path: str, handler, auth: bool = True) -> None:  # noqa: ANN001
        fake.route("GET", p + path, handler, auth=auth, host="main", product="jsm")

    add("/info", j.info, auth=False)
    add("/servicedesk", j.servicedesks)
    add(r"/servicedesk/(?P<sd>[^/]+)", j.servicedesk)
    add(r"/servicedesk/(?P<sd>[^/]+)/requesttype", j.request_types)
    add("/requesttype", experimental(j.all_request_types))
    add("/request", j.requests)
    add(r"/request/(?P<key>[^/]+)", j.request)
