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

import datetime as dt
import logging
import typing as t
from urllib.parse import parse_qsl, urlsplit

import requests

from tap_atlassian.errors import AccessError, ApiError, RetryableError
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
        yield from self._updated(since)
        deleted_since = state.get(STATE_DELETED_SINCE)
        deleted_since = deleted_since if isinstance(deleted_since, int) else since
        for wid, _at, resume in self._changes("deleted", deleted_since):
            if wid is None:
                state[STATE_DELETED_SINCE] = resume
            else:
                yield self.tombstone({"id": str(wid)})

    def _updated(self, since: int) -> t.Iterator[dict]:
        """Worklogs changed at or after ``since`` (ms), oldest change first, each version once."""
        page: list[tuple[int, int]] = []
        page_until = since
        for wid, at, until in self._changes("updated", since):
            if wid is not None:
                page.append((at, wid))
                page_until = until
                if len(page) < LIST_LIMIT:
                    continue
            yield from self._list(sorted(page), page_until)
            page = []
        yield from self._list(sorted(page), page_until)

    def _changes(self, kind: str, since: int) -> t.Iterator[tuple[int | None, int, int]]:
        """``(worklog id, change time, its page's until)`` of one feed, each (id, time) once, and
        after each page ``(None, until, resume)``: where the next read starts (past ``until``
        after the last page, whose changes were all listed).

        A full page whose changes all fall on the millisecond it was asked from cannot be paged
        past (asked again, it is the same page): the feed moves on one millisecond with a
        warning naming what may be missed, instead of asking forever."""
        path = f"/rest/api/{self.api}/worklog/{kind}"
        seen: set[tuple[int, int]] = set()
        while True:
            body, _ = self.client.get(path, {"since": since})
            fresh = 0
            for change in body.get("values") or []:
                wid, at = _int(change.get("worklogId")), change.get("updatedTime")
                if wid is None or not isinstance(at, int) or (wid, at) in seen:
                    continue
                seen.add((wid, at))
                fresh += 1
                yield wid, at, int(body.get("until") or at)
            until = max(body.get("until") if isinstance(body.get("until"), int) else since, since)
            if body.get("lastPage", True):
                yield None, until, until + 1 if body.get("values") else since
                return
            query = dict(parse_qsl(urlsplit(body.get("nextPage") or "").query))
            following = int(query["since"]) if query.get("since", "").isdigit() else until
            yield None, until, max(following, since)
            if following <= since and not fresh:
                LOGGER.warning("%s: more than a page of worklogs changed at %s (%s feed): /worklog/%s cannot "
                               "page within one millisecond, so the rest of them may be missed; moving on "
                               "(project_keys reads worklogs per issue instead)", self.name,
                               format_utc(dt.datetime.fromtimestamp(since / 1000, dt.timezone.utc)), kind, kind)
                following = since + 1
            since = max(following, since)
            seen = {(w, a) for w, a in seen if a >= since}

    def _list(self, changes: list[tuple[int, int]], until: int) -> t.Iterator[dict]:
        """``POST /worklog/list`` for one page of changes, emitted in the feed's order. A worklog
        changed again since the feed listed it (newer than the page) is left for the feed to
        list again at its new time, so records stay in ``updated`` order."""
        if not changes:
            return
        body = self._post(f"/rest/api/{self.api}/worklog/list", {"ids": [wid for _, wid in changes]})
        found = {str(w.get("id")): w for w in body or [] if isinstance(w, dict)}
        for _at, wid in changes:
            worklog = found.pop(str(wid), None)
            if worklog is None:
                continue  # deleted meanwhile, or not visible to this user
            updated = parse_time(worklog.get("updated"))
            if updated is not None and _ms(updated) > until:  # type: ignore[operator]
                continue
            yield self._record(worklog, updated)

    def _post(self, path: str, body: dict) -> t.Any:  # noqa: ANN401
        """POST a JSON body with the client's session, retries and error rules."""
        client = self.client
        client.auth.prepare(client.session)
        request = requests.Request("POST", client.url(path), json=body,
                                   headers={"Content-Type": "application/json"})
        try:
            response = client._send_with_retries(request)  # noqa: SLF001 (ApiClient has no POST yet)
        except RetryableError as exc:
            msg = f"{exc} (gave up after {self.settings.max_retries + 1} tries)"
            raise ApiError(msg) from None
        return client._parse(response)  # noqa: SLF001

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
        try:
            return list(self.paginate(f"/rest/api/{self.api}/issue/{issue['id']}/worklog", WorklogsPaginator))
        except AccessError as exc:
            return exc


STREAMS = (JiraIssueWorklogsStream,)
