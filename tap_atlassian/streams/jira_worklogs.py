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
  This is :class:`~tap_atlassian.streams.jira.IssueChildStream` (its search, look-back span,
  concurrent reads and :class:`~tap_atlassian.deletes.ChildIds`): a re-read issue's worklogs
  read before and gone now are tombstones, and so are a deleted issue's (the id sweep); of a
  re-read issue only the worklogs changed since the bookmark, or not read before, are emitted.
  https://developer.atlassian.com/cloud/jira/platform/rest/v3/api-group-issue-worklogs/#api-rest-api-3-issue-issueidorkey-worklog-get
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import typing as t
from urllib.parse import parse_qsl, urlsplit

from tap_atlassian.deletes import ChildIds
from tap_atlassian.errors import AccessError
from tap_atlassian.pagination import StartAtPaginator
from tap_atlassian.streams.jira import IssueChildStream, JqlSearch
from tap_atlassian.windows import format_utc, parse_time

if t.TYPE_CHECKING:
    from singer_sdk.helpers.types import Context

LOGGER = logging.getLogger("tap-atlassian")
LIST_LIMIT = 1000  # ids per POST /worklog/list
STATE_DELETED_SINCE = "deleted_since"  # /worklog/deleted position, epoch ms (feed path)


class WorklogsPaginator(StartAtPaginator):
    """``PageOfWorklogs``: ``startAt``/``maxResults`` (default and cap 5,000)/``total``, ``worklogs``."""

    records_key = "worklogs"
    max_limit = 5000


@dataclasses.dataclass
class FeedPage:
    """One page of a worklog change feed: its new ``(time, id)`` changes, oldest first; its
    ``until``; where the next read starts; the millisecond it is stuck on, if any.
    """

    changes: list[tuple[int, int]]
    until: int
    resume: int
    stuck: int | None = None


def _int(value: t.Any) -> int | None:  # noqa: ANN401
    text = str(value)
    return int(text) if text.isdigit() else None


def _last_page(body: dict) -> bool:
    """Whether a feed page is the last: ``lastPage`` (the v3 document), ``isLastPage`` (some Server/DC
    builds, as client libraries record), else no ``nextPage`` and a page short of 1,000.
    """
    for key in ("lastPage", "isLastPage"):
        if isinstance(body.get(key), bool):
            return body[key]
    return not body.get("nextPage") and len(body.get("values") or []) < LIST_LIMIT


def _ms(value: dt.datetime | None) -> int | None:
    return None if value is None else int(value.timestamp() * 1000)


class JiraIssueWorklogsStream(IssueChildStream):
    """Worklogs with ``issueId``, keyed by ``id``, incremental on the worklog's ``updated`` (UTC)."""

    name = "jira_issue_worklogs"
    oauth_scopes = (("read:jira-work", "read:issue-worklog:jira"),)
    primary_keys = ("id",)
    replication_key = "updated"
    tracks_children = True  # project_keys: worklogs gone from a re-read issue are tombstones
    sweeps = True  # project_keys: a deleted issue's worklogs are tombstones too
    search_fields = "updated,worklog"
    embedded_in = ("worklog", "worklogs")  # the search embeds an issue's first 20 and the total
    child_path = "/rest/api/{api}/issue/{issue}/worklog"
    child_paginator = WorklogsPaginator

    @property
    def is_sorted(self) -> bool:  # type: ignore[override]
        """The feed is read oldest change first; per-issue reads are in issue order, not worklog order."""
        return not self.settings.project_keys

    def get_records(self, context: Context | None) -> t.Iterable[dict]:
        """The feed (whole site) or the changed issues' worklogs (``project_keys``)."""
        if self.settings.project_keys:
            yield from self._per_issue(context)
        else:
            yield from self._feed(context)

    # -- the site-wide change feed -------------------------------------------------------
    def _feed(self, context: Context | None) -> t.Iterator[dict]:
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
        feed moves on one millisecond instead of asking forever.
        """
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
            if _last_page(body):
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
        the feed to list again at its new time, so records stay in ``updated`` order.
        """
        for start in range(0, len(page.changes), LIST_LIMIT):
            chunk = page.changes[start : start + LIST_LIMIT]
            body, _ = self.client.post(
                f"/rest/api/{self.api}/worklog/list", {"ids": [wid for _, wid in chunk]}
            )
            found = {str(w.get("id")): w for w in body or [] if isinstance(w, dict)}
            for at, wid in chunk:
                worklog = found.pop(str(wid), None)
                if worklog is None:
                    continue  # deleted meanwhile, or not visible to this user
                updated = parse_time(worklog.get("updated"))
                if updated is not None and t.cast("int", _ms(updated)) > page.until:
                    continue
                self._issues_at.setdefault(at, set()).add(str(self._record(worklog, updated).get("issueId")))
                self._emitted.add(wid)
                yield worklog

    def _stuck(self, at: int) -> t.Iterator[dict]:
        """More than a page of worklogs changed at one millisecond (a bulk import): the feed cannot
        list them all. The issues of the ones it listed are read whole (``/issue/{id}/worklog``),
        which finds the rest when the import hit those issues; a WARNING says what may be missed.
        """
        issues = sorted(self._issues_at.get(at, ()))
        extra = 0
        for issue_id, logs in zip(issues, self.client.map(self._issue_worklogs, issues), strict=True):
            if isinstance(logs, AccessError):
                continue
            for worklog in logs:
                wid, updated = _int(worklog.get("id")), parse_time(worklog.get("updated"))
                if wid is not None and wid not in self._emitted and _ms(updated) == at:
                    worklog["issueId"] = issue_id
                    self._emitted.add(wid)
                    extra += 1
                    yield self._record(worklog, updated)
        LOGGER.warning(
            "%s: more than a page of worklogs changed at %s: /worklog/updated cannot page within "
            "one millisecond; %d more were read from their issues (%s), worklogs of that "
            "millisecond on other issues may be missed (project_keys reads worklogs per issue)",
            self.name,
            format_utc(dt.datetime.fromtimestamp(at / 1000, dt.timezone.utc)),
            extra,
            ", ".join(issues) or "none",
        )

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
    def _per_issue(self, context: Context | None) -> t.Iterator[dict]:
        """The changed issues' worklogs: those changed since the bookmark or not read before."""
        state = self.get_context_state(context)
        bookmark = parse_time(state.get("replication_key_value"))
        window = self.window(context)
        search = JqlSearch(
            self.client, self.jql_clauses(), window, self.search_fields, self.settings.page_size
        )
        known = self._known = ChildIds(self, state)
        for (issue, updated), worklogs in self.read_all(self.track(context, window, search)):
            issue_id = str(issue["id"])
            if isinstance(worklogs, AccessError):
                LOGGER.warning("%s: issue %s skipped: %s", self.name, issue.get("key") or issue_id, worklogs)
                continue
            before = set(known.groups.get(int(issue_id))) if issue_id.isdigit() else set()
            for worklog in worklogs:
                changed = parse_time(worklog.get("updated"))
                if (
                    bookmark is None
                    or changed is None
                    or changed >= bookmark
                    or _int(worklog.get("id")) not in before
                ):
                    worklog["issueId"] = issue_id
                    yield self._record(worklog, changed)
            yield from known.reread(issue_id, worklogs, format_utc(updated))
        yield from self.track_done()
        known.finish()

    def _issue_worklogs(self, issue_id: str) -> list[dict] | AccessError:
        """Every worklog of one issue (``/issue/{id}/worklog``, paged), or the 403/404 refusing them."""
        try:
            return self.children(issue_id)
        except AccessError as exc:
            return exc


STREAMS = (JiraIssueWorklogsStream,)
