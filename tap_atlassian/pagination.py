"""One paginator per Atlassian paging style.

A paginator is told each parsed page (``advance(body, headers)``) and says which query
parameters fetch the next one (``params``), or that there is none (``finished``). Next
links are reduced to their query (``cursor``, ``start``) and re-issued against our own
base URL, so they work the same behind a context path or the OAuth 2.0 gateway.
"""

from __future__ import annotations

import typing as t
from urllib.parse import parse_qsl, urlsplit

Body = t.Any


class Paginator:
    """Base: a single page; subclasses know where the records and the next page are."""

    records_key: str | None = None  # None: the body itself is the list
    max_limit = 1000

    def __init__(self, params: dict[str, t.Any], page_size: int, max_limit: int | None = None) -> None:
        """Start at the first page with ``params``; ``page_size`` capped by the endpoint's maximum."""
        self.params = dict(params)
        self.page_size = min(page_size, max_limit or self.max_limit)
        self.finished = False
        self.start_params()

    def start_params(self) -> None:
        """Set the first page's paging parameters."""

    def records(self, body: Body) -> list[dict]:
        """The records of one page."""
        if self.records_key is None:
            return body if isinstance(body, list) else []
        return body.get(self.records_key) or []

    def advance(self, body: Body, headers: t.Mapping[str, str]) -> None:  # noqa: ARG002
        """Move to the next page, or finish."""
        self.finished = True


def _next_link_query(link: str | None) -> dict[str, str] | None:
    if not link:
        return None
    return dict(parse_qsl(urlsplit(link).query, keep_blank_values=True))


class CursorLinkPaginator(Paginator):
    """Confluence Cloud v2: ``limit`` + opaque ``cursor`` from ``_links.next`` / ``Link: rel="next"``.

    https://developer.atlassian.com/cloud/confluence/rest/v2/intro/#using
    Also Confluence Cloud v1 search (``/wiki/rest/api/search``), whose next link carries a cursor.
    """

    records_key = "results"
    max_limit = 250

    def start_params(self) -> None:
        """First page: no cursor."""
        self.params["limit"] = self.page_size

    def advance(self, body: Body, headers: t.Mapping[str, str]) -> None:
        """Follow the cursor (body first, then the Link header's rel="next")."""
        link = (body.get("_links") or {}).get("next") or _link_header_next(headers.get("Link", ""))
        query = _next_link_query(link)
        if not query or not self.records(body):
            self.finished = True
            return
        query.pop("limit", None)
        self.params.update(query)


def _link_header_next(value: str) -> str | None:
    for part in value.split(","):
        url, _, rels = part.partition(";")
        if 'rel="next"' in rels.replace(" ", "") or "rel=next" in rels.replace(" ", ""):
            return url.strip().strip("<>")
    return None


class StartLimitLinkPaginator(CursorLinkPaginator):
    """Confluence Server/DC v1: ``start``/``limit``, next page while ``_links.next`` is present.

    https://developer.atlassian.com/server/confluence/pagination-in-the-rest-api/
    Guards CONFSERVER-95396 (``next`` past the end): stops on an empty page.
    """

    max_limit = 200

    def start_params(self) -> None:
        """First page at start 0."""
        self.params["limit"] = self.page_size
        self.params.setdefault("start", 0)

    def advance(self, body: Body, headers: t.Mapping[str, str]) -> None:  # noqa: ARG002  (the paginators' one signature)
        """Next offset from the link, else from the count."""
        results = self.records(body)
        if not results or not (body.get("_links") or {}).get("next"):
            self.finished = True
            return
        query = _next_link_query(body["_links"]["next"]) or {}
        if "cursor" in query:
            self.params["cursor"] = query["cursor"]
            self.params.pop("start", None)
        else:
            self.params["start"] = int(query.get("start", int(self.params.get("start", 0)) + len(results)))


class NextPageTokenPaginator(Paginator):
    """Jira Cloud enhanced search: ``nextPageToken`` until it is absent (or ``isLast``).

    https://developer.atlassian.com/cloud/jira/platform/rest/v3/api-group-issue-search/#api-rest-api-3-search-jql-get
    """

    records_key = "issues"
    max_limit = 5000

    def start_params(self) -> None:
        """First page: no token."""
        self.params["maxResults"] = self.page_size

    def advance(self, body: Body, headers: t.Mapping[str, str]) -> None:  # noqa: ARG002
        """Use the token while there is one."""
        token = body.get("nextPageToken")
        if not token or body.get("isLast") is True:
            self.finished = True
            return
        self.params["nextPageToken"] = token


class StartAtPaginator(Paginator):
    """Jira Server/DC: ``startAt``/``maxResults``/``total`` (the server may cap maxResults).

    https://docs.atlassian.com/software/jira/docs/api/REST/latest/#api/2/search
    """

    records_key = "issues"
    max_limit = 1000

    def start_params(self) -> None:
        """First page at 0."""
        self.params["maxResults"] = self.page_size
        self.params.setdefault("startAt", 0)

    def advance(self, body: Body, headers: t.Mapping[str, str]) -> None:  # noqa: ARG002
        """Advance by what was returned (not what was asked: the server may cap it)."""
        got = len(self.records(body))
        start = int(body.get("startAt", self.params["startAt"])) + got
        total = body.get("total")
        if not got or body.get("isLast") is True or (total is not None and start >= int(total)):
            self.finished = True
            return
        self.params["startAt"] = start


class PageBeanPaginator(StartAtPaginator):
    """Jira ``PageBean*`` (Cloud REST v3, the agile API, changelogs): ``startAt``/``maxResults``/
    ``total``/``isLast``, records under ``values``; subclasses set the endpoint's cap.
    """

    records_key = "values"


class IsLastPagePaginator(Paginator):
    """Jira Service Management: ``start``/``limit``, ``values``, until ``isLastPage``.

    https://developer.atlassian.com/cloud/jira/service-desk/rest/intro/#pagination
    """

    records_key = "values"
    max_limit = 100

    def start_params(self) -> None:
        """First page at 0."""
        self.params["limit"] = self.page_size
        self.params.setdefault("start", 0)

    def advance(self, body: Body, headers: t.Mapping[str, str]) -> None:  # noqa: ARG002
        """Advance by ``size`` (the server may cap ``limit`` silently)."""
        got = len(self.records(body))
        if body.get("isLastPage", True) or not got:
            self.finished = True
            return
        self.params["start"] = int(body.get("start", self.params["start"])) + int(body.get("size", got))


Fetch = t.Callable[[t.Any, int], tuple[list[dict], bool]]


def keyset_pages(
    fetch: Fetch,
    time_of: t.Callable[[dict], t.Any],
    lower: t.Any,  # noqa: ANN401  (whatever time_of gives: a string or a datetime)
    *,
    keyset: bool,
) -> t.Iterator[list[dict]]:
    """Offset-paged searches ordered by time, asked page after page by keyset.

    Server/DC searches (Jira ``startAt``, Confluence CQL ``start``) shift their offsets when
    an already-read record changes and leaves the window, which would skip a record. So each
    next page is asked for as ``time >= <the last record's minute>`` from offset 0, and the
    repeats are dropped by ``(id, time)``; only a minute holding a whole page advances by
    offset. ``fetch(lower, start)`` returns ``(records, last_page)``; ``time_of(record)`` is
    its aware time; ``keyset=False`` (no known zone for the literals) pages by offset only.
    """
    start = 0
    seen: dict[str, t.Any] = {}
    while True:
        records, last_page = fetch(lower, start)
        yield [r for r in records if str(r.get("id")) not in seen or seen[str(r.get("id"))] != time_of(r)]
        if last_page or not records:
            return
        for record in records:
            seen[str(record.get("id"))] = time_of(record)
        last = time_of(records[-1])
        next_lower = last.replace(second=0, microsecond=0) if (keyset and last) else None
        if next_lower is not None and (lower is None or next_lower > lower):
            lower, start = next_lower, 0
            seen = {k: v for k, v in seen.items() if v is None or v >= lower}
        else:
            start += len(records)
