"""The yardstick: the least a Jira Cloud issue export can do, with `requests` + `orjson`.

    BENCH_API_TOKEN=... python -m benchmarks.bare_loop URL USER PAGE_SIZE

Reads `/rest/api/3/search/jql` with `fields=*all`, following `nextPageToken`, and writes one
JSON line per issue to stdout; prints the number of issues to stderr. No schema, no
validation, no state: only HTTP, JSON decode and JSON encode.
"""

from __future__ import annotations

import os
import sys

import orjson
import requests


def main(url: str, user: str, page_size: int) -> int:
    session = requests.Session()
    session.auth = (user, os.environ["BENCH_API_TOKEN"])
    session.headers["Accept"] = "application/json"
    params = {"jql": "updated >= 0 ORDER BY updated ASC, key ASC", "fields": "*all", "maxResults": page_size}
    out = sys.stdout.buffer
    count = 0
    while True:
        resp = session.get(f"{url}/rest/api/3/search/jql", params=params, timeout=300)
        resp.raise_for_status()
        body = orjson.loads(resp.content)
        for issue in body["issues"]:
            out.write(orjson.dumps(issue) + b"\n")
            count += 1
        token = body.get("nextPageToken")
        if not token:
            break
        params["nextPageToken"] = token
    out.flush()
    print(count, file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2], int(sys.argv[3])))
