"""Jira deletes and bulk reads: deleted comments, `POST /rest/api/3/issue/bulkfetch`, JQL `id`.

- `fake.jira_deletes.delete_comment(comment_id)` (also `control.delete("comment", id)`): the
  comment is gone from its issue's `comment` field and `/issue/{id}/comment`; its issue's
  `updated` moves to now (Jira records the deletion on the issue).
- `fake.jira_deletes.strict_ids = True` (Server/DC): a search whose `id in (...)` names an
  issue that does not exist answers Jira's strict-validation 400, `validateQuery=false` or not.
- `fake.jira_deletes.move_issue(id, "SWB")`: Jira's Move: same id, a new key in the other
  project, `updated` now.
- Cloud `POST /rest/api/{3,2}/issue/bulkfetch` (opId `bulkFetchIssues`, request
  `BulkFetchIssueRequestBean`, answer `BulkIssueResults`): `issueIdsOrKeys` (required, at most
  100, else 400), `fields` (default `*navigable`), `expand`, `fieldsByKeys`, `properties`; any
  other key is a 400 (the bean has `additionalProperties: false`). Issues come back in
  ascending id order; ids or keys that match no issue (deleted, never existed) are left out,
  and `issueErrors` is empty ("Issues which aren't found ... won't be returned in this list").
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from .http import FakeResponse
from .paging import join_json
from .site import error_400

if TYPE_CHECKING:
    from .http import FakeRequest
    from .site import FakeAtlassian

BULK_MAX = 100
BEAN_KEYS = {"expand", "fields", "fieldsByKeys", "issueIdsOrKeys", "properties"}


class JiraDeletes:
    """Deleted comments (filtered out of every issue build) and the bulk fetch route."""

    def __init__(self, fake: FakeAtlassian) -> None:
        self.fake = fake
        self.deleted_comments: set[str] = set()
        self.strict_ids = False  # Server/DC: `id in (...)` with an unknown id answers 400 anyway
        self.plain_search = fake.jira.search_server  # type: ignore[attr-defined]
        builder = fake.jira.builder  # type: ignore[attr-defined]
        build = builder.issue

        def issue(idx: int, api: str) -> dict:
            fields = build(idx, api)
            if self.deleted_comments:
                page = fields["comment"]
                kept = [c for c in page["comments"] if c["id"] not in self.deleted_comments]
                if len(kept) != len(page["comments"]):
                    fields["comment"] = {**page, "comments": kept, "maxResults": len(kept), "total": len(kept)}
            return fields

        builder.issue = issue

    def delete_comment(self, comment_id: str | int) -> dict:
        """Delete a Jira issue comment; its issue's `updated` becomes now. Returns the issue ref."""
        store = self.fake.data
        cid = str(comment_id)
        issue_id = 10000 + int(cid) // 10  # the fake's comment ids are issue index * 10 + n
        ref = store.issue_ref(issue_id)
        comments = [] if ref is None else self.fake.jira.builder.issue(ref.idx, "2")["comment"]["comments"]  # type: ignore[attr-defined]
        if not any(c["id"] == cid for c in comments):
            raise KeyError(f"no comment {comment_id}")
        self.deleted_comments.add(cid)
        return store.touch_issue(issue_id).__dict__

    def move_issue(self, ident: str | int, project_key: str) -> dict:
        """Move an issue to another project (same id, a new key there, `updated` now), as Jira's
        Move does. Returns the issue ref."""
        store = self.fake.data
        with store.lock:
            idx = store._issue_idx(ident)
            project = store.project(project_key)
            if idx is None or project is None:
                raise KeyError(f"no issue {ident} or project {project_key}")
            store._i_proj[idx] = project["idx"]
            store._i_num[idx] = store._next_num[project["idx"]]
            store._next_num[project["idx"]] += 1
            store._extra_keys[store.issue_key(idx)] = idx
            return store.touch_issue(10000 + idx).__dict__

    def server_search(self, req: FakeRequest) -> FakeResponse:
        """Server/DC search; with `strict_ids` an `id in (...)` naming an issue that does not
        exist is Jira's strict-validation 400 even with `validateQuery=false`."""
        if self.strict_ids:
            text = (req.json() or {}).get("jql", "") if req.method == "POST" else req.arg("jql", "")
            for group in re.findall(r"\b(?:id|issue|key|issuekey)\s+in\s*\(([^)]*)\)", text or "", re.I):
                for value in (v.strip().strip('"') for v in group.split(",")):
                    if value and self.fake.data.issue_ref(value) is None:
                        raise error_400([f"An issue with key '{value}' does not exist for field 'id'."])
        return self.plain_search(req)

    def bulkfetch(self, req: FakeRequest) -> FakeResponse:
        body = req.json()
        if not isinstance(body, dict):
            raise error_400(["The request body is not a JSON object."])
        unknown = sorted(set(body) - BEAN_KEYS)
        if unknown:
            raise error_400([f"Unrecognized field \"{unknown[0]}\"."])
        ids = body.get("issueIdsOrKeys")
        if not isinstance(ids, list) or not all(isinstance(i, str) for i in ids):
            raise error_400(["issueIdsOrKeys must be a list of issue ids or keys."])
        if not ids:
            raise error_400(["At least one issue ID or key must be provided."])
        if len(ids) > BULK_MAX:
            raise error_400([f"The number of issues requested ({len(ids)}) exceeds the limit of {BULK_MAX}."])
        raw_fields = body.get("fields")
        if raw_fields is not None and not (isinstance(raw_fields, list) and all(isinstance(f, str) for f in raw_fields)):
            raise error_400(["fields must be a list of strings."])
        jira = self.fake.jira  # type: ignore[attr-defined]
        fields = jira.fields_spec(raw_fields or ["*navigable"])
        store = self.fake.data
        found = sorted({ref.idx for i in ids if (ref := store.issue_ref(i)) is not None})
        api = "3" if "/api/3/" in req.path else "2"
        items = join_json([jira.issue_bytes(i, api, fields) for i in found])
        return FakeResponse(body=b'{"issues":' + items + b',"issueErrors":[]}')  # BulkIssueResults: no expand


def install(fake: FakeAtlassian) -> None:
    deletes = JiraDeletes(fake)
    fake.jira_deletes = deletes  # type: ignore[attr-defined]
    if fake.flavour == "cloud":
        fake.route("POST", re.escape(fake.jira_context) + r"/rest/api/(?:3|2|latest)/issue/bulkfetch",
                   deletes.bulkfetch, host="main", product="jira")
    else:  # every route to the Server search (jira.py's, and any module's wrapping it later) checks ids
        deletes.plain_search = fake.jira.search_server  # type: ignore[attr-defined]
        fake.jira.search_server = deletes.server_search  # type: ignore[attr-defined]
        for method in ("GET", "POST"):
            fake.route(method, re.escape(fake.jira_context) + r"/rest/api/(?:2|latest)/search",
                       deletes.server_search, host="main", product="jira")

