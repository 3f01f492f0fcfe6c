"""Jira worklogs: per issue, the site-wide change feeds, bulk reads, and the issue's `worklog` field.

Endpoints (Cloud `/rest/api/{3,2}`, Server/DC `/rest/api/2`; shapes from the Jira v3 document's
`Worklog`, `PageOfWorklogs`, `ChangedWorklogs`):
- `GET /issue/{idOrKey}/worklog` (`startAt`, `maxResults` default and cap 5,000, `startedAfter`,
  `startedBefore`): oldest created first, `{startAt, maxResults, total, worklogs}`.
- `GET /worklog/updated?since=<ms>`: `{values: [{worklogId, updatedTime, properties}], since, until,
  self, nextPage, lastPage}`, oldest first, at most `feed_limit` (1,000) a page; `since` is
  inclusive and `nextPage` asks `since=<until>` (Atlassian's example); changes of the last
  minute are not listed ("does not return worklogs updated during the minute preceding the
  request"). `GET /worklog/deleted?since=<ms>`: the same for deletions.
- `POST /worklog/list {"ids": [...]}` (at most 1,000, else 400): the worklogs, in id order;
  unknown or deleted ids are left out.
- The issue's `worklog` field (search and issue reads): `{startAt: 0, maxResults: 20, total,
  worklogs: the first 20}`, as Jira embeds it.

Seeded: 0-3 worklogs on most issues; the first issue of the first software project has 55
(more than the embedded 20 and a page of 50); the first issue of the second has 8 written by
one import at the same millisecond. Every change (`add`, `update`, `delete`) moves its issue's
`updated`, as logging work does in Jira.
"""

from __future__ import annotations

import random
import re
import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING

from .data import DAY_MS, rng_for, words
from .http import FakeHTTPError, FakeResponse
from .jira_objects import rich
from .paging import int_arg
from .site import error_400
from .timefmt import jira_time, now_ms, parse_instant

if TYPE_CHECKING:
    from .http import FakeRequest
    from .site import FakeAtlassian

FEED_LIMIT = 1000  # /worklog/updated, /worklog/deleted and /worklog/list
EMBEDDED = 20  # worklogs a search or issue read embeds in the `worklog` field
FEED_DELAY_MS = 60_000  # the feeds leave out the last minute
BIG_ISSUE_WORKLOGS = 55
IMPORT_BATCH = 8
SEEDED_BASE, PER_ISSUE = 30000, 64  # seeded worklog ids: SEEDED_BASE + issue idx * PER_ISSUE + k
ADDED_BASE = 10**10  # ids of worklogs added through the control API


@dataclass
class Worklog:
    id: int
    idx: int  # issue index in the store
    author: int
    update_author: int
    created: int
    updated: int
    started: int
    seconds: int


def _spent(seconds: int) -> str:
    hours, minutes = divmod(seconds // 60, 60)
    days, hours = divmod(hours, 8)
    parts = [f"{v}{u}" for v, u in ((days, "d"), (hours, "h"), (minutes, "m")) if v]
    return " ".join(parts) or "0m"


class Worklogs:
    """Every issue's worklogs (an issue's are generated when first asked for, from the seed and
    the issue's seeded times) and the control operations on them."""

    def __init__(self, fake: FakeAtlassian) -> None:
        self.fake = fake
        self.store = fake.data
        self.feed_limit = FEED_LIMIT
        self.last_page_key = "lastPage"  # "isLastPage": as some Server/DC builds write it; None: left out
        self._lock = threading.RLock()
        _proj, updated, created, _gone = self.store.issue_columns()
        self._seeded_times = (list(created), list(updated))  # as seeded: touches do not move worklogs
        self._issues: dict[int, list[Worklog]] = {}  # issue idx -> its worklogs, once generated
        self._added: dict[int, int] = {}  # id of a worklog added by `add` -> issue idx
        self.deleted: dict[int, int] = {}  # worklog id -> deletion time (ms)
        software = [p["idx"] for p in self.store.projects if p["type"] == "software"]
        self._big = software[0] if software else None
        self._batch = software[1] if len(software) > 1 else None

    # ----------------------------------------------------------------- seeding
    def _issue(self, idx: int) -> list[Worklog]:
        """An issue's worklog list (generated on first use; edited in place by the control calls)."""
        with self._lock:
            logs = self._issues.get(idx)
            if logs is None:
                logs = self._issues[idx] = self._seed(idx)
            return logs

    def _seed(self, idx: int) -> list[Worklog]:
        created, updated = self._seeded_times
        if idx >= len(created):
            return []  # an issue added by the control API starts without worklogs
        rng = random.Random(self.store.seed * 1_000_003 + idx)
        first_of = idx if idx < len(self.store.projects) else None
        n = BIG_ISSUE_WORKLOGS if first_of == self._big else IMPORT_BATCH if first_of == self._batch else rng.randrange(4)
        span = max(1, updated[idx] - created[idx])
        nusers = len(self.store.users)
        out = []
        for k in range(n):
            if first_of == self._batch:
                at = edited = created[idx] + span // 2  # one import: the same millisecond
            else:
                at = min(updated[idx], created[idx] + span * (k + 1) // (n + 1) + rng.randrange(1000))
                edited = at if rng.random() < 0.7 else min(updated[idx], at + rng.randrange(DAY_MS))
            out.append(Worklog(SEEDED_BASE + idx * PER_ISSUE + k, idx, rng.randrange(nusers), rng.randrange(nusers),
                               at, edited, at - rng.randrange(8) * 3_600_000, 900 * (1 + rng.randrange(32))))
        return out

    # ----------------------------------------------------------------- reads
    def of_issue(self, idx: int) -> list[Worklog]:
        """One issue's worklogs, oldest created first (Jira's order)."""
        with self._lock:
            return sorted(self._issue(idx), key=lambda w: (w.created, w.id))

    def live(self) -> list[Worklog]:
        """Every worklog of a live issue, in id order (what a full sync must return)."""
        _, _, _, gone = self.store.issue_columns()
        with self._lock:
            n = len(self.store.issue_columns()[0])
            return sorted((w for idx in range(n) if idx not in gone for w in self._issue(idx)), key=lambda w: w.id)

    def get(self, worklog_id: int | str) -> Worklog | None:
        """A live worklog by id, else None."""
        wid = int(worklog_id)
        with self._lock:
            idx = self._added.get(wid, (wid - SEEDED_BASE) // PER_ISSUE)
            if idx < 0 or idx >= len(self.store.issue_columns()[0]):
                return None
            return next((w for w in self._issue(idx) if w.id == wid), None)

    def json(self, w: Worklog, api: str) -> dict:
        s = self.store
        builder = self.fake.jira.builder  # type: ignore[attr-defined]
        issue_id = str(10000 + w.idx)
        rng = rng_for(s.seed, "worklog-comment", w.id)
        return {"self": f"{s.jira_url}/rest/api/{api}/issue/{issue_id}/worklog/{w.id}",
                "author": builder.user(w.author), "updateAuthor": builder.user(w.update_author),
                "comment": rich([words(rng, 6 + rng.randrange(10)).capitalize() + "."], api),
                "created": jira_time(w.created, s.jira_tz), "updated": jira_time(w.updated, s.jira_tz),
                "started": jira_time(w.started, s.jira_tz), "timeSpent": _spent(w.seconds),
                "timeSpentSeconds": w.seconds, "id": str(w.id), "issueId": issue_id}

    def embedded(self, idx: int, api: str) -> dict:
        """The issue's `worklog` field: the first 20 and the total."""
        logs = self.of_issue(idx)
        return {"startAt": 0, "maxResults": EMBEDDED, "total": len(logs),
                "worklogs": [self.json(w, api) for w in logs[:EMBEDDED]]}

    # ----------------------------------------------------------------- control
    def add(self, issue: str | int, at: str | int | None = None, seconds: int = 3600) -> dict:
        """A new worklog on an issue, created and updated `at` (default now); the issue moves too."""
        with self._lock:
            ref = self.store.touch_issue(issue, at)
            wid = ADDED_BASE + len(self._added)
            self._added[wid] = ref.idx
            self._issue(ref.idx).append(Worklog(wid, ref.idx, 0, 0, ref.updated, ref.updated,
                                                ref.updated - 3_600_000, seconds))
            return {"id": str(wid), "issueId": ref.id, "updated": ref.updated}

    def update(self, worklog_id: int | str, at: str | int | None = None, seconds: int | None = None) -> dict:
        """Edit a worklog: `updated` := `at` (default now); its issue moves too."""
        with self._lock:
            w = self.get(worklog_id)
            if w is None:
                raise KeyError(f"no worklog {worklog_id}")
            ref = self.store.touch_issue(10000 + w.idx, at)
            w.updated, w.update_author = ref.updated, 1
            if seconds is not None:
                w.seconds = seconds
            return {"id": str(w.id), "issueId": ref.id, "updated": w.updated}

    def delete(self, worklog_id: int | str, at: str | int | None = None) -> dict:
        """Delete a worklog (listed by `/worklog/deleted` from `at`, default now); its issue moves."""
        with self._lock:
            w = self.get(worklog_id)
            if w is None:
                raise KeyError(f"no worklog {worklog_id}")
            ref = self.store.touch_issue(10000 + w.idx, at)
            self._issue(w.idx).remove(w)
            self.deleted[w.id] = now_ms() if at is None else parse_instant(at)
            return {"id": str(w.id), "issueId": ref.id}

    # ----------------------------------------------------------------- handlers
    def issue_worklogs(self, req: FakeRequest) -> FakeResponse:
        """`GET /rest/api/{3,2}/issue/{idOrKey}/worklog`."""
        ref = self.store.issue_ref(req.params["key"])
        if ref is None:
            raise FakeHTTPError(404, {"errorMessages": [
                "Issue does not exist or you do not have permission to see it."], "errors": {}})
        err = lambda m: error_400([m])  # noqa: E731
        start = int_arg(req, "startAt", 0, err, lo=0)
        limit = int_arg(req, "maxResults", 5000, err, lo=0, hi=5000)
        after = int_arg(req, "startedAfter", -(2**62), err)
        before = int_arg(req, "startedBefore", 2**62, err)
        logs = [w for w in self.of_issue(ref.idx) if after <= w.started <= before]
        api = "3" if "/api/3/" in req.path else "2"
        return FakeResponse(json={"startAt": start, "maxResults": limit, "total": len(logs),
                                  "worklogs": [self.json(w, api) for w in logs[start:start + limit]]})

    def _feed(self, req: FakeRequest, changes: list[tuple[int, int]], kind: str) -> FakeResponse:
        """A change feed page: `changes` are (time, worklog id) pairs."""
        since = int_arg(req, "since", 0, lambda m: error_400([m]))
        cutoff = now_ms() - FEED_DELAY_MS
        hits = sorted((at, wid) for at, wid in changes if since <= at <= cutoff)
        page = hits[:self.feed_limit]
        last = len(hits) <= self.feed_limit
        until = page[-1][0] if page else since
        base = f"{self.store.jira_url}{req.path}"
        expand = req.arg("expand") if kind == "updated" else None
        body: dict = {"values": [{"worklogId": wid, "updatedTime": at, "properties": []} for at, wid in page],
                      "since": since, "until": until, "self": f"{base}?since={since}"}
        if self.last_page_key:
            body[self.last_page_key] = last
        if expand:
            body["self"] += f"&expand={expand}"
        if not last:
            body["nextPage"] = f"{base}?since={until}"
        return FakeResponse(json=body)

    def updated_feed(self, req: FakeRequest) -> FakeResponse:
        """`GET /rest/api/{3,2}/worklog/updated?since=`."""
        with self._lock:
            changes = [(w.updated, w.id) for w in self.live()]
        return self._feed(req, changes, "updated")

    def deleted_feed(self, req: FakeRequest) -> FakeResponse:
        """`GET /rest/api/{3,2}/worklog/deleted?since=`."""
        with self._lock:
            changes = [(at, wid) for wid, at in self.deleted.items()]
        return self._feed(req, changes, "deleted")

    def worklog_list(self, req: FakeRequest) -> FakeResponse:
        """`POST /rest/api/{3,2}/worklog/list {"ids": [...]}`."""
        body = req.json() or {}
        ids = body.get("ids")
        if not isinstance(ids, list):
            raise error_400(["Request must contain list of worklog ids."])
        if len(ids) > FEED_LIMIT:
            raise error_400([f"The number of worklog ids must not exceed {FEED_LIMIT}."])
        api = "3" if "/api/3/" in req.path else "2"
        _, _, _, gone = self.store.issue_columns()
        found = [w for i in sorted({int(x) for x in ids}) if (w := self.get(i)) is not None and w.idx not in gone]
        return FakeResponse(json=[self.json(w, api) for w in found])


def install(fake: FakeAtlassian) -> None:
    """Serve the worklog endpoints and fill the issues' `worklog` field (`fake.worklogs`)."""
    wl = Worklogs(fake)
    fake.worklogs = wl  # type: ignore[attr-defined]
    builder = fake.jira.builder  # type: ignore[attr-defined]
    plain_issue = builder.issue

    def issue_with_worklogs(idx: int, api: str) -> dict:
        fields = plain_issue(idx, api)
        fields["worklog"] = wl.embedded(idx, api)
        return fields

    builder.issue = issue_with_worklogs
    p = re.escape(fake.jira_context)
    api = "(?:3|2|latest)" if fake.flavour == "cloud" else "(?:2|latest)"

    def add(method: str, path: str, handler) -> None:  # noqa: ANN001
        fake.route(method, p + path, handler, host="main", product="jira")

    add("GET", rf"/rest/api/{api}/issue/(?P<key>[^/]+)/worklog", wl.issue_worklogs)
    add("GET", rf"/rest/api/{api}/worklog/updated", wl.updated_feed)
    add("GET", rf"/rest/api/{api}/worklog/deleted", wl.deleted_feed)
    add("POST", rf"/rest/api/{api}/worklog/list", wl.worklog_list)
