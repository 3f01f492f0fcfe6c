"""Jira JSON objects (fields metadata, users, issues) built from the seeded index.

Shapes follow the Jira Cloud platform v3 spec (`IssueBean`, `FieldDetails`, `UserDetails`);
v2 differs only where Atlassian's does: rich text is wiki markup instead of ADF, and Server
users carry `name`/`key` instead of `accountId`.
"""

from __future__ import annotations

import zlib
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from .data import BASE_MS, DAY_MS, rng_for, words
from .timefmt import jira_time

if TYPE_CHECKING:
    import random

    from .data import Store

CF = "com.atlassian.jira.plugin.system.customfieldtypes:"

# (id number, name, custom type, schema type, items) : 24 custom fields of every common type
CUSTOM_FIELDS: list[tuple[int, str, str, str, str | None]] = [
    (10010, "Request Type", "com.atlassian.servicedesk:vp-origin", "sd-customerrequesttype", None),
    (10016, "Story point estimate", "com.pyxis.greenhopper.jira:jsw-story-points", "number", None),
    (10020, "Customer tier", CF + "textfield", "string", None),
    (10021, "Root cause", CF + "textarea", "string", None),
    (10022, "Impact score", CF + "float", "number", None),
    (10023, "Go-live date", CF + "datepicker", "date", None),
    (10024, "Outage started", CF + "datetime", "datetime", None),
    (10025, "Severity", CF + "select", "option", None),
    (10026, "Affected systems", CF + "multiselect", "array", "option"),
    (10027, "Approver", CF + "userpicker", "user", None),
    (10028, "Watchers team", CF + "multiuserpicker", "array", "user"),
    (10029, "Tags", CF + "labels", "array", "string"),
    (10030, "Location", CF + "cascadingselect", "option-with-child", None),
    (10031, "Runbook", CF + "url", "string", None),
    (10032, "Channel", CF + "radiobuttons", "option", None),
    (10033, "Checklist", CF + "multicheckboxes", "array", "option"),
    (10034, "Owning group", CF + "grouppicker", "group", None),
    (10035, "Notify groups", CF + "multigrouppicker", "array", "group"),
    (10036, "Related project", CF + "project", "project", None),
    (10037, "Target version", CF + "version", "version", None),
    (10038, "Affects releases", CF + "multiversion", "array", "version"),
    (10039, "External ticket", CF + "readonlyfield", "string", None),
    (10040, "Cost centre", CF + "textfield", "string", None),
    (10041, "Estimated cost", CF + "float", "number", None),
    (10042, "Review notes", CF + "textarea", "string", None),
]

# system fields: id -> (name, schema type, items, navigable)
SYSTEM_FIELDS: dict[str, tuple[str, str, str | None, bool]] = {
    "summary": ("Summary", "string", None, True),
    "description": ("Description", "string", None, True),
    "issuetype": ("Issue Type", "issuetype", None, True),
    "project": ("Project", "project", None, True),
    "status": ("Status", "status", None, True),
    "priority": ("Priority", "priority", None, True),
    "resolution": ("Resolution", "resolution", None, True),
    "resolutiondate": ("Resolved", "datetime", None, True),
    "assignee": ("Assignee", "user", None, True),
    "reporter": ("Reporter", "user", None, True),
    "creator": ("Creator", "user", None, True),
    "created": ("Created", "datetime", None, True),
    "updated": ("Updated", "datetime", None, True),
    "duedate": ("Due date", "date", None, True),
    "labels": ("Labels", "array", "string", True),
    "components": ("Components", "array", "component", True),
    "fixVersions": ("Fix versions", "array", "version", True),
    "versions": ("Affects versions", "array", "version", True),
    "environment": ("Environment", "string", None, True),
    "watches": ("Watchers", "watches", None, True),
    "votes": ("Votes", "votes", None, True),
    "progress": ("Progress", "progress", None, True),
    "aggregateprogress": ("Σ Progress", "progress", None, True),
    "timespent": ("Time Spent", "number", None, True),
    "aggregatetimespent": ("Σ Time Spent", "number", None, True),
    "aggregatetimeoriginalestimate": ("Σ Original Estimate", "number", None, True),
    "aggregatetimeestimate": ("Σ Remaining Estimate", "number", None, True),
    "timeoriginalestimate": ("Original estimate", "number", None, True),
    "timeestimate": ("Remaining Estimate", "number", None, True),
    "workratio": ("Work Ratio", "number", None, True),
    "subtasks": ("Sub-tasks", "array", "issuelinks", True),
    "issuelinks": ("Linked Issues", "array", "issuelinks", True),
    "security": ("Security Level", "securitylevel", None, True),
    "lastViewed": ("Last Viewed", "datetime", None, True),
    "statuscategorychangedate": ("Status Category Changed", "datetime", None, True),
    "comment": ("Comment", "comments-page", None, False),
    "worklog": ("Log Work", "array", "worklog", False),
    "attachment": ("Attachment", "array", "attachment", False),
    "timetracking": ("Time tracking", "timetracking", None, False),
}

STATUSES = [("10000", "To Do", 2, "new", "blue-gray", "To Do"),
            ("3", "In Progress", 4, "indeterminate", "yellow", "In Progress"),
            ("10001", "Waiting for support", 4, "indeterminate", "yellow", "In Progress"),
            ("10002", "Done", 3, "done", "green", "Done")]
PRIORITIES = [("1", "Highest"), ("2", "High"), ("3", "Medium"), ("4", "Low"), ("5", "Lowest")]
ISSUETYPES = [("10100", "Service Request"), ("10101", "Incident"), ("10102", "Problem"),
              ("10001", "Task"), ("10002", "Bug"), ("10003", "Story")]
OPTIONS = ["Critical", "Major", "Minor", "Trivial", "Email", "Portal", "Phone", "Chat", "CRM", "ERP",
           "Wiki", "VPN", "Payroll"]


def field_list(api: str, renamed: dict[str, str] | None = None) -> list[dict]:
    """`/rest/api/{2,3}/field`: system then custom fields (`FieldDetails`); `renamed`: id -> new name."""
    renamed = renamed or {}
    out: list[dict] = []
    for fid, (name, typ, items, navigable) in SYSTEM_FIELDS.items():
        schema: dict[str, Any] = {"type": typ, "system": fid}
        if items:
            schema["items"] = items
        out.append({"id": fid, "key": fid, "name": name, "custom": False, "orderable": True,
                    "navigable": navigable, "searchable": True, "clauseNames": [fid],
                    "schema": schema})
    for num, name, custom, typ, items in CUSTOM_FIELDS:
        schema = {"type": typ, "custom": custom, "customId": num}
        if items:
            schema["items"] = items
        fid = f"customfield_{num}"
        name = renamed.get(fid, name)
        out.append({"id": fid, "key": fid, "name": name, "custom": True,
                    "orderable": True, "navigable": True, "searchable": True,
                    "clauseNames": [f"cf[{num}]", name], "schema": schema})
    return out


ALL_FIELD_IDS = list(SYSTEM_FIELDS) + [f"customfield_{c[0]}" for c in CUSTOM_FIELDS]
NAVIGABLE_IDS = [f for f in ALL_FIELD_IDS if SYSTEM_FIELDS.get(f, ("", "", None, True))[3]]


def user_json(store: Store, u: dict, *, cloud: bool, base: str) -> dict:
    """Jira `UserDetails` (Cloud: accountId; Server: name/key)."""
    avatars = {s: f"{base}/secure/useravatar?size={s}&ownerId={u['name']}"
               for s in ("48x48", "24x24", "16x16", "32x32")}
    if cloud:
        return {"self": f"{base}/rest/api/3/user?accountId={u['account_id']}",
                "accountId": u["account_id"], "emailAddress": u["email"], "avatarUrls": avatars,
                "displayName": u["display"], "active": True, "timeZone": store.jira_tz_name,
                "accountType": "atlassian"}
    return {"self": f"{base}/rest/api/2/user?username={u['name']}", "name": u["name"],
            "key": u["key"], "emailAddress": u["email"], "avatarUrls": avatars,
            "displayName": u["display"], "active": True, "timeZone": store.jira_tz_name}


def adf(paragraphs: list[str]) -> dict:
    return {"type": "doc", "version": 1, "content": [
        {"type": "paragraph", "content": [{"type": "text", "text": p}]} for p in paragraphs]}


def rich(paragraphs: list[str], api: str) -> Any:
    """v3: ADF document; v2: wiki markup string."""
    return adf(paragraphs) if api == "3" else "\n\n".join(paragraphs)


# The small shared objects below are cached: issues reference the same (never mutated) dicts.
def _option(num: int, rng: random.Random, base: str) -> dict:
    return _option_json(num, rng.randrange(len(OPTIONS)), base)


@lru_cache(maxsize=8192)
def _option_json(num: int, i: int, base: str) -> dict:
    return {"self": f"{base}/rest/api/2/customFieldOption/{num * 100 + i}", "value": OPTIONS[i],
            "id": str(num * 100 + i)}


@lru_cache(maxsize=4096)
def _version(base: str, n: int) -> dict:
    return {"self": f"{base}/rest/api/2/version/{10000 + n}", "id": str(10000 + n),
            "name": f"{n // 10 + 1}.{n % 10}", "archived": False, "released": n % 3 == 0}


@lru_cache(maxsize=1024)
def _group(base: str, name: str) -> dict:
    return {"name": name, "groupId": f"{zlib.crc32(name.encode()):08x}-0000-4000-8000-000000000000",
            "self": f"{base}/rest/api/2/group?groupname={name}"}


class IssueBuilder:
    """Builds the full `fields` of one issue for one API version, deterministically."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self._user_cache: dict[int, dict] = {}
        self._project_cache: dict[tuple, dict] = {}

    def user(self, i: int) -> dict:
        """The (shared, never mutated) user JSON of users[i]."""
        u = self._user_cache.get(i)
        if u is None:
            s = self.store
            u = self._user_cache[i] = user_json(s, s.users[i], cloud=s.flavour == "cloud", base=s.jira_url)
        return u

    def project_json(self, p: dict, base: str, api: str) -> dict:
        key = (p["idx"], base, api)
        if key not in self._project_cache:
            self._project_cache[key] = self._project_json(p, base, api)
        return self._project_cache[key]

    @staticmethod
    def _project_json(p: dict, base: str, api: str) -> dict:
        return {"self": f"{base}/rest/api/{api}/project/{p['id']}", "id": p["id"], "key": p["key"],
                "name": p["name"], "projectTypeKey": p["type"], "simplified": False,
                "avatarUrls": {s: f"{base}/rest/api/{api}/universal_avatar/view/type/project/avatar/10400?size={s}"
                               for s in ("48x48", "24x24", "16x16", "32x32")}}

    def issue(self, idx: int, api: str) -> dict:
        s = self.store
        base = s.jira_url
        tz = s.jira_tz
        rng = rng_for(s.seed, "issue", idx)
        p = s.projects[s._i_proj[idx]]
        created, updated = s._i_created[idx], s._i_updated[idx]
        users = s.users

        def user() -> dict:
            return self.user(rng.randrange(len(users)))

        st = rng.choice(STATUSES)
        it = rng.choice(ISSUETYPES[:3] if p["service_desk_id"] else ISSUETYPES[3:])
        pr = rng.choice(PRIORITIES)
        done = st[3] == "done"
        summary = words(rng, 4 + rng.randrange(6)).capitalize()
        paras = [words(rng, 25 + rng.randrange(25)).capitalize() + "." for _ in range(4)]
        comments = []
        for c in range(4 + rng.randrange(3)):
            cts = min(updated, created + (c + 1) * 3_600_000)
            comments.append({
                "self": f"{base}/rest/api/{api}/issue/{10000 + idx}/comment/{idx * 10 + c}",
                "id": str(idx * 10 + c), "author": user(),
                "body": rich([words(rng, 30).capitalize() + "."], api), "updateAuthor": user(),
                "created": jira_time(cts, tz), "updated": jira_time(cts, tz), "jsdPublic": True})
        f: dict[str, Any] = {
            "summary": summary,
            "description": rich(paras, api),
            "issuetype": {"self": f"{base}/rest/api/{api}/issuetype/{it[0]}", "id": it[0],
                          "description": it[1], "iconUrl": f"{base}/images/icons/issuetypes/task.svg",
                          "name": it[1], "subtask": False, "avatarId": 10318, "hierarchyLevel": 0},
            "project": self.project_json(p, base, api),
            "status": {"self": f"{base}/rest/api/{api}/status/{st[0]}", "description": "",
                       "iconUrl": f"{base}/images/icons/statuses/generic.png", "name": st[1],
                       "id": st[0], "statusCategory": {
                           "self": f"{base}/rest/api/{api}/statuscategory/{st[2]}", "id": st[2],
                           "key": st[3], "colorName": st[4], "name": st[5]}},
            "priority": {"self": f"{base}/rest/api/{api}/priority/{pr[0]}",
                         "iconUrl": f"{base}/images/icons/priorities/{pr[1].lower()}.svg",
                         "name": pr[1], "id": pr[0]},
            "resolution": {"self": f"{base}/rest/api/{api}/resolution/10000", "id": "10000",
                           "description": "Work has been completed on this issue.", "name": "Done"}
            if done else None,
            "resolutiondate": jira_time(updated, tz) if done else None,
            "assignee": user() if rng.random() < 0.8 else None,
            "reporter": user(),
            "creator": user(),
            "created": jira_time(created, tz),
            "updated": jira_time(updated, tz),
            "duedate": None if rng.random() < 0.5 else _date(created + 14 * DAY_MS),
            "labels": sorted({rng.choice(["urgent", "vip", "hardware", "software", "q3", "backend"])
                              for _ in range(rng.randrange(4))}),
            "components": [{"self": f"{base}/rest/api/{api}/component/{10000 + p['idx']}",
                            "id": str(10000 + p["idx"]), "name": "General"}],
            "fixVersions": [_version(base, rng.randrange(30))] if rng.random() < 0.4 else [],
            "versions": [],
            "environment": None,
            "watches": {"self": f"{base}/rest/api/{api}/issue/{p['key']}-{s._i_num[idx]}/watchers",
                        "watchCount": 1 + rng.randrange(4), "isWatching": False},
            "votes": {"self": f"{base}/rest/api/{api}/issue/{p['key']}-{s._i_num[idx]}/votes",
                      "votes": rng.randrange(5), "hasVoted": False},
            "progress": {"progress": 0, "total": 0},
            "aggregateprogress": {"progress": 0, "total": 0},
            "timespent": None, "timeoriginalestimate": None, "timeestimate": None, "workratio": -1,
            "aggregatetimespent": None, "aggregatetimeoriginalestimate": None, "aggregatetimeestimate": None,
            "subtasks": [], "issuelinks": [], "security": None, "lastViewed": None,
            "statuscategorychangedate": jira_time(updated, tz),
            "comment": {"comments": comments, "self": f"{base}/rest/api/{api}/issue/{10000 + idx}/comment",
                        "maxResults": len(comments), "total": len(comments), "startAt": 0},
            "worklog": {"startAt": 0, "maxResults": 20, "total": 0, "worklogs": []},
            "attachment": [],
            "timetracking": {},
        }
        f.update(self._custom(idx, rng, api, p, created))
        return f

    def _custom(self, idx: int, rng: random.Random, api: str, p: dict, created: int) -> dict:
        s = self.store
        base = s.jira_url
        out: dict[str, Any] = {}
        for num, _name, custom, _typ, _items in CUSTOM_FIELDS:
            t = custom.rsplit(":", 1)[-1]
            v: Any
            if rng.random() < 0.1 and num != 10010:
                v = None  # unset, as Jira sends it
            elif num == 10010:
                v = self._request_type_value(idx, p, base) if p["service_desk_id"] else None
            elif t in ("textfield", "url", "readonlyfield"):
                v = (f"https://runbooks.example.com/{words(rng, 1)}" if t == "url"
                     else words(rng, 3).title())
            elif t == "textarea":
                v = rich([words(rng, 20).capitalize() + "."], api)
            elif t in ("float", "jsw-story-points"):
                v = float(rng.randrange(1, 100)) if rng.random() < 0.5 else round(rng.random() * 100, 2)
            elif t == "datepicker":
                v = _date(created + rng.randrange(60) * DAY_MS)
            elif t == "datetime":
                v = jira_time(created + rng.randrange(60 * DAY_MS), s.jira_tz)
            elif t in ("select", "radiobuttons"):
                v = _option(num, rng, base)
            elif t in ("multiselect", "multicheckboxes"):
                v = [_option(num, rng, base) for _ in range(1 + rng.randrange(3))]
            elif t == "userpicker":
                v = self.user(rng.randrange(len(s.users)))
            elif t == "multiuserpicker":
                v = [self.user(rng.randrange(len(s.users))) for _ in range(2)]
            elif t == "labels":
                v = [words(rng, 1) for _ in range(1 + rng.randrange(3))]
            elif t == "cascadingselect":
                v = dict(_option(num, rng, base), child=_option(num + 1000, rng, base))
            elif t == "grouppicker":
                v = _group(base, rng.choice(["jira-admins", "site-admins", "support-team"]))
            elif t == "multigrouppicker":
                v = [_group(base, g) for g in ("support-team", "jira-users")]
            elif t == "project":
                v = self.project_json(rng.choice(s.projects), base, api)
            elif t == "version":
                v = _version(base, rng.randrange(30))
            else:  # multiversion
                v = [_version(base, rng.randrange(30)) for _ in range(1 + rng.randrange(2))]
            out[f"customfield_{num}"] = v
        return out

    def _request_type_value(self, idx: int, p: dict, base: str) -> dict:
        s = self.store
        rt = request_type_of(s, idx)
        return {"_links": {"jiraRest": f"{base}/rest/api/2/issue/{10000 + idx}",
                           "web": f"{base}/servicedesk/customer/portal/{p['service_desk_id']}/{s.issue_key(idx)}",
                           "self": f"{base}/rest/servicedeskapi/request/{10000 + idx}"},
                "requestType": {"id": rt["id"], "name": rt["name"], "issueTypeId": rt["issue_type_id"],
                                "serviceDeskId": p["service_desk_id"], "portalId": p["service_desk_id"],
                                "groupIds": ["1"], "description": rt["name"], "helpText": ""},
                "currentStatus": {"status": "Waiting for support", "statusCategory": "INDETERMINATE"}}


def changelog(builder: IssueBuilder, idx: int) -> list[dict]:
    """An issue's history, oldest first: status changes between `created` and `updated`
    (the last one at `updated`)."""
    s = builder.store
    rng = rng_for(s.seed, "changelog", idx)
    created, updated = s._i_created[idx], s._i_updated[idx]
    n = 1 + rng.randrange(4)
    out = []
    prev = STATUSES[0]
    for k in range(n):
        at = updated if k == n - 1 else created + (updated - created) * (k + 1) // (n + 1)
        nxt = STATUSES[(STATUSES.index(prev) + 1 + rng.randrange(len(STATUSES) - 1)) % len(STATUSES)]
        out.append({"id": str(idx * 10 + k + 100000), "author": builder.user(rng.randrange(len(s.users))),
                    "created": jira_time(at, s.jira_tz),
                    "items": [{"field": "status", "fieldtype": "jira", "fieldId": "status", "from": prev[0],
                               "fromString": prev[1], "to": nxt[0], "toString": nxt[1]}]})
        prev = nxt
    return out


def request_type_of(store: Store, idx: int) -> dict:
    p = store.projects[store._i_proj[idx]]
    rts = store.request_types[p["service_desk_id"]]
    return rts[rng_for(store.seed, "rt", idx).randrange(len(rts))]


def _date(ms: int) -> str:
    from .timefmt import dt

    return dt(ms).strftime("%Y-%m-%d")


__all__ = ["ALL_FIELD_IDS", "BASE_MS", "NAVIGABLE_IDS", "IssueBuilder", "field_list", "user_json"]
