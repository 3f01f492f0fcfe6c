"""``jira_issue_worklogs``: time tracking, incremental on each worklog's own ``updated``.

Two ways to find what changed, Cloud (REST v3) and Server/DC (REST v2, Jira 7+) alike:

- Without ``project_keys``, the site-wide change feed: ``GET /rest/api/{3,2}/worklog/updated?since=``
  (ids and change times, oldest first, at most 1,000 a page, ``since`` inclusive, the next page
  at ``since=<until>``) then ``POST /worklog/list`` (the worklogs, 1,000 ids a call); deletions
  from ``GET /worklog/deleted?since=`` become tombstones.
  https://developer.atlassian.com/cloud/jira/platform/rest/v3/api-group-issue-worklogs/#api-rest-api-3-worklog-updated-get
  https://docs.atlassian.com/software/jira/docs/api/REST/9.12.0/#api/2/worklog-getIdsOfWorklogsModifiedSince
- With ``project_keys`` (the feed cannot filter by project), the worklogs of the issues changed
  since the bookmark (adding, editing or deleting a worklog changes its issue's ``updated``): a
  JQL search with ``fields=worklog`` embeds each issue's first 20 worklogs and their total;
  an issue with more is read from ``GET /rest/api/{3,2}/issue/{id}/worklog`` (startAt paging).
  A re-read issue's worklogs that were read before and are gone now are tombstones; the ids
  read per issue are kept in the stream's state as one short string (see :class:`IssueWorklogIds`).
  https://developer.atlassian.com/cloud/jira/platform/rest/v3/api-group-issue-worklogs/#api-rest-api-3-issue-issueidorkey-worklog-get
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import typing as t
from urllib.parse import parse_qsl, urlsplit

from tap_atlassian.errors import AccessError
from tap_atlassian.pagination import StartAtPaginator
from tap_atlassian.schemas import schema
from tap_atlassian.streams.jira import JiraIssuesStream, JqlSearch
from tap_atlassian.windows import format_utc, parse_time

LOGGER = logging.getLogger("tap-atlassian")
LIST_LIMIT = 1000  # ids per POST /worklog/list
STATE_IDS = "worklog_ids"  # per-issue worklog ids (project_keys path)
STATE_DELETED_SINCE = "deleted_since"  # /worklog/deleted position, epoch ms (feed path)
DIGITS = "0123456789abcdefghijklmnopqrstuvwxyz"


class WorklogsPaginator(StartAtPaginator):
    """``PageOfWorklogs``: ``startAt``/``maxResults`` (default and cap 5,000)/``total``, ``worklogs``."""

    records_key = "worklogs"
    max_limit = 5000


def _b36(value: int) -> str:
    out = ""
    while True:
        value, rem = divmod(value, 36)
        out = DIGITS[rem] + out
        if not value:
            return out


class IssueWorklogIds:
    """The worklog ids read per issue, as one string in the stream's state.

    ``<issue>:<id>.<id>...`` groups joined by ``,``; issues sorted, each written as the base-36
    gap from the previous issue; a group's ids sorted, the first as the gap from 0 and each
    next as the gap from the one before (worklog ids are large but close: a few bytes each).
    Issues without worklogs are left out. A string that does not parse is read as empty: the
    next re-read of an issue then emits no tombstone for it, never a wrong one.
    """

    def __init__(self, text: t.Any) -> None:  # noqa: ANN401
        """Decode the state's string."""
        self.groups: dict[int, set[int]] = {}
        try:
            issue = 0
            for group in (text or "").split(",") if isinstance(text, str) else ():
                if not group:
                    continue
                head, _, tail = group.partition(":")
                issue += int(head, 36)
                ids, last = set(), 0
                for part in tail.split("."):
                    last += int(part, 36)
                    ids.add(last)
                self.groups[issue] = ids
        except ValueError:
            self.groups = {}

    def get(self, issue: int) -> set[int]:
        """The ids read last time for an issue."""
        return self.groups.get(issue, set())

    def put(self, issue: int, ids: set[int]) -> None:
        """The ids read now for an issue."""
        if ids:
            self.groups[issue] = set(ids)
        else:
            self.groups.pop(issue, None)

    def encode(self) -> str:
        """The state's string."""
        out, prev_issue = [], 0
        for issue in sorted(self.groups):
            parts, prev = [], 0
            for wid in sorted(self.groups[issue]):
                parts.append(_b36(wid - prev))
                prev = wid
            out.append(f"{_b36(issue - prev_issue)}:{'.'.join(parts)}")
            prev_issue = issue
        return ",".join(out)


@dataclasses.dataclass
class FeedPage:
    """One page of a worklog change feed: its new ``(time, id)`` changes, oldest first; its
    ``until``; where the next read starts; the millisecond it is stuck on, if any."""

    changes: list[tuple[int, int]]
    until: int
    resume: int
    stuck: int | None = None


def _int(value: t.Any) -> int | None:  # noqa: ANN401
    text = str(value)
    return int(text) if text.isdigit() else None


def _ms(value: dt.datetime | None) -> int | None:
    return None if value is None else int(value.timestamp() * 1000)


class JiraIssueWorklogsStream(JiraIssuesStream):
    """Worklogs with ``issueId``, keyed by ``id``, incremental on the worklog's ``updated`` (UTC)."""

    name = "jira_issue_worklogs"
    primary_keys = ("id",)
    replication_key = "updated"

    @classmethod
    def discover_schema(cls, tap: t.Any) -> dict[str, t.Any]:  # noqa: ANN401
        """The deployment's worklog schema (no custom fields)."""
        return schema(cls.name, tap.sites.deployment)

    @property
    def is_sorted(self) -> bool:  # type: ignore[override]
        """The feed is read oldest change first; per-issue reads are in issue order, not worklog order."""
        return not self.settings.project_keys

    def get_records(self, context: dict | None) -> t.Iterable[dict]:
        """The feed (whole site) or the changed issues' worklogs (``project_keys``)."""
        if self.settings.project_keys:
            yield from self._per_issue(context)
        else:
            yield from self._feed(context)

    # -- the site-wide change feed -------------------------------------------------------
    def _feed(self, context: dict | None) -> t.Iterator[dict]:
        state = self.get_context_state(context)
        since = _ms(self.get_starting_timestamp(context)) or 0
        self._emitted: set[int] = set()
        self._issues_at: dict[int, set[str]] = {}  # change time -> issues of the worklogs listed then
        for page in self._pages("updated", since):
            yield from self._list(page)
            if page.stuck is not None:
                yield from self._stuck(page.stuck)
            self._issues_at = {at: ids for at, ids in self._issues_at.items() if at >= page.resume - 1}
        deleted_since = state.get(STATE_DELETED_SINCE)
        for page in self._pages("deleted", deleted_since if isinstance(deleted_since, int) else since):
            for _at, wid in page.changes:
                yield self.tombstone({"id": str(wid)})
            state[STATE_DELETED_SINCE] = page.resume

    def _pages(self, kind: str, since: int) -> t.Iterator[FeedPage]:
        """The pages of ``/worklog/{kind}`` from ``since`` (ms), each ``(id, time)`` change once.

        A full page whose changes all fall on the millisecond it was asked from cannot be paged
        past (asked again, it is the same page): it is handed back with ``stuck`` set, and the
        feed moves on one millisecond instead of asking forever."""
        path = f"/rest/api/{self.api}/worklog/{kind}"
        seen: set[tuple[int, int]] = set()
        while True:
            body, _ = self.client.get(path, {"since": since})
            changes = []
            for change in body.get("values") or []:
                wid, at = _int(change.get("worklogId")), change.get("updatedTime")
                if wid is not None and isinstance(at, int) and (wid, at) not in seen:
                    seen.add((wid, at))
                    changes.append((at, wid))
            until = max(body.get("until") if isinstance(body.get("until"), int) else since, since)
            if body.get("lastPage", True):
                yield FeedPage(sorted(changes), until, until + 1 if body.get("values") else since)
                return
            query = dict(parse_qsl(urlsplit(body.get("nextPage") or "").query))
            following = int(query["since"]) if query.get("since", "").isdigit() else until
            stuck = since if following <= since and not changes else None
            following = since + 1 if stuck is not None else max(following, since)
            yield FeedPage(sorted(changes), until, following, stuck)
            since = following
            seen = {(w, a) for w, a in seen if a >= since}

    def _list(self, page: FeedPage) -> t.Iterator[dict]:
        """``POST /worklog/list`` (1,000 ids a call) for one page's changes, emitted in the feed's
        order. A worklog changed again since the feed listed it (newer than the page) is left for
        the feed to list again at its new time, so records stay in ``updated`` order."""
        for start in range(0, len(page.changes), LIST_LIMIT):
            chunk = page.changes[start:start + LIST_LIMIT]
            body, _ = self.client.post(f"/rest/api/{self.api}/worklog/list", {"ids": [wid for _, wid in chunk]})
            found = {str(w.get("id")): w for w in body or [] if isinstance(w, dict)}
            for at, wid in chunk:
                worklog = found.pop(str(wid), None)
                if worklog is None:
                    continue  # deleted meanwhile, or not visible to this user
                updated = parse_time(worklog.get("updated"))
                if updated is not None and t.cast(int, _ms(updated)) > page.until:
                    continue
                self._issues_at.setdefault(at, set()).add(str(self._record(worklog, updated).get("issueId")))
                self._emitted.add(wid)
                yield worklog

    def _stuck(self, at: int) -> t.Iterator[dict]:
        """More than a page of worklogs changed at one millisecond (a bulk import): the feed cannot
        list them all. The issues of the ones it listed are read whole (``/issue/{id}/worklog``),
        which finds the rest when the import hit those issues; a WARNING says what may be missed."""
        issues = sorted(self._issues_at.get(at, ()))
        extra = 0
        for issue_id, logs in zip(issues, self.client.map(self._issue_worklogs, issues)):
            if isinstance(logs, AccessError):
                continue
            for worklog in logs:
                wid, updated = _int(worklog.get("id")), parse_time(worklog.get("updated"))
                if wid is not None and wid not in self._emitted and _ms(updated) == at:
                    worklog["issueId"] = issue_id
                    self._emitted.add(wid)
                    extra += 1
                    yield self._record(worklog, updated)
        LOGGER.warning("%s: more than a page of worklogs changed at %s: /worklog/updated cannot page within "
                       "one millisecond; %d more were read from their issues (%s), worklogs of that "
                       "millisecond on other issues may be missed (project_keys reads worklogs per issue)",
                       self.name, format_utc(dt.datetime.fromtimestamp(at / 1000, dt.timezone.utc)), extra,
                       ", ".join(issues) or "none")

    def _record(self, worklog: dict, updated: dt.datetime | None) -> dict:
        """The worklog with ``issueId`` (from its ``self`` link if absent) and ``updated`` in UTC."""
        if not worklog.get("issueId"):
            parts = urlsplit(str(worklog.get("self") or "")).path.split("/")
            if "issue" in parts and parts.index("issue") + 1 < len(parts):
                worklog["issueId"] = parts[parts.index("issue") + 1]
        worklog["issueId"] = str(worklog.get("issueId")) if worklog.get("issueId") is not None else None
        worklog["updated"] = format_utc(updated)
        return worklog

    # -- per changed issue (project_keys) ------------------------------------------------
    def _per_issue(self, context: dict | None) -> t.Iterator[dict]:
        state = self.get_context_state(context)
        bookmark = self.get_starting_timestamp(context) if state.get("replication_key_value") else None
        known = IssueWorklogIds(state.get(STATE_IDS))
        search = JqlSearch(self.client, self.jql_clauses(), self.window(context), "worklog,updated",
                           self.settings.page_size)
        batch: list[dict] = []
        for issue, _updated in search:
            batch.append(issue)
            if len(batch) >= self.settings.page_size:
                yield from self._issues(batch, known, bookmark, state)
                batch = []
        yield from self._issues(batch, known, bookmark, state)

    def _issues(self, issues: list[dict], known: IssueWorklogIds, bookmark: dt.datetime | None,
                state: dict) -> t.Iterator[dict]:
        """One search page's issues: their worklogs (read per issue when the search's 20 are not
        all), the changed or new ones emitted, the gone ones tombstoned, the ids remembered."""
        for issue, worklogs in zip(issues, self.client.map(self._worklogs_of, issues)):
            issue_id = str(issue["id"])
            if isinstance(worklogs, AccessError):
                LOGGER.warning("%s: issue %s skipped: %s", self.name, issue.get("key") or issue_id, worklogs)
                continue
            before = known.get(int(issue_id)) if issue_id.isdigit() else set()
            now: set[int] = set()
            for worklog in worklogs:
                wid = _int(worklog.get("id"))
                if wid is not None:
                    now.add(wid)
                updated = parse_time(worklog.get("updated"))
                fresh = bookmark is None or updated is None or updated >= bookmark or wid not in before
                if fresh:
                    worklog["issueId"] = issue_id
                    yield self._record(worklog, updated)
            for gone in sorted(before - now):
                yield self.tombstone({"id": str(gone), "issueId": issue_id})
            if issue_id.isdigit():
                known.put(int(issue_id), now)
                state[STATE_IDS] = known.encode()

    def _worklogs_of(self, issue: dict) -> list[dict] | AccessError:
        """An issue's worklogs: the search's embedded ones when complete, else every page."""
        embedded = (issue.get("fields") or {}).get("worklog") or {}
        logs = embedded.get("worklogs")
        if isinstance(logs, list) and int(embedded.get("total") or 0) <= len(logs):
            return logs
        return self._issue_worklogs(str(issue["id"]))

    def _issue_worklogs(self, issue_id: str) -> list[dict] | AccessError:
        """Every worklog of one issue (``/issue/{id}/worklog``, paged), or the 403/404 refusing them."""
        try:
            return list(self.paginate(f"/rest/api/{self.api}/issue/{issue_id}/worklog", WorklogsPaginator))
        except AccessError as exc:
            return exc


STREAMS = (JiraIssueWorklogsStream,)
