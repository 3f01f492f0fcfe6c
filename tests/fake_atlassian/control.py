"""The control API: `fake.control.*` in Python, and the same under `/__fake__/` over HTTP
(no auth; for the standalone server). See README.md for the endpoint list."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import orjson

from .faults import Fault
from .http import FakeHTTPError, FakeResponse

if TYPE_CHECKING:
    from .http import FakeRequest
    from .site import FakeAtlassian

QUIRKS = ("confserver-95396", "jira-short-pages")


class Control:
    def __init__(self, fake: FakeAtlassian) -> None:
        self.fake = fake
        self._revoked: set[str] = set()

    # ----------------------------------------------------------------- records
    def touch(self, kind: str, ident: str | int, at: str | int | None = None) -> dict:
        """Bump a record: kind "issue" (updated := at or now; JSM request too), "page" or
        "blogpost" (new version, modified := at or now). `at`: ISO-8601 (naive = UTC) or epoch ms."""
        d = self.fake.data
        ref = d.touch_issue(ident, at) if kind in ("issue", "request") else d.touch_page(ident, at)
        return ref.__dict__

    def add(self, kind: str, container: str, at: str | int | None = None) -> dict:
        """Add an issue to project `container` (key), or a page / blog post to space `container` (key)."""
        d = self.fake.data
        ref = d.add_issue(container, at) if kind in ("issue", "request") else d.add_page(
            container, at, "blogpost" if kind == "blogpost" else "page")
        return ref.__dict__

    def delete(self, kind: str, ident: str | int) -> None:
        d = self.fake.data
        if kind in ("issue", "request"):
            d.delete_issue(ident)
        elif kind == "comment":  # a Jira issue comment (tests/fake_atlassian/jira_deletes.py)
            self.fake.jira_deletes.delete_comment(ident)  # type: ignore[attr-defined]
        else:
            d.delete_page(ident)

    # ----------------------------------------------------------------- faults
    def inject(self, path_pattern: str, kind: str, times: int | None = 1, *, method: str | None = None,
               retry_after: int | None = 1, ms: int = 0) -> Fault:
        """Answer the next `times` requests whose `path?query` matches the regex with a fault.

        kind: "429" (Retry-After + X-RateLimit-Reset), "503" (Retry-After), "500", "403", "404",
        "unauthorized" (401, as an expired session/token), "non_json" (200 HTML),
        "truncated" (full Content-Length, half the body, connection closed), "latency" (ms).
        times=None: until clear_faults().
        """
        return self.fake.faults.add(Fault(path_pattern, kind, times, method, retry_after, ms))

    def rename_field(self, field_id: str, name: str) -> None:
        """Rename a Jira field from now on (`/rest/api/{2,3}/field` `name` and clause name)."""
        self.fake.jira.field_names[field_id] = name  # type: ignore[attr-defined]

    def clear_faults(self) -> None:
        self.fake.faults.clear()

    def set_latency(self, ms: int) -> None:
        self.fake.latency_ms = ms

    def set_index_lag(self, seconds: float) -> None:
        """Search indexes lag behind writes: JQL and CQL searches do not see an issue or page
        touched/added less than `seconds` ago (direct reads, v2 listings and JSM do)."""
        self.fake.index_lag_ms = int(seconds * 1000)

    def quirk(self, name: str, on: bool = True) -> None:
        """Turn a known Atlassian behaviour on or off. "confserver-95396": Confluence DC offset
        listings keep `_links.next` after the last page (then answer empty pages).
        "jira-short-pages": Cloud `/search/jql` returns half of `maxResults` when fields are
        asked for, with a `nextPageToken` (Jira returns fewer issues when they are large)."""
        if name not in QUIRKS:
            raise ValueError(f"quirk must be one of {QUIRKS}")
        (self.fake.quirks.add if on else self.fake.quirks.discard)(name)

    # ----------------------------------------------------------------- sessions / credentials
    def expire_sessions(self) -> int:
        """Drop every cookie session (SSO logins must start again). Returns how many."""
        with self.fake._session_lock:
            n = len(self.fake.sessions)
            self.fake.sessions.clear()
        return n

    def revoke(self, kind: str) -> None:
        """Refuse a core credential kind ("basic" or "pat") until restore()."""
        self._revoked.add(kind)

    def restore(self, kind: str | None = None) -> None:
        if kind is None:
            self._revoked.clear()
        else:
            self._revoked.discard(kind)

    def revoked(self, kind: str) -> bool:
        return kind in self._revoked

    # ----------------------------------------------------------------- log
    def read_log(self) -> list[dict]:
        return self.fake.log.as_dicts()

    def clear_log(self) -> None:
        self.fake.log.clear()

    # ----------------------------------------------------------------- HTTP
    def http(self, req: FakeRequest) -> FakeResponse:
        """`/__fake__/...`: JSON in, JSON out; errors are 400 {"error": ...}."""
        name = req.path[len("/__fake__/"):].strip("/")
        try:
            body: dict[str, Any] = req.json() or {}
            out = self._http(req.method, name, body)
        except FakeHTTPError as e:
            return e.response()
        except (KeyError, ValueError, TypeError) as e:
            return FakeResponse(400, json={"error": f"{type(e).__name__}: {e}"})
        if out is None:
            return FakeResponse(404, json={"error": f"no control endpoint {req.method} {req.path}"})
        return FakeResponse(body=orjson.dumps(out, default=str))

    def _http(self, method: str, name: str, b: dict[str, Any]) -> Any:
        f = self.fake
        if (method, name) == ("GET", "info"):
            return {"flavour": f.flavour, "url": f.url, "jira_url": f.jira_url, "confluence_url": f.confluence_url,
                    "seed": f.seed, "size": f.data.size, "issues": f.data.issue_count(),
                    "pages": f.data.page_count(), "blogposts": f.data.page_count("blogpost"),
                    "jira_time_zone": f.data.jira_tz_name,
                    "confluence_time_zone": f.data.confluence_tz_name}
        if (method, name) == ("GET", "log"):
            return self.read_log()
        if (method, name) == ("DELETE", "log"):
            self.clear_log()
            return {"ok": True}
        if method != "POST" and not (method == "DELETE" and name == "faults"):
            return None
        actions = {
            "touch": lambda: self.touch(b["kind"], b["id"], b.get("at")),
            "add": lambda: self.add(b["kind"], b["container"], b.get("at")),
            "delete": lambda: (self.delete(b["kind"], b["id"]), {"ok": True})[1],
            "faults": lambda: (self.clear_faults(), {"ok": True})[1] if method == "DELETE" else
            self.inject(b["path"], str(b["kind"]), b.get("times", 1), method=b.get("method"),
                        retry_after=b.get("retry_after", 1), ms=int(b.get("ms", 0))).__dict__,
            "latency": lambda: (self.set_latency(int(b["ms"])), {"ok": True})[1],
            "rename-field": lambda: (self.rename_field(b["id"], b["name"]), {"ok": True})[1],
            "index-lag": lambda: (self.set_index_lag(float(b["seconds"])), {"ok": True})[1],
            "expire-sessions": lambda: {"expired": self.expire_sessions()},
            "revoke": lambda: (self.revoke(b["kind"]), {"ok": True})[1],
            "quirk": lambda: (self.quirk(b["name"], bool(b.get("on", True))), {"ok": True})[1],
            "restore": lambda: (self.restore(b.get("kind")), {"ok": True})[1],
        }
        action = actions.get(name)
        return action() if action else None
