"""Jira streams: fields, issues and per-issue children (Cloud REST v3, Server/DC REST v2).

Issue search: Cloud ``GET /rest/api/3/search/jql`` (nextPageToken;
https://developer.atlassian.com/cloud/jira/platform/rest/v3/api-group-issue-search/#api-rest-api-3-search-jql-get),
Server/DC ``GET /rest/api/2/search`` (startAt). Both are ordered ``updated ASC, key ASC``
inside a :class:`~tap_atlassian.windows.Window`. On Server/DC, whose offsets shift when an
already-read issue changes and leaves the window, each next page is asked for by keyset
(``updated >=`` the last issue's minute) and the repeats are dropped by ``(id, updated)``.
Per-issue streams (comments, changelogs) search the same way, then read each changed issue's children
with as few requests as the API allows (:mod:`tap_atlassian.bulk`): comments embedded in the
search (the issue's ``/comment`` paged only when the search truncated them), Cloud changelogs
through ``POST /changelog/bulkfetch`` for many issues at once, Server/DC changelogs through the
issue's ``expand=changelog``; the reads run concurrently through ``ApiClient.map``.
"""

from __future__ import annotations

import itertools
import logging
import re
import typing as t

from tap_atlassian import bulk, custom_fields, progress
from tap_atlassian.deletes import ChildIds, IssueSweep
from tap_atlassian.errors import AccessError, ApiError
from tap_atlassian.lookback import Lookback, late_pairs, read_issues
from tap_atlassian.pagination import (
    NextPageTokenPaginator,
    PageBeanPaginator,
    Paginator,
    StartAtPaginator,
    keyset_pages,
)
from tap_atlassian.projects import existing_project_keys
from tap_atlassian.schemas import schema
from tap_atlassian.slices import Hit, Page, SliceReader
from tap_atlassian.streams.base import AtlassianStream
from tap_atlassian.windows import Window, format_utc, parse_time

if t.TYPE_CHECKING:
    import datetime as dt

    from singer_sdk.helpers.types import Context

    from tap_atlassian.client import ApiClient

LOGGER = logging.getLogger("tap-atlassian")
NEWEST_FIRST = " ORDER BY updated DESC, key DESC"
NEXT_PAGE_TOKEN = re.compile(rb'"nextPageToken"\s*:\s*"')  # a token follows (absent on the last page)


def jira_api(client: ApiClient) -> str:
    """REST version: 3 on Cloud, 2 on Server/DC."""
    return "3" if client.site.is_cloud else "2"


def user_zone(client: ApiClient) -> dt.tzinfo | None:
    """The searching user's zone: ``/rest/api/{3,2}/myself`` ``timeZone`` (cached per run)."""
    return client.user_zone(f"/rest/api/{jira_api(client)}/myself")


def quote_list(values: t.Iterable[str]) -> str:
    """A JQL list of quoted values."""
    return ", ".join('"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"' for v in values)


class JqlSearch:
    """Issues matching ``clauses`` inside a window, in ``updated`` order, each once."""

    order = " ORDER BY updated ASC, key ASC"
    report_total = False  # the records are these issues: tell the stream's progress how many
    sliced = True  # a large window is read as concurrent time slices (tap_atlassian.slices)

    def __init__(
        self, client: ApiClient, clauses: list[str], window: Window, fields: str, page_size: int
    ) -> None:
        """Nothing is requested until iterated."""
        self.client, self.clauses, self.window = client, clauses, window
        self.fields, self.page_size = fields, page_size

    def jql(
        self, lower: dt.datetime | None, upper: dt.datetime | None = None, order: str | None = None
    ) -> str:
        """The JQL of one query: from ``lower`` (None: unbounded) to the window's upper end, or
        to before ``upper`` when given.
        """
        parts = list(self.clauses)
        if lower is not None:
            parts.append(f'updated >= "{self.window.lower_literal(lower)}"')
        if upper is None:
            parts.append(f'updated <= "{self.window.upper_literal()}"')
        else:
            parts.append(f'updated < "{self.window.before_literal(upper)}"')
        return " AND ".join(parts) + (self.order if order is None else order)

    def __iter__(self) -> t.Iterator[Hit]:
        """``(issue, updated)`` pairs; issues outside the window (changed meanwhile) are left out.

        A search of issue times only (``fields=updated``) that gave at most a page is kept for
        the run: the next stream asking exactly the same (same clauses and window, so within
        the same minute: the JSM streams of one desk, read one after another) takes it without
        a round trip, as if it had searched a moment earlier.
        """
        key = f"search {self.page_size} {self.window!r} {self.jql(self.window.query_lower)}"
        shared = self.fields == "updated"
        if shared and key in self.client.cache:
            yield from self.client.cache[key]
            return
        seen: list[Hit] | None = [] if shared else None
        for hit in self._search():
            if seen is not None and len(seen) < self.page_size:
                seen.append(hit)
            else:
                seen = None
            yield hit
        if seen is not None:
            self.client.cache[key] = seen

    def _search(self) -> t.Iterator[Hit]:
        limit = self.client.settings.max_concurrent_requests
        if self.sliced and limit > 1 and self.window.tz is not None:
            yield from SliceReader(self, limit, self._expect)
            return
        if self.report_total and self.client.site.is_cloud:
            self._expect(self.count())
        pages = self._cloud_pages() if self.client.site.is_cloud else self._keyset_pages()
        for issues in pages:
            for issue in issues:
                updated = issue_time(issue)
                if self.window.admits(updated):
                    yield issue, updated

    def _expect(self, total: int | None) -> None:
        if self.report_total:
            progress.expect(self.client, total)

    def count(self) -> int | None:
        """Cloud's estimate of the window's issues (``POST /rest/api/3/search/approximate-count``,
        https://developer.atlassian.com/cloud/jira/platform/rest/v3/api-group-issue-search/#api-rest-api-3-search-approximate-count-post);
        None on Server/DC (whose search pages carry a ``total``) or when refused.
        """
        if not self.client.site.is_cloud:
            return None
        jql = self.jql(self.window.query_lower, order="")
        try:
            body, _ = self.client.post("/rest/api/3/search/approximate-count", {"jql": jql})
        except ApiError:
            return None
        count = body.get("count") if isinstance(body, dict) else None
        return count if isinstance(count, int) else None

    def first_page(
        self, lower: dt.datetime | None, upper: dt.datetime | None, *, newest: bool = False
    ) -> Page:
        """The first page of ``[lower, upper)`` (None: the window's own ends) as one search;
        ``newest``: the window's newest issues, newest first, with their ``updated`` only.
        On Cloud the page is parsed when its hits are asked for (held as bytes until then).
        """
        lower = self.window.query_lower if lower is None else lower
        params = {
            "jql": self.jql(lower, upper, NEWEST_FIRST if newest else None),
            "fields": "updated" if newest else self.fields,
            "maxResults": min(self.page_size, 1000),
        }
        if self.client.site.is_cloud:
            raw, parse = self.client.get_later("/rest/api/3/search/jql", params)
            # A token's key can only be the answer's own: inside text, quotes are escaped.
            return Page(lambda: hits_of(parse()), NEXT_PAGE_TOKEN.search(raw) is not None, None)
        body, _ = self.client.get("/rest/api/2/search", {**params, "startAt": 0})
        hits = hits_of(body)
        total = int(body["total"]) if body.get("total") is not None else None
        return Page(lambda: hits, total is not None and total > len(hits) > 0, total)

    def whole(self, lower: dt.datetime | None, upper: dt.datetime | None) -> t.Iterator[Hit]:
        """Every hit of ``[lower, upper)`` (None: the window's own ends), page after page."""
        window = Window(
            self.window.bookmark if lower is None else lower,
            self.window.upper if upper is None else upper,
            self.window.tz,
        )
        search = JqlSearch(self.client, self.clauses, window, self.fields, self.page_size)
        search.sliced = False
        return (hit for hit in search if upper is None or hit[1] is None or hit[1] < upper)

    def _cloud_pages(self) -> t.Iterator[list[dict]]:
        params = {"jql": self.jql(self.window.query_lower), "fields": self.fields}
        yield from self.client.pages("/rest/api/3/search/jql", NextPageTokenPaginator(params, self.page_size))

    def _keyset_pages(self) -> t.Iterator[list[dict]]:
        def fetch(lower: dt.datetime | None, start: int) -> tuple[list[dict], bool]:
            params = {
                "jql": self.jql(lower),
                "fields": self.fields,
                "startAt": start,
                "maxResults": min(self.page_size, 1000),
            }
            body, _ = self.client.get("/rest/api/2/search", params)
            issues = body.get("issues") or []
            total = body.get("total")
            if self.report_total and start == 0:  # the first answer's total: the whole window
                progress.expect(self.client, total)
            return issues, total is not None and start + len(issues) >= int(total)

        yield from keyset_pages(fetch, issue_time, self.window.query_lower, keyset=self.window.tz is not None)


def hits_of(body: dict) -> list[Hit]:
    """A search answer's issues with their ``updated`` (UTC)."""
    return [(issue, issue_time(issue)) for issue in body.get("issues") or []]


def issue_time(issue: dict) -> dt.datetime | None:
    """An issue's ``fields.updated`` as aware UTC."""
    return parse_time((issue.get("fields") or {}).get("updated"))


class JiraStream(AtlassianStream):
    """A Jira (or JSM) stream."""

    product = "jira"
    oauth_scopes: t.ClassVar[tuple[tuple[str, ...], ...]] = (("read:jira-work",),)

    @property
    def api(self) -> str:
        """REST version of the deployment."""
        return jira_api(self.client)


class JiraFieldsStream(JiraStream):
    """Every system and custom field with its ``schema``: ``/rest/api/{3,2}/field``."""

    name = "jira_fields"
    primary_keys: tuple[str, ...] = ("id",)
    paginator = Paginator

    @property
    def path(self) -> str:  # type: ignore[override]
        """Version-dependent path."""
        return f"/rest/api/{self.api}/field"

    def get_records(self, context: Context | None) -> t.Iterable[dict]:
        """Each field with ``column``: its property under ``jira_issues.fields`` (the id, or
        with ``custom_field_names`` the name given at discovery).
        """
        issues = self._tap.streams.get("jira_issues")
        yield from custom_fields.with_columns(
            list(super().get_records(context)),
            issues.schema if issues else None,
            names=self.settings.custom_field_names,
        )


class JiraIssuesStream(JiraStream):
    """Issues, incremental on ``updated`` (UTC, copied to the top level), ``fields=*all``."""

    name = "jira_issues"
    primary_keys: tuple[str, ...] = ("id",)
    replication_key = "updated"
    is_sorted = True

    @classmethod
    def discover_schema(cls, tap: t.Any) -> dict[str, t.Any]:  # noqa: ANN401
        """The schema, with every custom field typed when ``include_custom_fields`` is on."""
        out = schema(cls.name, tap.sites.deployment)
        if tap.settings.include_custom_fields:
            client = tap.client("jira")
            body, _ = client.get(f"/rest/api/{jira_api(client)}/field")
            declared = out["properties"]["fields"]["properties"]
            declared.update(
                custom_fields.custom_fields(body, names=tap.settings.custom_field_names, reserved=declared)
            )
        return out

    def jql_clauses(self) -> list[str]:
        """Project filter (``project_keys``: those that exist, checked once per run)."""
        keys = existing_project_keys(self.client, self.settings.project_keys)
        return [f"project in ({quote_list(keys)})"] if keys else []

    def window(self, context: Context | None) -> Window:
        """This run's window: from the bookmark (or ``start_date``) to now minus the lag."""
        return Window.build(
            self.get_starting_timestamp(context), self.settings.search_lag_minutes, user_zone(self.client)
        )

    def get_records(self, context: Context | None) -> t.Iterable[dict]:
        """Search, then add the top-level ``updated`` and tidy ``fields``."""
        keep_custom = self.settings.include_custom_fields
        dt_fields = custom_fields.datetime_fields(self.schema["properties"].get("fields", {}))
        window = self.window(context)
        search = JqlSearch(self.client, self.jql_clauses(), window, "*all", self.settings.page_size)
        search.report_total = True
        for issue, updated in self.track(context, window, search):
            fields = issue.get("fields") or {}
            custom_fields.normalise(fields, keep_custom, dt_fields)
            issue["updated"] = format_utc(updated)
            yield issue
        yield from self.track_done()

    # -- nothing lost, nothing stale: the look-back span and the delete sweep, as
    # tap_atlassian.lookback and tap_atlassian.deletes describe them
    sweeps: t.ClassVar[bool] = True  # the id sweep reports deleted issues of this stream
    sweep_key: t.ClassVar[str] = "id"  # the property of a record holding its issue's id
    _sweep: IssueSweep | None = None
    late_fields: t.ClassVar[str | None] = "*all"  # late issues are read in full (None: as searched)

    def sweep_projects(self) -> list[str] | None:
        """The project keys this stream reads (None: all), to tell a moved issue from a deleted one."""
        return list(self.settings.project_keys) or None

    def track(
        self, context: Context | None, window: Window, search: t.Iterable[tuple[dict, dt.datetime | None]]
    ) -> t.Iterator[tuple[dict, dt.datetime | None]]:
        """``search``'s hits preceded by the late issues of the look-back span, each version once.

        Late issues (older than the bookmark, not emitted at that version) come first, oldest
        first, so the bookmark never moves back; a hit already emitted at its version (the
        boundary of the last run) is left out. Every hit is noted for the sweep.
        """
        state = self.get_context_state(context)
        bookmark = parse_time(state.get("replication_key_value"))
        self._lookback = Lookback(state, bookmark, self.settings.lookback_minutes)
        self._sweep = (
            IssueSweep(
                self,
                state,
                self.jql_clauses(),
                self.sweep_projects(),
                Window(bookmark, window.upper, window.tz),
            )
            if self.sweeps
            else None
        )
        span = self._lookback.window(window)
        found: t.Iterable[tuple[dict, dt.datetime | None]] = search
        if span is not None:
            late = late_pairs(
                JqlSearch(self.client, self.jql_clauses(), span, "updated", self.settings.page_size),
                self._lookback,
            )
            found = itertools.chain(self.read_late(late, bookmark), search)
        for issue, updated in found:
            if not self._lookback.is_new(issue.get("id"), updated):
                continue
            self._lookback.emitted(issue.get("id"), updated)
            yield issue, updated

    def record_seen(self, record: dict) -> None:
        """The sweep notes the issue of each record emitted (here, not in :meth:`track`, which a
        concurrent reader runs ahead: the live ids in each STATE follow what was emitted).
        """
        if self._sweep is not None and record.get(self.sweep_key) is not None:
            self._sweep.add(record[self.sweep_key])

    def read_late(
        self, late: list[tuple[dict, dt.datetime | None]], bookmark: dt.datetime | None
    ) -> list[tuple[dict, dt.datetime | None]]:
        """The late hits as the stream reads them (in full with ``late_fields``), oldest first;
        one changed again since (at or after the bookmark) is left to the main search.
        """
        if not late:
            return []
        LOGGER.info("%s: %d issues indexed late (look-back span)", self.name, len(late))
        if self.late_fields is not None:
            issues = read_issues(self.client, [str(issue["id"]) for issue, _ in late], self.late_fields)
            late = [(issue, issue_time(issue)) for issue in issues]
        kept = [(i, u) for i, u in late if u is None or bookmark is None or u < bookmark]
        return sorted(kept, key=lambda pair: (pair[1] or bookmark, int(pair[0]["id"])))

    def gone_when_moved_to(self, project_key: str) -> bool:  # noqa: ARG002
        """Whether an issue moved out of this stream's projects into ``project_key`` is deleted
        for this stream (an issue is not: another shard may read it).
        """
        return False

    def deleted_issue(self, issue_id: str) -> list[dict]:
        """The tombstones the sweep reports for a deleted issue: its own."""
        return [self.tombstone({self.primary_keys[0]: issue_id})]

    def track_done(self) -> t.Iterator[dict]:
        """Write the look-back pairs; sweep when due (tombstones); the state changed."""
        self._lookback.save()
        if self._sweep is not None:
            yield from self._sweep.finish()
        self.state_changed()


class IssueChildStream(JiraIssuesStream):
    """Records read per issue (comments, changelogs) for the issues changed in the window.

    Its own JQL search (``fields=updated``: cheap, and independent of whether ``jira_issues``
    is selected), in ``updated`` order, then ``child_path`` paged for each issue. Each record
    gets ``issueId`` and ``issueUpdated`` (the issue's ``updated``, UTC): the replication key,
    so a second run reads only the children of issues changed since the bookmark (a comment
    added, edited or deleted, or a transition, changes its issue's ``updated``). Resumable
    like ``jira_issues``: a killed run re-reads the issue it was in.
    """

    primary_keys: tuple[str, ...] = ("id",)
    replication_key = "issueUpdated"
    is_sorted = True
    sweeps = False  # the issues' own deletes are jira_issues'
    sweep_key = "issueId"
    late_fields = None  # a late issue's children are read like any changed issue's
    tracks_children: t.ClassVar[bool] = False  # True: children read before and gone now are tombstones
    # True: the bookmark passes an issue read without children too (streams where most have none)
    passes_empty_issues: t.ClassVar[bool] = False
    _known: ChildIds | None = None  # this run's per-issue child ids (with ``tracks_children``)
    child_path: t.ClassVar[str]  # formatted with ``api`` and ``issue`` (the issue id)
    child_paginator: t.ClassVar[type[Paginator]]
    child_params: t.ClassVar[dict[str, t.Any]] = {}
    child_max_limit: t.ClassVar[int | None] = None
    search_fields: t.ClassVar[str] = "updated"  # plus the field that embeds the children, if any
    embedded_in: t.ClassVar[tuple[str, str] | None] = None  # (field, records key) in the search

    @classmethod
    def discover_schema(cls, tap: t.Any) -> dict[str, t.Any]:  # noqa: ANN401
        """The deployment's schema (no custom fields)."""
        return schema(cls.name, tap.sites.deployment)

    def get_records(self, context: Context | None) -> t.Iterable[dict]:
        """Each changed issue's children, oldest issue first; an issue gone meanwhile is a warning.

        The issues' children are read concurrently (:meth:`ApiClient.map`) and handed back in
        the search's order, so records and bookmarks are those of a sequential read.
        """
        window = self.window(context)
        search = JqlSearch(
            self.client, self.jql_clauses(), window, self.search_fields, self.settings.page_size
        )
        known = self._known = (
            ChildIds(self, self.get_context_state(context)) if self.tracks_children else None
        )
        for (issue, updated), children in self.read_all(self.track(context, window, search)):
            issue_id = str(issue["id"])
            if isinstance(children, AccessError):
                LOGGER.warning("%s: issue %s skipped: %s", self.name, issue.get("key") or issue_id, children)
                continue
            for record in children:
                record["issueId"] = issue_id
                record["issueUpdated"] = format_utc(updated)
                yield record
            if not children and self.passes_empty_issues and updated is not None:
                self.advance_bookmark({self.replication_key: format_utc(updated)}, context)
            if known is not None:
                yield from known.reread(issue_id, children, format_utc(updated))
        yield from self.track_done()
        if known is not None:
            known.finish()

    def deleted_issue(self, issue_id: str) -> list[dict]:
        """A deleted issue's children, as tombstones (with ``tracks_children``)."""
        return self._known.parent_gone(issue_id) if self._known is not None else []

    def read_all(self, hits: t.Iterable[Hit]) -> t.Iterator[tuple[Hit, list[dict] | AccessError]]:
        """Each hit with its children, in the search's order, read concurrently."""
        return self.client.map(self._read_children, hits)

    def _read_children(self, found: Hit) -> tuple[Hit, list[dict] | AccessError]:
        """One search hit with its children (those the search embedded when they are whole),
        or the ``AccessError`` that refused them (a worker thread's read: it only requests,
        the stream logs and emits).
        """
        if self.embedded_in is not None:
            children = bulk.embedded(found[0], *self.embedded_in)
            if children is not None:
                return found, children
        try:
            return found, self.children(str(found[0]["id"]))
        except AccessError as exc:
            return found, exc

    def children(self, issue_id: str) -> list[dict]:
        """One issue's records: ``child_path`` paged with ``child_paginator``."""
        path = self.child_path.format(api=self.api, issue=issue_id)
        return list(self.paginate(path, self.child_paginator, self.child_params, self.child_max_limit))


class CommentsPaginator(StartAtPaginator):
    """``PageOfComments``: ``startAt``/``maxResults``/``total``, records under ``comments``."""

    records_key = "comments"
    max_limit = 5000


class JiraIssueCommentsStream(IssueChildStream):
    """Comments: Cloud ``/rest/api/3/issue/{id}/comment`` (ADF bodies), Server ``/rest/api/2/...``.

    https://developer.atlassian.com/cloud/jira/platform/rest/v3/api-group-issue-comments/#api-rest-api-3-issue-issueidorkey-comment-get
    """

    name = "jira_issue_comments"
    tracks_children = True
    sweeps = True  # a deleted issue's comments are tombstones too
    search_fields = "updated,comment"
    embedded_in = ("comment", "comments")
    child_path = "/rest/api/{api}/issue/{issue}/comment"
    child_paginator = CommentsPaginator
    child_params: t.ClassVar[dict[str, t.Any]] = {"orderBy": "created"}


class ChangelogPaginator(PageBeanPaginator):
    """``PageBeanChangelog``: at most 100 a page."""

    max_limit = 100


class JiraIssueChangelogsStream(IssueChildStream):
    """Change histories, oldest first: Cloud ``/rest/api/3/issue/{id}/changelog`` (paged),
    Server/DC ``/rest/api/2/issue/{id}?expand=changelog&fields=updated`` (every history in one
    answer, under ``changelog.histories``). Same records on both.

    https://developer.atlassian.com/cloud/jira/platform/rest/v3/api-group-issues/#api-rest-api-3-issue-issueidorkey-changelog-get
    https://docs.atlassian.com/software/jira/docs/api/REST/9.12.0/#api/2/issue-getIssue
    """

    name = "jira_issue_changelogs"
    child_path = "/rest/api/{api}/issue/{issue}/changelog"
    child_paginator = ChangelogPaginator

    def read_all(self, hits: t.Iterable[Hit]) -> t.Iterator[tuple[Hit, list[dict] | AccessError]]:
        """Cloud: one ``POST /changelog/bulkfetch`` per batch of hits (a search page's worth),
        the batches read concurrently; Server/DC: one expanded issue read per hit.
        """
        if not self.is_cloud:
            return super().read_all(hits)
        size = max(1, min(self.settings.page_size, bulk.BULK_CHANGELOG_ISSUES))
        return itertools.chain.from_iterable(self.client.map(self._bulk_read, bulk.batches(hits, size)))

    def _bulk_read(self, batch: tuple[Hit, ...]) -> list[tuple[Hit, list[dict] | AccessError]]:
        found = bulk.bulk_changelogs(self.client, [str(issue["id"]) for issue, _ in batch])
        return [((issue, updated), found.get(str(issue["id"]), [])) for issue, updated in batch]

    def children(self, issue_id: str) -> list[dict]:
        """Cloud: the paged resource; Server/DC: the issue's ``changelog`` expansion."""
        if self.is_cloud:
            return super().children(issue_id)
        body, _ = self.client.get(
            f"/rest/api/2/issue/{issue_id}", {"expand": "changelog", "fields": "updated"}
        )
        return (body.get("changelog") or {}).get("histories") or []


STREAMS = (JiraFieldsStream, JiraIssuesStream, JiraIssueCommentsStream, JiraIssueChangelogsStream)
