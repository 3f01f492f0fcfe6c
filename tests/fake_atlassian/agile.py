"""Jira Software (agile) routes: boards, their sprints, and sprint membership.

`{jira}/rest/agile/1.0/...` on both flavours (Cloud and Jira Software Data Center serve the same
API; shapes from the Jira Software Cloud document, `tests/specs/jira-software-cloud.swagger.v3.json`):
- `GET /board` (`startAt`, `maxResults` default and cap 50, `projectKeyOrId`, `type`):
  `{maxResults, startAt, total, isLast, values: [Board]}`.
- `GET /board/{id}/sprint` (`state` = future,active,closed list): sprints ordered closed, active,
  future; a kanban board answers 400 `The board does not support sprints`.
- `GET /sprint/{id}` (`SprintBean`), `GET /sprint/{id}/issue` and
  `GET /board/{b}/sprint/{s}/issue` (`startAt`, `maxResults` cap 50, `fields`):
  `{expand, startAt, maxResults, total, issues}`, issues in id order.

Seeded: each software project has a scrum board (3 closed sprints, 1 active, 1 future) and a
kanban board; one more scrum board spans every software project and shows all their sprints
(a sprint on several boards). Issues of a project sit in its sprints (some in two closed
sprints, carried over). `fake.agile.enabled = False` is a Jira without Jira Software: every
`/rest/agile/` request answers 404.
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from .data import BASE_MS, DAY_MS, rng_for
from .http import FakeHTTPError, FakeResponse
from .paging import int_arg
from .site import error_400
from .timefmt import iso_z, now_ms

if TYPE_CHECKING:
    from .http import FakeRequest
    from .site import FakeAtlassian

PAGE_CAP = 50
SPRINT_DAYS = 14
STATES = ("closed", "active", "future")
NOT_INSTALLED = {"errorMessages": ["The requested resource was not found."], "errors": {}}
NO_SPRINTS = {"errorMessages": ["The board does not support sprints"], "errors": {}}


@dataclass
class Board:
    id: int
    name: str
    type: str  # scrum | kanban
    project: dict | None  # None: the board spanning every software project
    sprints: list[int] = field(default_factory=list)  # shown on this board


@dataclass
class Sprint:
    id: int
    name: str
    state: str
    origin: int
    start: int | None
    end: int | None
    complete: int | None
    created: int
    goal: str
    issues: list[int] = field(default_factory=list)  # issue indexes


class Agile:
    """Boards, sprints and membership (built on first use), and the control operations."""

    def __init__(self, fake: FakeAtlassian) -> None:
        self.fake = fake
        self.store = fake.data
        self.cloud = fake.flavour == "cloud"
        self.enabled = True
        self._lock = threading.RLock()
        self.boards: list[Board] = []
        self.sprints: dict[int, Sprint] = {}
        self._built = False

    def _ensure(self) -> None:
        with self._lock:
            if not self._built:
                self._build()
                self._built = True

    def _build(self) -> None:
        s = self.store
        software = [p for p in s.projects if p["type"] == "software"]
        proj = s.issue_columns()[0]
        next_board, next_sprint = 1, 1
        span = Board(0, "All software", "scrum", None)
        for p in software:
            scrum = Board(next_board, f"{p['key']} Scrum board", "scrum", p)
            kanban = Board(next_board + 1, f"{p['key']} Kanban board", "kanban", p)
            next_board += 2
            self.boards += [scrum, kanban]
            members = [i for i in range(len(proj)) if proj[i] == p["idx"]]
            rng = rng_for(s.seed, "sprints", p["key"])
            states = ["closed"] * 3 + ["active", "future"]
            for k, state in enumerate(states):
                start = BASE_MS - (len(states) - 2 - k) * SPRINT_DAYS * DAY_MS
                sprint = Sprint(next_sprint, f"{p['key']} Sprint {k + 1}", state, scrum.id,
                                start if state != "future" else None,
                                start + SPRINT_DAYS * DAY_MS if state != "future" else None,
                                start + SPRINT_DAYS * DAY_MS + 3_600_000 if state == "closed" else None,
                                start - 2 * DAY_MS, f"Ship {p['name'].lower()} increment {k + 1}")
                next_sprint += 1
                self.sprints[sprint.id] = sprint
                scrum.sprints.append(sprint.id)
            for i in members:
                roll = rng.random()
                if roll < 0.2:
                    continue  # backlog
                k = min(len(states) - 1, int((roll - 0.2) / 0.8 * len(states)))
                self.sprints[scrum.sprints[k]].issues.append(i)
                if k > 0 and states[k - 1] == "closed" and rng.random() < 0.3:
                    self.sprints[scrum.sprints[k - 1]].issues.append(i)  # carried over
        span.id = next_board
        span.sprints = [sid for b in self.boards for sid in b.sprints]
        if software:
            self.boards.append(span)
        for sprint in self.sprints.values():
            sprint.issues.sort()

    # ----------------------------------------------------------------- JSON
    def board_json(self, b: Board) -> dict:
        s = self.store
        out: dict = {"id": b.id, "self": f"{s.jira_url}/rest/agile/1.0/board/{b.id}", "name": b.name, "type": b.type}
        p = b.project
        if p is not None:
            out["location"] = {"projectId": int(p["id"]), "displayName": f"{p['name']} ({p['key']})",
                               "projectName": p["name"], "projectKey": p["key"], "projectTypeKey": "software",
                               "avatarURI": f"{s.jira_url}/secure/projectavatar?size=small&s=small&pid={p['id']}&avatarId=10400",
                               "name": f"{p['name']} ({p['key']})"}
        if self.cloud:
            out["isPrivate"] = False
        return out

    def sprint_json(self, sp: Sprint) -> dict:
        out: dict = {"id": sp.id, "self": f"{self.store.jira_url}/rest/agile/1.0/sprint/{sp.id}", "state": sp.state,
                     "name": sp.name}
        if sp.start is not None:
            out["startDate"] = iso_z(sp.start)
            out["endDate"] = iso_z(sp.end or sp.start)
        if sp.complete is not None:
            out["completeDate"] = iso_z(sp.complete)
        if self.cloud:
            out["createdDate"] = iso_z(sp.created)
        out["originBoardId"] = sp.origin
        out["goal"] = sp.goal
        return out

    def issue_json(self, idx: int, fields: list[str]) -> dict:
        s = self.store
        iid = str(10000 + idx)
        out = {"expand": "operations,versionedRepresentations,editmeta,changelog,renderedFields", "id": iid,
               "self": f"{s.jira_url}/rest/agile/1.0/issue/{iid}", "key": s.issue_key(idx)}
        wanted = [f for f in fields if f not in ("id", "key")]
        if wanted:
            full = self.fake.jira.builder.issue(idx, "2")  # type: ignore[attr-defined]
            out["fields"] = {f: full[f] for f in wanted if f in full}
        return out

    # ----------------------------------------------------------------- control
    def add_to_sprint(self, sprint_id: int, issue: str | int) -> None:
        """Put an issue in a sprint (Jira moves the issue's `updated` too)."""
        self._ensure()
        with self._lock:
            ref = self.store.touch_issue(issue)
            sp = self.sprints[int(sprint_id)]
            if ref.idx not in sp.issues:
                sp.issues.append(ref.idx)
                sp.issues.sort()

    def remove_from_sprint(self, sprint_id: int, issue: str | int) -> None:
        """Take an issue out of a sprint (to the backlog); the issue's `updated` moves."""
        self._ensure()
        with self._lock:
            ref = self.store.touch_issue(issue)
            sp = self.sprints[int(sprint_id)]
            if ref.idx in sp.issues:
                sp.issues.remove(ref.idx)

    def close_sprint(self, sprint_id: int) -> None:
        """Complete a sprint: state closed, `completeDate` now."""
        self._ensure()
        with self._lock:
            sp = self.sprints[int(sprint_id)]
            sp.state, sp.complete = "closed", now_ms()
            sp.start = sp.start if sp.start is not None else sp.complete - SPRINT_DAYS * DAY_MS
            sp.end = sp.end if sp.end is not None else sp.complete

    def board_of(self, sprint_id: int) -> list[Board]:
        self._ensure()
        return [b for b in self.boards if int(sprint_id) in b.sprints]

    # ----------------------------------------------------------------- handlers
    def _gate(self) -> None:
        if not self.enabled:
            raise FakeHTTPError(404, NOT_INSTALLED)
        self._ensure()

    def _page(self, req: FakeRequest, items: list, key: str, extra: dict | None = None) -> FakeResponse:
        err = lambda m: error_400([m])  # noqa: E731
        start = int_arg(req, "startAt", 0, err, lo=0)
        limit = int_arg(req, "maxResults", PAGE_CAP, err, lo=1, hi=PAGE_CAP)
        page = items[start:start + limit]
        body = {**(extra or {}), "maxResults": limit, "startAt": start, "total": len(items)}
        if key == "values":
            body["isLast"] = start + limit >= len(items)
        body[key] = page
        return FakeResponse(json=body)

    def list_boards(self, req: FakeRequest) -> FakeResponse:
        """`GET /rest/agile/1.0/board`."""
        self._gate()
        boards = self.boards
        wanted = req.arg("projectKeyOrId")
        if wanted:
            p = self.store.project(wanted)
            if p is None:
                raise error_400([f"No project could be found with key or id '{wanted}'."])
            boards = [b for b in boards if b.project is None or b.project["idx"] == p["idx"]]
        kinds = req.args("type")
        if kinds:
            boards = [b for b in boards if b.type in kinds]
        return self._page(req, [self.board_json(b) for b in boards], "values")

    def _board(self, req: FakeRequest) -> Board:
        bid = req.params["board"]
        board = next((b for b in self.boards if str(b.id) == bid), None)
        if board is None:
            raise FakeHTTPError(404, {"errorMessages": [
                "Board does not exist or you do not have permission to see it."], "errors": {}})
        return board

    def board_sprints(self, req: FakeRequest) -> FakeResponse:
        """`GET /rest/agile/1.0/board/{id}/sprint`: 400 on a kanban board."""
        self._gate()
        board = self._board(req)
        if board.type != "scrum":
            raise FakeHTTPError(400, NO_SPRINTS)
        states = [s.strip() for s in req.args("state") if s.strip()] or list(STATES)
        with self._lock:
            chosen = [self.sprints[i] for i in board.sprints if self.sprints[i].state in states]
            chosen.sort(key=lambda sp: STATES.index(sp.state))  # closed, active, future; stable
            items = [self.sprint_json(sp) for sp in chosen]
        return self._page(req, items, "values")

    def _sprint(self, req: FakeRequest) -> Sprint:
        sp = self.sprints.get(int(req.params["sprint"])) if req.params["sprint"].isdigit() else None
        if sp is None:
            raise FakeHTTPError(404, {"errorMessages": [
                "Sprint does not exist or you do not have permission to see it."], "errors": {}})
        return sp

    def sprint(self, req: FakeRequest) -> FakeResponse:
        """`GET /rest/agile/1.0/sprint/{id}`."""
        self._gate()
        return FakeResponse(json=self.sprint_json(self._sprint(req)))

    def sprint_issues(self, req: FakeRequest) -> FakeResponse:
        """`GET /rest/agile/1.0/sprint/{id}/issue` and `/board/{b}/sprint/{s}/issue`."""
        self._gate()
        if "board" in req.params:
            board = self._board(req)
            if int(req.params["sprint"]) not in board.sprints:
                raise error_400(["The sprint is not on this board."])
        sp = self._sprint(req)
        fields = [f.strip() for f in req.args("fields") if f.strip()] or ["summary", "status", "updated"]
        _, _, _, gone = self.store.issue_columns()
        with self._lock:
            members = [i for i in sp.issues if i not in gone]
        return self._page(req, [self.issue_json(i, fields) for i in members], "issues",
                          {"expand": "schema,names"})


def install(fake: FakeAtlassian) -> None:
    """Serve `/rest/agile/1.0` (`fake.agile`)."""
    ag = Agile(fake)
    fake.agile = ag  # type: ignore[attr-defined]
    p = re.escape(fake.jira_context) + "/rest/agile/1.0"

    def add(path: str, handler) -> None:  # noqa: ANN001
        fake.route("GET", p + path, handler, host="main", product="jira")

    add(r"/board", ag.list_boards)
    add(r"/board/(?P<board>\d+)/sprint", ag.board_sprints)
    add(r"/sprint/(?P<sprint>[^/]+)", ag.sprint)
    add(r"/sprint/(?P<sprint>\d+)/issue", ag.sprint_issues)
    add(r"/board/(?P<board>\d+)/sprint/(?P<sprint>\d+)/issue", ag.sprint_issues)
