"""Deleted issues and deleted per-issue children become tombstones (docs/SETTINGS.md "Deletes").

Jira has no feed of deleted issues or comments, so the tap compares what it knew with what
is there now:

- :class:`IssueSweep` (``jira_issues``, ``jsm_requests``): at most every
  ``delete_sweep_hours`` it lists every issue id of the projects the stream reads (a search
  asking for ``fields=id`` only: Cloud ``/rest/api/3/search/jql`` gives 5,000 ids a page then,
  Server/DC ``/rest/api/2/search`` 1,000). The ids known live are kept in the stream's state
  as runs of consecutive ids (:class:`~tap_atlassian.state_sets.IdRuns`): the ids of the last
  sweep plus every id emitted since. An id known live that the sweep no longer lists is read
  back directly (Cloud ``POST /rest/api/3/issue/bulkfetch``, Server/DC ``id in (...)``), so a
  lagging search index or an offset shifted by a deletion during the sweep never produces a
  tombstone: only an issue that cannot be read any more is reported deleted. An issue that
  is found in a project the stream does not read (moved out of this ``project_keys`` shard)
  is dropped from the live set without a tombstone: the shard that reads its new project
  emits it live (the move changed its ``updated``); a tombstone from this shard could land
  after that record in a loader shared by both shards and delete a live row. (A request
  moved to a project without a service desk is no request any more: a ``jsm_requests``
  tombstone.)
  The first run of a stream is its own listing (every id it emitted); a state without a
  live set (written by an older tap, or a first run killed before its end) is swept on the
  next run without tombstones.
- :class:`ChildIds` (``jira_issue_comments``): the children read for each issue are kept per
  issue (:class:`~tap_atlassian.state_sets.Groups`, about 5 bytes per comment id); when an
  issue is re-read (deleting a comment changes its issue's ``updated``), the ids read before
  and missing now are tombstones. The stream sweeps issue ids too: every comment of a
  deleted issue becomes a tombstone.

``children`` and a first run's live set are written to the state at the end of the run (a
STATE message after every page carrying a growing id set would cost megabytes of output);
an incremental run writes its live set every page (a few kilobytes).
"""

from __future__ import annotations

import datetime as dt
import logging
import typing as t

from tap_atlassian.lookback import read_issues
from tap_atlassian.pagination import NextPageTokenPaginator, StartAtPaginator
from tap_atlassian.state_sets import Groups, IdRuns, RunsBuilder, as_int
from tap_atlassian.windows import format_utc, parse_time

if t.TYPE_CHECKING:
    from tap_atlassian.streams.base import AtlassianStream
    from tap_atlassian.windows import Window

LOGGER = logging.getLogger("tap-atlassian")
LIVE_KEY = "live_ids"
SWEPT_KEY = "swept_at"
CHILDREN_KEY = "children"
CLOUD_ID_PAGE = 5000  # /search/jql: "max 5000 issues" when only id or key is asked for
SERVER_ID_PAGE = 1000  # jira.search.views.default.max


class IssueSweep:
    """The id sweep of one stream run: collects emitted ids, sweeps when due, yields tombstones.

    ``clauses`` are the stream's JQL restrictions (its projects); ``projects`` the project
    keys the stream reads (None: every project), used to tell a moved issue from a deleted one.
    """

    def __init__(
        self,
        stream: AtlassianStream,
        state: dict,
        clauses: list[str],
        projects: t.Iterable[str] | None,
        window: Window,
    ) -> None:
        """Read the live set from the state; nothing is requested."""
        self.stream, self.state, self.clauses, self.window = stream, state, clauses, window
        self.projects = None if projects is None else {p.upper() for p in projects}
        self.hours = float(stream.settings.delete_sweep_hours or 0)
        self.full_read = window.bookmark is None
        self.live = IdRuns.decode(state.get(LIVE_KEY)) if self.hours > 0 else IdRuns()
        # the ids emitted, as runs: they arrive in `updated` order, and a set of every one
        # would grow with the site (RunsBuilder holds their runs and a bounded buffer)
        self.emitted = RunsBuilder()
        self.count = 0

    def add(self, ident: t.Any) -> None:  # noqa: ANN401
        """An issue emitted live by this run; every page of them, an incremental run writes
        the live set to the state, so a killed run's new ids are not lost.
        """
        number = as_int(ident)
        if self.hours > 0 and number is not None:
            self.emitted.add(number)
            self.count += 1
            if self.count % self.stream.settings.page_size == 0:
                self.checkpoint()

    def checkpoint(self) -> None:
        """The live set so far into the state (incremental runs with a live set only: a first
        run's growing set is written at its end, and a killed first run is swept next).
        """
        if not self.full_read and LIVE_KEY in self.state:
            self.state[LIVE_KEY] = self.live.union(self.emitted.build()).encode()

    def due(self, now: dt.datetime) -> bool:
        """Whether this run sweeps (a first full read is its own listing)."""
        if self.hours <= 0:
            return False
        swept = parse_time(self.state.get(SWEPT_KEY))
        if swept is None or LIVE_KEY not in self.state:
            return not self.full_read
        return now - swept >= dt.timedelta(hours=self.hours)

    def finish(self) -> t.Iterator[dict]:
        """Sweep when due and yield the tombstones; write the live set and the sweep time."""
        if self.hours <= 0:
            self.state.pop(LIVE_KEY, None)
            self.state.pop(SWEPT_KEY, None)
            return
        now = dt.datetime.now(dt.timezone.utc)
        emitted = self.emitted.build()
        if self.due(now):
            had_live = LIVE_KEY in self.state
            swept = IdRuns.from_ids(self.ids())
            missing = [i for i in self.live.difference(swept) if i not in emitted] if had_live else []
            kept, moved = self.verify(missing)
            gone = [i for i in missing if i not in kept and i not in moved]
            LOGGER.info(
                "%s: delete sweep listed %d ids; %d known live ids are gone, %d deleted",
                self.stream.name,
                len(swept),
                len(missing),
                len(gone),
            )
            for number in gone:
                yield from self.stream.deleted_issue(str(number))  # type: ignore[attr-defined]
            self.live = swept.union(kept)
            self.state[SWEPT_KEY] = format_utc(now)
        elif self.full_read and SWEPT_KEY not in self.state:
            self.state[SWEPT_KEY] = format_utc(now)
        self.live = self.live.union(emitted)
        self.state[LIVE_KEY] = self.live.encode()

    def ids(self) -> t.Iterator[int]:
        """Every issue id the stream's projects hold now (``fields=id``, the largest pages)."""
        clauses = [*self.clauses, f'created <= "{self.window.upper_literal()}"']
        params = {"jql": " AND ".join(clauses) + " ORDER BY created ASC, key ASC", "fields": "id"}
        client = self.stream.client
        if client.site.is_cloud:
            pages = client.pages("/rest/api/3/search/jql", NextPageTokenPaginator(params, CLOUD_ID_PAGE))
        else:
            pages = client.pages("/rest/api/2/search", StartAtPaginator(params, SERVER_ID_PAGE))
        for issues in pages:
            for issue in issues:
                number = as_int(issue.get("id"))
                if number is not None:
                    yield number

    def verify(self, missing: list[int]) -> tuple[set[int], set[int]]:
        """Of the ids the sweep did not list: those still readable in this stream's projects
        (kept live), and those readable in another project (moved out of the shard: neither
        kept nor reported deleted).
        """
        kept: set[int] = set()
        moved: set[int] = set()
        if not missing:
            return kept, moved
        for issue in read_issues(self.stream.client, [str(i) for i in missing], "project"):
            number = as_int(issue.get("id"))
            project = str(((issue.get("fields") or {}).get("project") or {}).get("key", "")).upper()
            if number is None:
                continue
            if self.projects is None or project in self.projects:
                kept.add(number)
            elif self.stream.gone_when_moved_to(project):  # type: ignore[attr-defined]
                LOGGER.info(
                    "%s: issue %s moved to project %s, where it is no %s any more: tombstone",
                    self.stream.name,
                    issue.get("key") or number,
                    project,
                    self.stream.name,
                )
            else:
                LOGGER.info(
                    "%s: issue %s moved to project %s, outside this run's projects: no tombstone",
                    self.stream.name,
                    issue.get("key") or number,
                    project,
                )
                moved.add(number)
        return kept, moved


class ChildIds:
    """Children (comments) read per issue: what was read before and is gone now."""

    def __init__(self, stream: AtlassianStream, state: dict) -> None:
        """Read the per-issue child ids from the state."""
        self.stream, self.state = stream, state
        self.enabled = float(stream.settings.delete_sweep_hours or 0) > 0
        self.groups = Groups.decode(state.get(CHILDREN_KEY)) if self.enabled else Groups()

    def reread(self, issue_id: str, records: list[dict], issue_updated: str | None) -> list[dict]:
        """Tombstones of the children of ``issue_id`` read before and not among ``records``."""
        parent = as_int(issue_id)
        if not self.enabled or parent is None:
            return []
        now = {n for r in records if (n := as_int(r.get("id"))) is not None}
        gone = [c for c in self.groups.get(parent) if c not in now]
        self.groups.put(parent, now)
        return [self.stream.tombstone({"id": str(c), "issueId": issue_id}, issue_updated) for c in gone]

    def parent_gone(self, issue_id: str) -> list[dict]:
        """Tombstones of every child of a deleted issue (its group is forgotten)."""
        parent = as_int(issue_id)
        if not self.enabled or parent is None:
            return []
        gone = self.groups.get(parent)
        self.groups.put(parent, [])
        return [self.stream.tombstone({"id": str(c), "issueId": issue_id}) for c in gone]

    def finish(self) -> None:
        """Write the per-issue ids to the state (or drop them when deletes are off)."""
        encoded = self.groups.encode() if self.enabled else ""
        if encoded:
            self.state[CHILDREN_KEY] = encoded
        else:
            self.state.pop(CHILDREN_KEY, None)
