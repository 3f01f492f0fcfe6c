"""Confluence JSON objects: v2 `PageBulk`/`SpaceBulk`, v1 content/space/user/search results."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable

import orjson

from .data import PAGE, rng_for, words
from .timefmt import iso_offset, iso_z

if TYPE_CHECKING:
    from .data import Store


class PageBuilder:
    def __init__(self, store: Store, *, cloud: bool) -> None:
        self.store = store
        self.cloud = cloud
        self.labels_of: Callable[[int], list[dict]] | None = None  # set by confluence_extra
        self.labels_expand_limit = 200  # labels held by a `metadata.labels` expansion (then: /label)

    def title(self, idx: int) -> str:
        s = self.store
        if idx < len(s.spaces):
            return f"{s.spaces[s._p_space[idx]]['name']} Home"
        prefix = "" if s._p_kind[idx] == PAGE else "News: "
        return prefix + words(rng_for(s.seed, "title", idx), 3).title() + f" {idx}"

    def is_page(self, idx: int) -> bool:
        return self.store._p_kind[idx] == PAGE

    def _paras(self, idx: int) -> list[str]:
        rng = rng_for(self.store.seed, "body", idx, self.store._p_version[idx])
        return [words(rng, 20 + rng.randrange(30)).capitalize() + "." for _ in range(3 + rng.randrange(4))]

    def storage(self, idx: int) -> str:
        return "".join(f"<p>{p}</p>" for p in self._paras(idx))

    def adf(self, idx: int) -> str:
        doc = {"type": "doc", "version": 1, "content": [
            {"type": "paragraph", "content": [{"type": "text", "text": p}]} for p in self._paras(idx)]}
        return orjson.dumps(doc).decode()

    def author(self, idx: int, salt: str = "author") -> dict:
        s = self.store
        return s.users[rng_for(s.seed, salt, idx).randrange(len(s.users))]

    # ----------------------------------------------------------------- v2
    def v2_space(self, sp: dict, description_format: str | None = None, icon: bool = False) -> dict:
        """`SpaceBulk`; `description` and `icon` only when asked for (`description-format`,
        `include-icon`), as the v2 API does."""
        s = self.store
        d: dict[str, Any] = {
            "id": sp["id"], "key": sp["key"], "name": sp["name"], "type": "global", "status": "current",
            "authorId": s.users[sp["idx"] % len(s.users)]["account_id"], "createdAt": iso_z(sp["created"]),
            "homepageId": s.page_id(sp["homepage_idx"]), "currentActiveAlias": sp["key"]}
        if description_format in ("plain", "view"):
            text = f"The {sp['name']} space."
            d["description"] = {description_format: {
                "representation": description_format, "value": text if description_format == "plain" else f"<p>{text}</p>"}}
        if icon:
            d["icon"] = {"path": "/wiki/download/attachments/{0}/{0}.png".format(sp["id"]),
                         "apiDownloadLink": f"/wiki/rest/api/space/{sp['key']}/icon"}
        d["_links"] = {"webui": f"/spaces/{sp['key']}"}
        return d

    def v2_page(self, idx: int, body_format: str | None) -> dict:
        s = self.store
        pid = s.page_id(idx)
        parent = s.page_parent_idx(idx)
        author = self.author(idx)["account_id"]
        body: dict[str, Any] = {}
        if body_format == "storage":
            body = {"storage": {"representation": "storage", "value": self.storage(idx)}}
        elif body_format == "atlas_doc_format":
            body = {"atlas_doc_format": {"representation": "atlas_doc_format", "value": self.adf(idx)}}
        sp = s.spaces[s._p_space[idx]]
        page: dict[str, Any] = {} if parent is None else {"parentType": "page", "parentId": s.page_id(parent)}
        return {
            **page, "spaceId": sp["id"], "ownerId": author, "lastOwnerId": None,
            "createdAt": iso_z(s._p_created[idx]), "authorId": author, "position": idx % 1000,
            "version": {"number": s._p_version[idx], "message": "", "minorEdit": False,
                        "authorId": self.author(idx, f"editor{s._p_version[idx]}")["account_id"],
                        "createdAt": iso_z(s._p_modified[idx])},
            "body": body, "status": "current", "title": self.title(idx), "id": pid,
            "_links": {"editui": f"/pages/resumedraft.action?draftId={pid}",
                       "webui": f"/spaces/{sp['key']}/pages/{pid}/{self.title(idx).replace(' ', '+')}",
                       "tinyui": f"/x/{pid}"},
        }

    def v2_blogpost(self, idx: int, body_format: str | None) -> dict:
        """`BlogPostBulk`: a page's fields less the tree (parent, position, owners)."""
        page = self.v2_page(idx, body_format)
        keep = ("id", "status", "title", "spaceId", "authorId", "createdAt", "version", "body")
        out = {k: page[k] for k in keep}
        day = iso_z(self.store._p_created[idx])[:10].replace("-", "/")
        key = self.store.spaces[self.store._p_space[idx]]["key"]
        out["_links"] = {"webui": f"/spaces/{key}/blog/{day}/{page['id']}", "editui": page["_links"]["editui"],
                         "tinyui": page["_links"]["tinyui"]}
        return out

    # ----------------------------------------------------------------- v1
    def v1_user(self, u: dict, current: bool = False) -> dict:
        s = self.store
        d: dict[str, Any] = {"type": "known", "username": u["name"], "userKey": u["key"],
                             "profilePicture": {"path": "/images/icons/profilepics/default.svg",
                                                "width": 48, "height": 48, "isDefault": True},
                             "displayName": u["display"], "_links": {"self": f"{self.store.confluence_url}/rest/api/user?key={u['key']}"}}
        if self.cloud:
            d = {"type": "known", "accountId": u["account_id"], "accountType": "atlassian",
                 "email": u["email"], "publicName": u["display"], "displayName": u["display"],
                 "profilePicture": d["profilePicture"], "isExternalCollaborator": False,
                 "_links": {"self": f"{s.confluence_url}/rest/api/user?accountId={u['account_id']}"}}
        if current:
            d["timeZone"] = s.confluence_tz_name
        return d

    def v1_space(self, sp: dict) -> dict:
        return {"id": int(sp["id"]), "key": sp["key"], "name": sp["name"], "type": "global",
                "status": "current", "_expandable": {"settings": f"/rest/api/space/{sp['key']}/settings",
                                                     "metadata": "", "operations": "", "lookAndFeel": "",
                                                     "identifiers": "", "permissions": "", "icon": "",
                                                     "description": "", "theme": "", "history": "",
                                                     "homepage": f"/rest/api/content/{self.store.page_id(sp['homepage_idx'])}"},
                "_links": {"webui": f"/spaces/{sp['key']}" if self.cloud else f"/display/{sp['key']}",
                           "self": f"{self.store.confluence_url}/rest/api/space/{sp['key']}"}}

    def v1_content(self, idx: int, expand: set[str]) -> dict:
        s = self.store
        pid = s.page_id(idx)
        sp = s.spaces[s._p_space[idx]]
        d: dict[str, Any] = {"id": pid, "type": "page" if self.is_page(idx) else "blogpost", "status": "current",
                             "title": self.title(idx)}
        expandable: dict[str, str] = {"childTypes": "", "schedulePublishDate": ""}
        if "operations" in expand:
            d["operations"] = [{"operation": op, "targetType": "page"} for op in ("read", "update", "delete")]
        else:
            expandable["operations"] = ""
        if self.cloud:
            d["macroRenderedOutput"] = {}
        if "space" in expand:
            d["space"] = self.v1_space(sp)
        else:
            expandable["space"] = f"/rest/api/space/{sp['key']}"
        if any(e.startswith("history") for e in expand):
            d["history"] = {"latest": True, "createdBy": self.v1_user(self.author(idx)),
                            "createdDate": self.when(s._p_created[idx]),
                            "_expandable": {"lastUpdated": "", "contributors": "", "previousVersion": ""}}
            if "history.lastUpdated" in expand:
                d["history"]["lastUpdated"] = self._version(idx)
        else:
            expandable["history"] = f"/rest/api/content/{pid}/history"
        if "version" in expand:
            d["version"] = self._version(idx)
        else:
            expandable["version"] = ""
        if "body.storage" in expand:
            d["body"] = {"storage": {"value": self.storage(idx), "representation": "storage",
                                     "_expandable": {"content": f"/rest/api/content/{pid}"}},
                         "_expandable": {"editor": "", "view": "", "export_view": "", "styled_view": "",
                                         "anonymous_export_view": ""}}
        else:
            expandable["body"] = ""
        if "metadata.labels" in expand and self.labels_of is not None:
            labels = [{"prefix": x["prefix"], "name": x["name"], "id": x["id"], "label": x["name"]}
                      for x in self.labels_of(idx)][:self.labels_expand_limit]
            d["metadata"] = {"labels": {"results": labels, "start": 0, "limit": self.labels_expand_limit,
                                        "size": len(labels),
                                        "_links": {"self": f"{s.confluence_url}/rest/api/content/{pid}/label"}}}
        else:
            expandable["metadata"] = ""
        if "ancestors" in expand:  # root first, as Confluence lists them ([] for a top-level page)
            chain, parent = [], s.page_parent_idx(idx) if self.is_page(idx) else None
            while parent is not None:
                chain.append(parent)
                parent = s.page_parent_idx(parent)
            d["ancestors"] = [{"id": s.page_id(a), "type": "page", "status": "current", "title": self.title(a),
                               "_links": {"self": f"{s.confluence_url}/rest/api/content/{s.page_id(a)}"},
                               "_expandable": {"space": f"/rest/api/space/{sp['key']}", "version": ""}}
                              for a in reversed(chain)]
        else:
            expandable["ancestors"] = ""
        expandable.update(children=f"/rest/api/content/{pid}/child", container=f"/rest/api/space/{sp['key']}",
                          descendants=f"/rest/api/content/{pid}/descendant",
                          restrictions=f"/rest/api/content/{pid}/restriction/byOperation")
        d["extensions"] = {"position": idx % 1000}
        d["_expandable"] = expandable
        d["_links"] = {"webui": f"/spaces/{sp['key']}/pages/{pid}" if self.cloud else f"/pages/viewpage.action?pageId={pid}",
                       "editui" if self.cloud else "edit": f"/pages/resumedraft.action?draftId={pid}", "tinyui": f"/x/{pid}",
                       "self": f"{s.confluence_url}/rest/api/content/{pid}"}
        return d

    def when(self, ms: int) -> str:
        """v1 times: Cloud in UTC (`...Z`), Server/DC with the site zone's offset."""
        return iso_z(ms) if self.cloud else iso_offset(ms, self.store.confluence_tz)

    def _version(self, idx: int) -> dict:
        s = self.store
        n = s._p_version[idx]
        return {"by": self.v1_user(self.author(idx, f"editor{n}")), "when": self.when(s._p_modified[idx]),
                "friendlyWhen": "a while ago", "message": "", "number": n, "minorEdit": False,
                "_expandable": {"collaborators": "", "content": f"/rest/api/content/{s.page_id(idx)}"},
                "_links": {"self": f"{s.confluence_url}/rest/experimental/content/{s.page_id(idx)}/version/{n}"}}

    def search_result(self, idx: int, content: dict) -> dict:
        s = self.store
        sp = s.spaces[s._p_space[idx]]
        return {"content": content, "title": content["title"], "excerpt": "",
                "url": content["_links"]["webui"],
                "resultGlobalContainer": {"title": sp["name"], "displayUrl": f"/spaces/{sp['key']}"},
                "breadcrumbs": [], "entityType": "content", "iconCssClass": "aui-icon content-type-page",
                "lastModified": iso_z(s._p_modified[idx]), "friendlyLastModified": "a while ago", "score": 0.0}
