"""Measure the fake's own throughput: `python -m tests.fake_atlassian.measure [--size large]`.

Walks each paging style with one keep-alive client and prints pages/s and records/s (the
numbers in README.md). The fake must never be a benchmark's bottleneck; this shows its ceiling.
"""

from __future__ import annotations

import argparse
import time
from typing import Callable

from .site import FakeAtlassian


def _walk(step: Callable[[object], tuple[int, object]], max_pages: int) -> tuple[int, int, float]:
    t0 = time.perf_counter()
    pages = records = 0
    state: object = None
    while pages < max_pages:
        n, state = step(state)
        pages += 1
        records += n
        if state is None:
            break
    return pages, records, time.perf_counter() - t0


def measure(size: str = "medium", max_pages: int = 50, issues: int | None = None,
            pages: int | None = None) -> list[tuple[str, int, int, float]]:
    out = []
    with FakeAtlassian("cloud", seed=7, size=size, issues=issues, pages=pages) as fake:
        s = fake.client()

        def jql(fields: str | None, limit: int) -> Callable[[object], tuple[int, object]]:
            def step(token: object) -> tuple[int, object]:
                params = {"jql": "updated >= 0 ORDER BY updated ASC", "maxResults": limit}
                if fields:
                    params["fields"] = fields
                if token:
                    params["nextPageToken"] = token
                body = s.get(fake.url + "/rest/api/3/search/jql", params=params, timeout=60).json()
                return len(body["issues"]), body.get("nextPageToken")
            return step

        def v2(state: object) -> tuple[int, object]:
            url = state or fake.confluence_url + "/api/v2/pages?limit=250&body-format=storage"
            body = s.get(str(url), timeout=60).json()
            nxt = body["_links"].get("next")
            return len(body["results"]), (fake.url + nxt) if nxt else None

        def jsm(state: object) -> tuple[int, object]:
            body = s.get(str(state or fake.url + "/rest/servicedeskapi/request?limit=100"), timeout=60).json()
            return len(body["values"]), body["_links"].get("next")

        for name, step in (("jira search/jql fields=*all x100 (first read)", jql("*all", 100)),
                           ("jira search/jql fields=*all x100 (cached)", jql("*all", 100)),
                           ("jira search/jql ids x5000", jql(None, 5000)),
                           ("confluence v2 pages body=storage x250", v2),
                           ("jsm requests x100", jsm)):
            out.append((name, *_walk(step, max_pages)))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--size", default="medium")
    ap.add_argument("--max-pages", type=int, default=50)
    a = ap.parse_args()
    for name, pages, records, secs in measure(a.size, a.max_pages):
        print(f"{name:48} {pages:5d} pages {records:7d} records {pages / secs:8.1f} pages/s {records / secs:9.0f} records/s")


if __name__ == "__main__":
    main()
