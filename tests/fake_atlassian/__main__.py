"""`python -m tests.fake_atlassian --flavour cloud|server --port N --seed S --size small|large
--latency-ms L`: serve until interrupted, after printing base URLs and demo credentials."""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading

from .data import SIZES
from .site import FakeAtlassian


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m tests.fake_atlassian", description=__doc__)
    ap.add_argument("--flavour", choices=["cloud", "server"], default="cloud")
    ap.add_argument("--port", type=int, default=0, help="0: a free port")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--size", choices=sorted(SIZES), default="small")
    ap.add_argument("--latency-ms", type=int, default=0)
    ap.add_argument("--issues", type=int, default=None, help="override the size's issue count")
    ap.add_argument("--pages", type=int, default=None, help="override the size's page count")
    ap.add_argument("--blogposts", type=int, default=None, help="override the size's blog post count")
    ap.add_argument("--jira-context", default="")
    ap.add_argument("--confluence-context", default="")
    ap.add_argument("--confluence-host", choices=["same", "separate"], default="same")
    ap.add_argument("--json", action="store_true", help="print one JSON line instead of text")
    a = ap.parse_args(argv)
    fake = FakeAtlassian(a.flavour, a.seed, a.size, latency_ms=a.latency_ms, issues=a.issues, pages=a.pages, blogposts=a.blogposts,
                         jira_context=a.jira_context, confluence_context=a.confluence_context,
                         confluence_host=a.confluence_host, port=a.port)
    fake.start()
    info = {"url": fake.url, "jira_url": fake.jira_url, "confluence_url": fake.confluence_url,
            "control_url": fake.url + "/__fake__/", "credentials": fake.credentials,
            "issues": fake.data.issue_count(), "pages": fake.data.page_count()}
    if a.json:
        print(json.dumps(info), flush=True)
    else:
        print(f"fake Atlassian ({a.flavour}, seed {a.seed}, size {a.size}) is up", flush=True)
        for k in ("url", "jira_url", "confluence_url", "control_url"):
            print(f"  {k:15} {info[k]}")
        print("  demo credentials (fake, for this local server only):")
        for k, v in fake.credentials.items():
            print(f"    {k:22} {v}")
        print(f"  {info['issues']} issues, {info['pages']} pages; Ctrl-C to stop", flush=True)
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    try:
        done.wait()
    except KeyboardInterrupt:
        pass
    fake.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
