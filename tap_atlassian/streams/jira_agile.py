"""Jira Software (agile) streams: boards, sprints and sprint membership.

``/rest/agile/1.0`` answers alike on Cloud and on Jira Software Server/Data Center; every
listing pages by ``startAt``/``maxResults`` (at most 50)/``total``/``isLast``:

- ``GET /rest/agile/1.0/board`` (``projectKeyOrId`` with ``project_keys``, once per key)
  https://developer.atlassian.com/cloud/jira/software/rest/api-group-board/#api-rest-agile-1-0-board-get
- ``GET /rest/agile/1.0/board/{id}/sprint``: a kanban board answers 400 ("The board does not
  support sprints"): skipped with one warning. A sprint shows on every board whose filter
  holds its issues, so sprints are kept once, by id, in the order first seen.
  https://developer.atlassian.com/cloud/jira/software/rest/api-group-board/#api-rest-agile-1-0-board-boardid-sprint-get
- ``GET /rest/agile/1.0/sprint/{id}/issue?fields=...``: the issues in a sprint.
  https://developer.atlassian.com/cloud/jira/software/rest/api-group-sprint/#api-rest-agile-1-0-sprint-sprintid-issue-get
  (Server/DC: https://docs.atlassian.com/jira-software/REST/9.12.0/#agile/1.0/sprint-getIssuesForSprint)

A site without Jira Software answers 404 on ``/rest/agile/1.0/board``: ``requires = "agile"``
makes the base stream skip these streams with one warning. Boards and sprints are read once
per run and shared by the three streams (``ApiClient.cache``); the per-board and per-sprint
reads go through ``ApiClient.map``. A closed sprint's membership no longer changes: once read
it is not read again (the closed sprints read are kept in the state of ``jira_sprint_issues``);
an issue taken out of an open sprint is a tombstone.
"""

from __future__ import annotations

import logging
import typing as t
from http import HTTPStatus

from tap_atlassian.errors import AccessError, ApiError
from tap_atlassian.pagination import PageBeanPaginator, StartAtPaginator
from tap_atlassian.state_sets import Groups
from tap_atlassian.streams.jira import JiraStream

if t.TYPE_CHECKING:
    from singer_sdk.helpers.types import Context

LOGGER = logging.getLogger("tap-atlassian")
AGILE = "/rest/agile/1.0"
STATE_CLOSED = "closed_sprints_read"  # ids of closed sprints whose membership was emitted
STATE_MEMBERS = "members"  # issue ids last read per open sprint (Groups string)
MEMBER_FIELDS = "updated"  # a small answer: a membership record is the issue's id, key and link
# OAuth 2.0 scope groups of the agile API (each met by any one of its scopes)
BOARDS = ("read:board-scope:jira-software",)
SPRINTS = ("read:sprint:jira-software",)


class AgilePaginator(PageBeanPaginator):
    """Agile listings (boards, sprints): at most 50 a page."""

    max_limit = 50


class AgileIssuesPaginator(StartAtPaginator):
    """A sprint's issues: ``startAt``/``maxResults`` (cap 50)/``total``, under ``issues``."""

    records_key = "issues"
    max_limit = 50


class AgileStream(JiraStream):
    """A Jira Software stream (skipped with one warning when the site has none)."""

    requires = "agile"

    def boards(self) -> list[dict]:
        """Every board (of ``project_keys`` when set), once, read once per run."""
        cache = self.client.cache
        if "agile_boards" not in cache:
            keys = list(self.settings.project_keys)
            found: dict[t.Any, dict] = {}
            for params in [{"projectKeyOrId": k} for k in keys] or [{}]:
                try:
                    for board in self.paginate(f"{AGILE}/board", AgilePaginator, params):
                        found.setdefault(board.get("id"), board)
                except ApiError as exc:  # noqa: PERF203  (a refused key is skipped, the others read)
                    # 400/403/404: no such project, or hidden from this login
                    refused = isinstance(exc, AccessError) or exc.status == HTTPStatus.BAD_REQUEST
                    if not params or not refused:
                        raise
                    LOGGER.warning(
                        "jira_boards: project %s skipped (project_keys): %s", params["projectKeyOrId"], exc
                    )
            cache["agile_boards"] = list(found.values())
        return cache["agile_boards"]

    def sprints(self) -> list[dict]:
        """Every board's sprints, each sprint once (first board first), read once per run."""
        cache = self.client.cache
        if "agile_sprints" not in cache:
            boards = self.boards()
            found: dict[t.Any, dict] = {}
            for board, answer in zip(boards, self.client.map(self._board_sprints, boards), strict=True):
                if isinstance(answer, ApiError):
                    kanban = answer.status == HTTPStatus.BAD_REQUEST
                    why = "it does not support sprints" if kanban else "not readable"
                    # a kanban board answers 400: normal, not a warning (a normal run logs none)
                    log = LOGGER.info if kanban else LOGGER.warning
                    log(
                        "jira_sprints: board %s (%s, %s) skipped, %s: %s",
                        board.get("id"),
                        board.get("name"),
                        board.get("type"),
                        why,
                        answer,
                    )
                    continue
                for sprint in answer:
                    found.setdefault(sprint.get("id"), sprint)
            cache["agile_sprints"] = list(found.values())
        return cache["agile_sprints"]

    def _board_sprints(self, board: dict) -> list[dict] | ApiError:
        """One board's sprints, or the 400 (no sprints: kanban) / 403 / 404 that refused them."""
        try:
            return list(self.paginate(f"{AGILE}/board/{board['id']}/sprint", AgilePaginator))
        except ApiError as exc:
            if isinstance(exc, AccessError) or exc.status == HTTPStatus.BAD_REQUEST:
                return exc
            raise


class JiraBoardsStream(AgileStream):
    """Boards: scrum, kanban and simple (team-managed), with their location (project)."""

    name = "jira_boards"
    oauth_scopes = (BOARDS, ("read:project:jira",))
    primary_keys = ("id",)

    def get_records(self, context: Context | None) -> t.Iterable[dict]:  # noqa: ARG002
        """The boards."""
        yield from (dict(board) for board in self.boards())


class JiraSprintsStream(AgileStream):
    """Sprints of every board, each once (``originBoardId`` names the board that owns it)."""

    name = "jira_sprints"
    oauth_scopes = (BOARDS, SPRINTS)
    primary_keys = ("id",)

    def get_records(self, context: Context | None) -> t.Iterable[dict]:  # noqa: ARG002
        """The sprints."""
        yield from (dict(sprint) for sprint in self.sprints())


class JiraSprintIssuesStream(AgileStream):
    """Sprint membership: one record per (sprint, issue): ``sprintId``, ``issueId``, ``key``, ``self``.

    Active and future sprints are read every run; a closed sprint once (its id then joins the
    state's ``closed_sprints_read``, a sorted list of ids). An issue taken out of a sprint
    (moved to another sprint or to the backlog) is a tombstone ``(sprintId, issueId)``: the
    issue ids last read per open sprint are kept in the state (``members``, the compact
    ``Groups`` string of :mod:`tap_atlassian.state_sets`).
    """

    name = "jira_sprint_issues"
    oauth_scopes = (BOARDS, SPRINTS, ("read:jira-work", "read:issue-details:jira"))
    primary_keys = ("sprintId", "issueId")

    def get_records(self, context: Context | None) -> t.Iterable[dict]:
        """Each sprint's issues, in the sprints' order; closed sprints already read are left out."""
        state = self.get_context_state(context)
        done = {i for i in state.get(STATE_CLOSED) or [] if isinstance(i, int)}
        members = Groups.decode(state.get(STATE_MEMBERS))
        todo = [s for s in self.sprints() if not (s.get("state") == "closed" and s.get("id") in done)]
        for sprint, issues in zip(todo, self.client.map(self._members, todo), strict=True):
            sprint_id = sprint.get("id")
            if isinstance(issues, AccessError):
                LOGGER.warning(
                    "%s: sprint %s (%s) skipped: %s", self.name, sprint_id, sprint.get("name"), issues
                )
                continue
            now = set()
            for issue in issues:
                yield {
                    "sprintId": sprint_id,
                    "issueId": str(issue.get("id")),
                    "key": issue.get("key"),
                    "self": issue.get("self"),
                }
                if str(issue.get("id")).isdigit():
                    now.add(int(issue["id"]))
            if isinstance(sprint_id, int):
                for gone in sorted(set(members.get(sprint_id)) - now):
                    yield self.tombstone({"sprintId": sprint_id, "issueId": str(gone)})
                closed = sprint.get("state") == "closed"
                members.put(sprint_id, [] if closed else sorted(now))  # a closed sprint no longer changes
                if closed:
                    done.add(sprint_id)
                    state[STATE_CLOSED] = sorted(done)
                state[STATE_MEMBERS] = members.encode()

    def _members(self, sprint: dict) -> list[dict] | AccessError:
        """One sprint's issues (a sprint gone or hidden meanwhile: its 403/404)."""
        try:
            return list(
                self.paginate(
                    f"{AGILE}/sprint/{sprint['id']}/issue", AgileIssuesPaginator, {"fields": MEMBER_FIELDS}
                )
            )
        except AccessError as exc:
            return exc


STREAMS = (JiraBoardsStream, JiraSprintsStream, JiraSprintIssuesStream)
