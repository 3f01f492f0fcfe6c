"""Jira reads of many issues at once, and what a search embeds of each issue's children.

- Cloud `POST /rest/api/{3,2}/changelog/bulkfetch` (opId `getBulkChangelogs`, request
  `BulkChangelogRequestBean`, answer `BulkChangelogResponseBean`): `issueIdsOrKeys`
  (required, 1..1,000, else 400), `fieldIds` (at most 10: only histories touching those
  fields), `maxResults` (1..10,000, default 1,000: histories per answer), `nextPageToken`;
  any other key is a 400 (`additionalProperties: false`). The histories are "sorted by
  changelog date and issue IDs, starting from the oldest changelog and smallest issue ID";
  each answer groups its slice per issue (`issueChangeLogs: [{issueId, changeHistories}]`);
  ids or keys of no issue are left out.
- Searches (`/search/jql`, Server `/search`) embed at most `EMBEDDED_COMMENTS` (20) comments
  of an issue in its `comment` field, with the issue's whole `total` (the search embeds "at
  most 20 comments"; the issue's own `/comment` resource pages them all). Seeded issues have
  4-6 comments; `fake.jira_bulk.add_comments(issue, n)` gives one issue more (its `updated`
  moves), so a test can see the search truncate them.
"""

from __future__ import annotations

import itertools
import re
import threading
from typing import TYPE_CHECKING, Any

import orjson

from .http import FakeResponse
from .jira_objects import changelog as build_changelog
from .paging import decode_cursor, encode_cursor
from .site import error_400
from .timefmt import jira_time, parse_instant

if TYPE_CHECKING:
    from collections.abc import Callable

    from .http import FakeRequest
    from .site import FakeAtlassian

EMBEDDED_COMMENTS = 20
BULK_CHANGELOG_MAX_ISSUES = 1000
BEAN_KEYS = {"fieldIds", "issueIdsOrKeys", "maxResults", "nextPageToken"}


class JiraBulk:
    """The changelog bulk fetch, extra comments on an issue, and searches that cap them."""

    def __init__(self, fake: FakeAtlassian) -> None:
        self.fake = fake
        self.store = fake.data
        self.extra: dict[int, list[tuple[str, int]]] = {}  # issue index -> (comment id, created ms) added
        self._ids = itertools.count(5_000_000)
        self._lock = threading.Lock()
        builder = fake.jira.builder  # type: ignore[attr-defined]
        build = builder.issue

        def issue(idx: int, api: str) -> dict:
            fields = build(idx, api)
            added = self.extra.get(idx)
            if added:
                page = fields["comment"]
                template, tz, url = page["comments"][0], self.store.jira_tz, page["self"]
                comments = page["comments"] + [
                    {**template, "self": f"{url}/{cid}", "id": cid, "created": jira_time(ms, tz),
                     "updated": jira_time(ms, tz)} for cid, ms in added]
                fields["comment"] = {**page, "comments": comments, "maxResults": len(comments),
                                     "total": len(comments)}
            return fields

        builder.issue = issue

    # ----------------------------------------------------------------- control
    def add_comments(self, ident: str | int, n: int, at: str | int | None = None) -> list[str]:
        """Add `n` comments to an issue (its `updated` := `at` or now); returns their ids."""
        store = self.fake.data
        with self._lock:
            ref = store.touch_issue(ident, at)
            added = [(str(next(self._ids)), ref.updated - (n - k) * 1000) for k in range(n)]
            self.extra.setdefault(ref.idx, []).extend(added)
            store._i_ver[ref.idx] += 1  # render the issue again
        return [cid for cid, _ in added]

    # ----------------------------------------------------------------- searches
    def capped(self, handler: Callable[[FakeRequest], FakeResponse]) -> Callable[[FakeRequest], FakeResponse]:
        """A search handler whose embedded `comment` pages hold at most 20 comments."""

        def serve(req: FakeRequest) -> FakeResponse:
            resp = handler(req)
            if resp.status != 200 or not self.extra:  # seeded issues have fewer than 20
                return resp
            body = orjson.loads(resp.payload())
            for issue in body.get("issues") or []:
                page = (issue.get("fields") or {}).get("comment")
                if isinstance(page, dict) and len(page.get("comments") or []) > EMBEDDED_COMMENTS:
                    page["comments"] = page["comments"][:EMBEDDED_COMMENTS]
                    page["maxResults"] = EMBEDDED_COMMENTS
            return FakeResponse(json=body)

        return serve

    # ----------------------------------------------------------------- bulk fetch
    def changelog_bulkfetch(self, req: FakeRequest) -> FakeResponse:
        """`POST /rest/api/3/changelog/bulkfetch`."""
        bean = req.json()
        if not isinstance(bean, dict):
            raise error_400(["The request body is not a JSON object."])
        unknown = set(bean) - BEAN_KEYS
        if unknown:
            raise error_400([f"Unrecognized field \"{sorted(unknown)[0]}\" (class BulkChangelogRequestBean), "
                             "not marked as ignorable"])
        ids = bean.get("issueIdsOrKeys")
        if not isinstance(ids, list) or not 1 <= len(ids) <= BULK_CHANGELOG_MAX_ISSUES:
            raise error_400([f"issueIdsOrKeys must hold 1 to {BULK_CHANGELOG_MAX_ISSUES} issue ids or keys."])
        fields = bean.get("fieldIds") or []
        if len(fields) > 10:
            raise error_400(["fieldIds must hold at most 10 field ids."])
        limit = bean.get("maxResults", 1000)
        if not isinstance(limit, int) or not 1 <= limit <= 10000:
            raise error_400(["maxResults must be between 1 and 10000."])
        idxs = sorted({i for ident in ids if (i := self.store._issue_idx(str(ident))) is not None})
        flat = []
        builder = self.fake.jira.builder  # type: ignore[attr-defined]
        for idx in idxs:
            for history in build_changelog(builder, idx):
                if not fields or any(item.get("fieldId") in fields for item in history["items"]):
                    flat.append((parse_instant(history["created"]), 10000 + idx, history))
        flat.sort(key=lambda row: (row[0], row[1], int(row[2]["id"])))
        start = 0
        token = bean.get("nextPageToken")
        key = ",".join(map(str, idxs)) + "|" + ",".join(fields)
        if token:
            state = decode_cursor(token, lambda m: error_400([m]))
            if state.get("q") != key:
                raise error_400(["The nextPageToken does not belong to this request."])
            start = int(state.get("o", 0))
        page = flat[start:start + limit]
        grouped: dict[int, list[dict]] = {}
        for _, issue_id, history in page:
            grouped.setdefault(issue_id, []).append(history)
        out: dict[str, Any] = {"issueChangeLogs": [{"issueId": str(i), "changeHistories": h}
                                                   for i, h in sorted(grouped.items())]}
        if start + limit < len(flat):
            out["nextPageToken"] = encode_cursor(q=key, o=start + limit)
        return FakeResponse(json=out)


def install(fake: FakeAtlassian) -> None:
    b = JiraBulk(fake)
    fake.jira_bulk = b  # type: ignore[attr-defined]
    j = fake.jira  # type: ignore[attr-defined]
    p = re.escape(fake.jira_context)
    for method in ("GET", "POST"):
        if fake.flavour == "cloud":
            fake.route(method, p + r"/rest/api/(?:3|2|latest)/search/jql", b.capped(j.search_jql),
                       host="main", product="jira")
        else:
            fake.route(method, p + r"/rest/api/(?:2|latest)/search", b.capped(j.search_server),
                       host="main", product="jira")
    if fake.flavour == "cloud":
        fake.route("POST", r"/rest/api/(?:3|2|latest)/changelog/bulkfetch", b.changelog_bulkfetch,
                   host="main", product="jira")
