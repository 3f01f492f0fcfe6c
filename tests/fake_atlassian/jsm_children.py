"""Jira Service Management beyond requests: organizations, customers, queues, and each request's
comments (public and internal), SLAs, participants, approvals and CSAT feedback.

Shapes follow the vendored JSM document (`tests/specs/jsm-servicedesk-cloud.swagger.v3.json`:
`OrganizationDTO`, `UserDTO`, `QueueDTO`, `CommentDTO`, `SlaInformationDTO`, `ApprovalDTO`,
`CSATFeedbackFullDTO`); Server/DC answers differ where Atlassian's do: users carry `key`/`name`
instead of `accountId`, organizations only `id`/`name`/`_links`, and there is no feedback
resource (404). Experimental operations (`/servicedesk/{id}/customer`, `/request/{k}/feedback`)
answer 412 without `X-ExperimentalApi: opt-in`.

A request's extras are generated from the seed the first time they are asked for, then kept and
changed by the control operations (`fake.jsm_children.add_comment(...)` etc.); every change
moves the request's issue `updated` like Jira does (a deleted comment too).
"""

from __future__ import annotations

import re
import threading
import uuid
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .data import BASE_MS, DAY_MS, rng_for, words
from .http import FakeResponse
from .jira_objects import request_type_of
from .jsm import experimental, jsm_error
from .timefmt import date_dto, now_ms, parse_instant

if TYPE_CHECKING:
    from .http import FakeRequest
    from .site import FakeAtlassian

HOUR_MS = 3_600_000
QUEUES = [  # name, jql after the project clause, which requests it holds
    ("All open requests", "resolution = Unresolved ORDER BY created DESC", "open"),
    ("Assigned to me", "assignee = currentUser() AND resolution = Unresolved", "even"),
    ("Unassigned requests", "assignee is EMPTY AND resolution = Unresolved", "odd"),
    ("Waiting for support", 'status = "Waiting for support" ORDER BY updated', "waiting"),
    ("Recently resolved", "resolved >= -1w ORDER BY resolved DESC", "done"),
]
QUEUE_FIELDS = ["issuetype", "issuekey", "summary", "reporter", "status", "created"]
ORG_NAMES = ["Acme Corp", "Globex", "Initech", "Umbrella", "Stark Industries", "Wayne Enterprises",
             "Hooli", "Pied Piper", "Soylent", "Tyrell", "Cyberdyne", "Wonka Industries"]
APPROVAL_TYPES = ("Request new hardware", "Request access")
GOALS = {"1": ("Time to first response", 4 * HOUR_MS), "2": ("Time to resolution", 24 * HOUR_MS)}


@dataclass
class Comment:
    id: int
    author: int  # index into store.users
    public: bool
    created: int
    body: str


@dataclass
class Extras:
    """One request's children (mutable through the control operations)."""

    comments: list[Comment] = field(default_factory=list)
    participants: list[int] = field(default_factory=list)  # user indexes
    sla_breached: dict[str, bool] = field(default_factory=dict)  # metric id -> forced outcome
    approval: dict[str, Any] | None = None
    feedback: dict[str, Any] | None = None


class JsmChildren:
    def __init__(self, fake: FakeAtlassian) -> None:
        self.fake = fake
        self.store = fake.data
        self.cloud = fake.flavour == "cloud"
        self.lock = threading.RLock()
        self._extras: dict[int, Extras] = {}
        self._next_comment = 900_000
        n_users = len(self.store.users)
        self.organizations = [self._org(i) for i in range(max(7, n_users // 3))]
        self.customers = self._build_customers(max(12, n_users))
        self.queues = {p["service_desk_id"]: [(f"{int(p['service_desk_id']) * 10 + j}", *q)
                                              for j, q in enumerate(QUEUES)]
                       for p in self.store.service_desks()}

    @property
    def jsm(self) -> Any:  # noqa: ANN401
        return self.fake.jsm  # type: ignore[attr-defined]

    # ----------------------------------------------------------------- seeded populations
    def _org(self, i: int) -> dict:
        rng = rng_for(self.store.seed, "org", i)
        name = ORG_NAMES[i % len(ORG_NAMES)] + ("" if i < len(ORG_NAMES) else f" {i // len(ORG_NAMES)}")
        return {"id": str(i + 1), "name": name, "uuid": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
                "created": BASE_MS - 400 * DAY_MS + rng.randrange(300 * DAY_MS)}

    def _build_customers(self, n: int) -> dict[str, list[dict]]:
        """Portal customers (not Jira users); each desk has its own subset, at least five."""
        rng = rng_for(self.store.seed, "customers")
        pool = [{"account_id": f"712020:{uuid.UUID(int=rng.getrandbits(128), version=4)}",
                 "name": f"customer{i + 1}", "key": f"JIRAUSER{20000 + i}",
                 "display": f"Customer {i + 1}", "email": f"customer{i + 1}@example.org"} for i in range(n)]
        out = {}
        for d, p in enumerate(self.store.service_desks()):
            out[p["service_desk_id"]] = [c for i, c in enumerate(pool) if (i + d) % 3 != 0 or i < 2]
        return out

    def extras(self, idx: int) -> Extras:
        with self.lock:
            if idx not in self._extras:
                self._extras[idx] = self._seed_extras(idx)
            return self._extras[idx]

    def _seed_extras(self, idx: int) -> Extras:
        s = self.store
        rng = rng_for(s.seed, "jsm-children", idx)
        created, updated = s._i_created[idx], s._i_updated[idx]
        users = len(s.users)
        ex = Extras()
        for j in range(rng.randrange(6)):  # 0..5 comments, oldest first, some internal
            when = created + (updated - created) * (j + 1) // 7
            ex.comments.append(Comment(30000 + idx * 10 + j, rng.randrange(users), rng.random() < 0.6,
                                       when, words(rng, 8).capitalize() + "."))
        ex.participants = rng.sample(range(users), rng.randrange(4))
        if request_type_of(s, idx)["name"] in APPROVAL_TYPES:
            approvers = rng.sample(range(users), 1 + rng.randrange(2))
            decision = rng.choice(["approved", "declined", "pending"])
            ex.approval = {"id": str(500 + idx), "created": created + HOUR_MS,
                           "approvers": [(a, decision if decision == "pending" or k == 0 else "approved")
                                         for k, a in enumerate(approvers)],
                           "decision": decision}
        if self.cloud and self.done(idx) and rng.random() < 0.7:
            ex.feedback = {"rating": 1 + rng.randrange(5),
                           "comment": words(rng, 6).capitalize() + "." if rng.random() < 0.6 else None}
        return ex

    def done(self, idx: int) -> bool:
        return self.jsm.request_json(idx)["currentStatus"]["statusCategory"] == "DONE"

    # ----------------------------------------------------------------- JSON
    def user(self, u: dict) -> dict:
        return self.jsm.user_dto(u)

    def customer_json(self, c: dict) -> dict:
        return self.jsm.user_dto(c)

    def org_json(self, o: dict) -> dict:
        out: dict[str, Any] = {"id": o["id"], "name": o["name"],
                               "_links": {"self": f"{self.jsm.base}/organization/{o['id']}"}}
        if self.cloud:
            out.update(uuid=o["uuid"], scimManaged=False, created=date_dto(o["created"], self.store.jira_tz))
        return out

    def queue_json(self, sd: str, q: tuple, count: bool) -> dict:
        qid, name, jql, _kind = q
        key = self.jsm.desk(sd)["key"]
        out: dict[str, Any] = {"id": qid, "name": name, "jql": f"project = {key} AND {jql}",
                               "fields": QUEUE_FIELDS,
                               "_links": {"self": f"{self.jsm.base}/servicedesk/{sd}/queue/{qid}"}}
        if count:
            out["issueCount"] = self.queue_count(sd, q)
        return out

    def queue_count(self, sd: str, q: tuple) -> int:
        """How many live requests of the desk the queue holds (its rule, evaluated by the fake)."""
        kind = q[3]
        s = self.store
        p = self.jsm.desk(sd)
        n = 0
        for ref in s.issues([p["key"]]):
            status = self.jsm.request_json(ref.idx)["currentStatus"]
            done = status["statusCategory"] == "DONE"
            n += {"open": not done, "even": not done and ref.idx % 2 == 0, "odd": not done and ref.idx % 2 == 1,
                  "waiting": status["status"] == "Waiting for support", "done": done}[kind]
        return n

    def comment_json(self, iid: str, c: Comment) -> dict:
        tz = self.store.jira_tz
        return {"_expands": ["attachment", "renderedBody"], "id": str(c.id), "body": c.body,
                "public": c.public, "author": self.user(self.store.users[c.author]),
                "created": date_dto(c.created, tz),
                "_links": {"self": f"{self.jsm.base}/request/{iid}/comment/{c.id}"}}

    def sla_json(self, idx: int) -> list[dict]:
        """Time to first response (completed, met or breached) and time to resolution
        (completed when the request is done, else ongoing)."""
        s = self.store
        tz = s.jira_tz
        created, updated = s._i_created[idx], s._i_updated[idx]
        ex = self.extras(idx)
        rng = rng_for(s.seed, "sla", idx)
        iid = str(10000 + idx)
        out = []
        for sid, (name, goal) in GOALS.items():
            if sid == "1":
                elapsed = rng.randrange(2 * goal)
                stop, completed = created + elapsed, True
            else:
                elapsed = max(0, updated - created)
                stop, completed = updated, self.done(idx)
            breached = ex.sla_breached.get(sid, elapsed > goal)
            if sid in ex.sla_breached:  # a changed SLA: elapsed moved to the other side of the goal
                elapsed = goal + HOUR_MS if breached else goal // 2
            cycle: dict[str, Any] = {
                "startTime": date_dto(created, tz), "breachTime": date_dto(created + goal, tz),
                "breached": breached, "goalDuration": dur(goal), "elapsedTime": dur(elapsed),
                "remainingTime": dur(goal - elapsed)}
            metric: dict[str, Any] = {"id": sid, "name": name, "completedCycles": [],
                                      "slaDisplayFormat": "NEW_SLA_FORMAT",
                                      "_links": {"self": f"{self.jsm.base}/request/{iid}/sla/{sid}"}}
            if completed:
                metric["completedCycles"].append({**cycle, "stopTime": date_dto(stop, tz)})
            else:
                metric["ongoingCycle"] = {**cycle, "paused": False, "withinCalendarHours": True}
            out.append(metric)
        return out

    def approval_json(self, idx: int) -> list[dict]:
        a = self.extras(idx).approval
        if a is None:
            return []
        tz = self.store.jira_tz
        out: dict[str, Any] = {
            "id": a["id"], "name": "Waiting for approval", "finalDecision": a["decision"],
            "canAnswerApproval": False, "createdDate": date_dto(a["created"], tz),
            "approvers": [{"approver": self.user(self.store.users[u]), "approverDecision": d}
                          for u, d in a["approvers"]],
            "_links": {"self": f"{self.jsm.base}/request/{10000 + idx}/approval/{a['id']}"}}
        if a["decision"] != "pending":
            out["completedDate"] = date_dto(a["created"] + 2 * HOUR_MS, tz)
        return [out]

    # ----------------------------------------------------------------- handlers
    def paged(self, req: FakeRequest, path: str, values: list, extra: dict[str, str] | None = None) -> FakeResponse:
        return self.jsm.paged(req, path, values, extra=extra)

    def request_idx(self, req: FakeRequest) -> int:
        key = req.params["key"]
        ref = self.store.issue_ref(key)
        if ref is None or not self.store.projects[self.store._i_proj[ref.idx]]["service_desk_id"]:
            raise jsm_error(404, "The request could not be found, or you do not have permission to view it.")
        return ref.idx

    def get_organizations(self, req: FakeRequest) -> FakeResponse:
        return self.paged(req, "/organization", [self.org_json(o) for o in self.organizations])

    def get_customers(self, req: FakeRequest) -> FakeResponse:
        sd = self.jsm.desk(req.params["sd"])["service_desk_id"]
        return self.paged(req, f"/servicedesk/{sd}/customer",
                          [self.customer_json(c) for c in self.customers[sd]])

    def get_queues(self, req: FakeRequest) -> FakeResponse:
        sd = self.jsm.desk(req.params["sd"])["service_desk_id"]
        count = (req.arg("includeCount") or "").lower() == "true"
        extra = {"includeCount": "true"} if count else None
        return self.paged(req, f"/servicedesk/{sd}/queue", [self.queue_json(sd, q, count) for q in self.queues[sd]],
                          extra)

    def get_comments(self, req: FakeRequest) -> FakeResponse:
        idx = self.request_idx(req)
        public = (req.arg("public") or "true").lower() != "false"
        internal = (req.arg("internal") or "true").lower() != "false"
        iid = str(10000 + idx)
        with self.lock:
            values = [self.comment_json(iid, c) for c in self.extras(idx).comments
                      if (public and c.public) or (internal and not c.public)]
        return self.paged(req, f"/request/{iid}/comment", values)

    def get_participants(self, req: FakeRequest) -> FakeResponse:
        idx = self.request_idx(req)
        with self.lock:
            values = [self.user(self.store.users[u]) for u in self.extras(idx).participants]
        return self.paged(req, f"/request/{10000 + idx}/participant", values)

    def get_sla(self, req: FakeRequest) -> FakeResponse:
        idx = self.request_idx(req)
        return self.paged(req, f"/request/{10000 + idx}/sla", self.sla_json(idx))

    def get_approvals(self, req: FakeRequest) -> FakeResponse:
        idx = self.request_idx(req)
        return self.paged(req, f"/request/{10000 + idx}/approval", self.approval_json(idx))

    def get_feedback(self, req: FakeRequest) -> FakeResponse:
        idx = self.request_idx(req)
        fb = self.extras(idx).feedback
        if fb is None:
            raise jsm_error(404, "No feedback found for this request.")
        out: dict[str, Any] = {"type": "csat", "rating": fb["rating"]}
        if fb["comment"]:
            out["comment"] = {"body": fb["comment"]}
        return FakeResponse(json=out)

    # ----------------------------------------------------------------- control operations
    def _ref_idx(self, issue: str | int) -> int:
        ref = self.store.issue_ref(issue)
        if ref is None:
            raise KeyError(f"no request {issue}")
        return ref.idx

    def _touch(self, idx: int, at: str | int | None) -> int:
        return self.store.touch_issue(str(10000 + idx), at).updated

    def add_comment(self, issue: str | int, *, public: bool = True, at: str | int | None = None) -> str:
        """A new comment on a request (its issue's `updated` moves to `at` or now); returns its id."""
        with self.lock:
            idx = self._ref_idx(issue)
            ex = self.extras(idx)
            self._next_comment += 1
            when = now_ms() if at is None else parse_instant(at)
            ex.comments.append(Comment(self._next_comment, 0, public, when, f"Added comment {self._next_comment}."))
            self._touch(idx, at)
            return str(self._next_comment)

    def update_comment(self, issue: str | int, comment_id: str | int, *, at: str | int | None = None) -> None:
        """Edit a comment's body (the request's issue `updated` moves)."""
        with self.lock:
            idx = self._ref_idx(issue)
            c = self._comment(idx, comment_id)
            c.body += " (edited)"
            self._touch(idx, at)

    def delete_comment(self, issue: str | int, comment_id: str | int, *, at: str | int | None = None) -> None:
        """Remove a comment (the request's issue `updated` moves, as Jira's does)."""
        with self.lock:
            idx = self._ref_idx(issue)
            ex = self.extras(idx)
            ex.comments.remove(self._comment(idx, comment_id))
            self._touch(idx, at)

    def _comment(self, idx: int, comment_id: str | int) -> Comment:
        found = [c for c in self.extras(idx).comments if str(c.id) == str(comment_id)]
        if not found:
            raise KeyError(f"no comment {comment_id} on request {10000 + idx}")
        return found[0]

    def comment_ids(self, issue: str | int) -> list[str]:
        with self.lock:
            return [str(c.id) for c in self.extras(self._ref_idx(issue)).comments]

    def add_participant(self, issue: str | int, user: int | None = None, *, at: str | int | None = None) -> dict:
        """Add a user (index into `data.users`; default: the first one not yet participating)."""
        with self.lock:
            idx = self._ref_idx(issue)
            ex = self.extras(idx)
            if user is None:
                user = next(i for i in range(len(self.store.users)) if i not in ex.participants)
            if user not in ex.participants:
                ex.participants.append(user)
            self._touch(idx, at)
            return self.store.users[user]

    def remove_participant(self, issue: str | int, user: int, *, at: str | int | None = None) -> None:
        with self.lock:
            idx = self._ref_idx(issue)
            self.extras(idx).participants.remove(user)
            self._touch(idx, at)

    def change_sla(self, issue: str | int, metric: str = "2", *, breached: bool = True,
                   at: str | int | None = None) -> None:
        """Force an SLA metric's outcome (as a transition recalculating it would; `updated` moves)."""
        with self.lock:
            idx = self._ref_idx(issue)
            self.extras(idx).sla_breached[metric] = breached
            self._touch(idx, at)


def dur(ms: int) -> dict:
    sign = "-" if ms < 0 else ""
    a = abs(ms)
    return {"millis": ms, "friendly": f"{sign}{a // HOUR_MS}h {a % HOUR_MS // 60_000}m"}


def install(fake: FakeAtlassian) -> None:
    c = JsmChildren(fake)
    fake.jsm_children = c  # type: ignore[attr-defined]
    p = re.escape(fake.jira_context) + "/rest/servicedeskapi"

    def add(path: str, handler) -> None:  # noqa: ANN001
        fake.route("GET", p + path, handler, host="main", product="jsm")

    add("/organization", c.get_organizations)
    add(r"/servicedesk/(?P<sd>[^/]+)/customer", experimental(c.get_customers))
    add(r"/servicedesk/(?P<sd>[^/]+)/queue", c.get_queues)
    add(r"/request/(?P<key>[^/]+)/comment", c.get_comments)
    add(r"/request/(?P<key>[^/]+)/participant", c.get_participants)
    add(r"/request/(?P<key>[^/]+)/sla", c.get_sla)
    add(r"/request/(?P<key>[^/]+)/approval", c.get_approvals)
    if fake.flavour == "cloud":  # JSM Data Center has no feedback resource
        add(r"/request/(?P<key>[^/]+)/feedback", experimental(c.get_feedback))
