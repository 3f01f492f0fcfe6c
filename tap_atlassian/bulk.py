"""Fewer requests for per-issue children: what the search already embeds, and bulk reads.

- Embedded: a JQL search with ``fields=comment`` carries each issue's comments as a
  ``PageOfComments`` (``comments``, ``startAt``, ``maxResults``, ``total``); the search caps
  how many it embeds (Cloud: 20), so :func:`embedded` returns the list only when it is whole
  (``total`` is not more than what came back) and the stream pages the issue's own
  ``/comment`` resource otherwise.
  https://developer.atlassian.com/cloud/jira/platform/rest/v3/api-group-issue-search/#api-rest-api-3-search-jql-get
- Bulk: Cloud ``POST /rest/api/3/changelog/bulkfetch`` reads the change histories of up to
  1,000 issues in one paged answer (``nextPageToken``), "sorted by changelog date and issue
  IDs"; :func:`bulk_changelogs` gathers them per issue, oldest first, as the per-issue
  ``/changelog`` resource lists them.
  https://developer.atlassian.com/cloud/jira/platform/rest/v3/api-group-issues/#api-rest-api-3-changelog-bulkfetch-post
"""

from __future__ import annotations

import itertools
import typing as t

from tap_atlassian.windows import parse_time

if t.TYPE_CHECKING:
    from tap_atlassian.client import ApiClient

T = t.TypeVar("T")
BULK_CHANGELOG_ISSUES = 1000  # issueIdsOrKeys maxItems
BULK_CHANGELOG_PAGE = 1000  # histories per answer (maxResults: default 1,000, at most 10,000)


def embedded(issue: t.Mapping[str, t.Any], field: str, records_key: str) -> list[dict] | None:
    """The children a search embedded under ``fields[field][records_key]``, or None when they
    are absent or truncated (``total`` above what came back, or no ``total`` at all).
    """
    page = (issue.get("fields") or {}).get(field)
    if not isinstance(page, dict) or not isinstance(page.get(records_key), list):
        return None
    records = page[records_key]
    total = page.get("total")
    if not isinstance(total, int) or total > len(records) or page.get("startAt", 0):
        return None
    return records


def bulk_changelogs(client: ApiClient, issue_ids: t.Sequence[str]) -> dict[str, list[dict]]:
    """Every change history of ``issue_ids`` (at most 1,000), per issue id, oldest first.

    An issue that is gone (deleted between the search and this read) is simply absent from
    Atlassian's answer, and gets no entry here.
    """
    out: dict[str, list[dict]] = {}
    body_in: dict[str, t.Any] = {"issueIdsOrKeys": list(issue_ids), "maxResults": BULK_CHANGELOG_PAGE}
    while True:
        body, _ = client.post("/rest/api/3/changelog/bulkfetch", body_in)
        for entry in body.get("issueChangeLogs") or []:
            out.setdefault(str(entry.get("issueId")), []).extend(entry.get("changeHistories") or [])
        token = body.get("nextPageToken")
        if not token:
            break
        body_in = {**body_in, "nextPageToken": token}
    for histories in out.values():
        histories.sort(key=_history_order)
    return out


def batches(items: t.Iterable[T], size: int) -> t.Iterator[tuple[T, ...]]:
    """``items`` in tuples of ``size`` (the last may be shorter); ``itertools.batched`` of 3.12."""
    it = iter(items)
    while chunk := tuple(itertools.islice(it, size)):
        yield chunk


def _history_order(history: dict) -> tuple[t.Any, int]:
    created = parse_time(history.get("created"))
    ident = str(history.get("id") or "")
    return (created.timestamp() if created else 0.0, int(ident) if ident.isdigit() else 0)
