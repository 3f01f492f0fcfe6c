"""How much of the network's latency does the tap hide? Sequential vs concurrent, per stream family.

    python -m benchmarks.latency [--issues 3000] [--pages 300] [--latencies 0 50 200]
                                 [--jsm-requests 50] [--json OUT]

One fake Atlassian Cloud site (tests/fake_atlassian) runs in a process of its own; its
answers are delayed by 0, 50 and 200 ms in turn (`/__fake__/latency`). For each latency and
stream family the tap runs twice, each time in a fresh process with stdout to /dev/null:
`max_concurrent_requests: 1` (sequential) and the default 8. Next to them, in the same run,
`benchmarks/bare_loop.py` reads the `jira_issues` pages with a plain sequential `requests`
loop: the ceiling of any sequential exporter.

Families (what a user selects together):
- `jira_issues` (`fields=*all`, every issue of the site);
- comments + changelogs (`jira_issue_comments`, `jira_issue_changelogs`, every issue);
- `jsm_requests` with its children (comments, SLAs, participants, approvals, feedback), for
  the `--jsm-requests` most recently changed requests (`start_date`): one request per
  request and child is what the API offers, so this family shows the concurrency alone;
- `confluence_pages` + `confluence_page_versions` of one space (`ENG`).

Printed per run: records, sync seconds (the SDK's `sync_duration` of the family's streams:
start-up and discovery left out), records/s over them, wall seconds, the requests the fake
answered, peak RSS (`ru_maxrss`); then, per family and latency, concurrent / sequential.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import multiprocessing as mp
import re
import subprocess
import sys
import tempfile
import typing as t
from pathlib import Path

import requests

from benchmarks.throughput import PYTHON, ROOT, TAP, measure
from tests.tapdriver import select

FAMILIES: dict[str, list[str]] = {
    "jira_issues": ["jira_issues"],
    "comments + changelogs": ["jira_issue_comments", "jira_issue_changelogs"],
    "jsm_requests + children": ["jsm_requests", "jsm_request_comments", "jsm_request_sla",
                                "jsm_request_participants", "jsm_request_approvals", "jsm_request_feedback"],
    "confluence pages + versions": ["confluence_pages", "confluence_page_versions"],
}


def _serve(issues: int, pages: int, jsm_requests: int, conn: t.Any) -> None:
    """Child process: the fake site, until told to stop."""
    sys.path.insert(0, str(ROOT))
    from tests.fake_atlassian import FakeAtlassian

    with FakeAtlassian(flavour="cloud", seed=7, size="small", issues=issues, pages=pages,
                       blogposts=max(1, pages // 10), render_cache=None) as fake:
        desks = {p["key"] for p in fake.data.projects if p["service_desk_id"]}
        recent = sorted((r.updated for r in fake.data.issues() if r.project_key in desks), reverse=True)
        since = recent[min(jsm_requests, len(recent)) - 1]
        conn.send({"url": fake.url, "credentials": fake.credentials, "jsm_since_ms": since})
        conn.recv()


class Site:
    """The fake in a child process (its CPU is not the measured process's)."""

    def __init__(self, issues: int, pages: int, jsm_requests: int) -> None:
        ctx = mp.get_context("spawn")
        self.conn, child = ctx.Pipe()
        self.proc = ctx.Process(target=_serve, args=(issues, pages, jsm_requests, child), daemon=True)

    def __enter__(self) -> dict:
        self.proc.start()
        if not self.conn.poll(300):
            msg = "the fake site did not start"
            raise RuntimeError(msg)
        info = self.conn.recv()
        self.control = f"{info['url']}/__fake__"
        return info

    def __exit__(self, *exc: object) -> None:
        self.conn.send("stop")
        self.proc.join(30)
        if self.proc.is_alive():
            self.proc.terminate()

    def latency(self, ms: int) -> None:
        requests.post(f"{self.control}/latency", json={"ms": ms}, timeout=30).raise_for_status()

    def requests_since_clear(self) -> int:
        count = len(requests.get(f"{self.control}/log", timeout=120).json())
        requests.delete(f"{self.control}/log", timeout=30).raise_for_status()
        return count


def metrics(log: str, streams: list[str]) -> tuple[int, float]:
    """Records and sync seconds the SDK reported for ``streams`` (its METRIC lines)."""
    records, seconds = 0, 0.0
    for m in re.finditer(r"METRIC: (\{.*\})", log):
        metric = json.loads(m.group(1))
        if metric.get("tags", {}).get("stream") not in streams:
            continue
        if metric.get("metric") == "record_count":
            records += int(metric["value"])
        elif metric.get("metric") == "sync_duration":
            seconds += float(metric["value"])
    return records, seconds


def files(site: dict, streams: list[str], extra: dict, workdir: Path) -> tuple[Path, Path]:
    """Config (``extra`` on top) and a catalog selecting ``streams``."""
    creds = site["credentials"]
    config = {"url": site["url"], "deployment": "cloud", "auth_scheme": "basic", "user": creds["user"],
              "api_token": creds["api_token"], "search_lag_minutes": 0, "delete_sweep_hours": 0, **extra}
    cfg = workdir / "config.json"
    cfg.write_text(json.dumps(config))
    cat = workdir / "catalog.json"
    cat.write_text(json.dumps(select(discover(cfg), streams)))
    return cfg, cat


def discover(cfg: Path) -> dict:
    """The tap's catalog for ``cfg``."""
    out = subprocess.run([*TAP, "--config", str(cfg), "--discover"], capture_output=True, text=True,
                         check=True, cwd=ROOT, timeout=300).stdout
    return json.loads(out)


def family_config(name: str, site: dict) -> dict:
    """Each family's scope: JSM the most recently changed requests, Confluence one space."""
    if name.startswith("jsm"):
        since = dt.datetime.fromtimestamp(site["jsm_since_ms"] / 1000, dt.timezone.utc)
        return {"start_date": since.isoformat().replace("+00:00", "Z"), "products": ["jira_service_desk"]}
    if name.startswith("confluence"):
        return {"space_keys": ["ENG"], "products": ["confluence"]}
    return {"products": ["jira_service_desk"]}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--issues", type=int, default=3000)
    parser.add_argument("--pages", type=int, default=300)
    parser.add_argument("--jsm-requests", type=int, default=50)
    parser.add_argument("--latencies", type=int, nargs="+", default=[0, 50, 200])
    parser.add_argument("--families", nargs="+", default=list(FAMILIES), choices=list(FAMILIES))
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    rows: list[dict] = []
    site_ctl = Site(args.issues, args.pages, args.jsm_requests)
    with tempfile.TemporaryDirectory() as tmp, site_ctl as site:
        print(f"fake Cloud site {site['url']}: {args.issues} issues, {args.pages} pages", flush=True)
        prepared = {}
        for name in args.families:
            streams = list(FAMILIES[name])
            workdir = Path(tmp) / re.sub(r"\W+", "_", name)
            workdir.mkdir()
            prepared[name] = (streams, *files(site, streams, family_config(name, site), workdir))
            measure("warm", [*TAP, "--config", str(prepared[name][1]), "--catalog", str(prepared[name][2])])
        site_ctl.requests_since_clear()
        for latency in args.latencies:
            site_ctl.latency(latency)
            for name in args.families:
                streams, cfg, cat = prepared[name]
                for limit in (1, 8):
                    cfg_n = cfg.with_name(f"config-{limit}.json")
                    cfg_n.write_text(json.dumps({**json.loads(cfg.read_text()), "max_concurrent_requests": limit}))
                    run, log = measure("tap", [*TAP, "--config", str(cfg_n), "--catalog", str(cat)])
                    records, seconds = metrics(log, streams)
                    rows.append({"family": name, "latency_ms": latency, "in_flight": limit, "records": records,
                                 "sync_s": seconds, "rate": records / seconds if seconds else 0.0,
                                 "wall_s": run.wall, "requests": site_ctl.requests_since_clear(),
                                 "peak_rss_mb": run.peak_rss_mb})
                    print(_line(rows[-1]), flush=True)
            creds = site["credentials"]
            run, log = measure("bare", [PYTHON, "-m", "benchmarks.bare_loop", site["url"], creds["user"], "100"],
                               env={"BENCH_API_TOKEN": creds["api_token"]})
            records = int(log.strip().splitlines()[-1])
            rows.append({"family": "bare requests loop (jira_issues)", "latency_ms": latency, "in_flight": 1,
                         "records": records, "sync_s": run.wall, "rate": records / run.wall, "wall_s": run.wall,
                         "requests": site_ctl.requests_since_clear(), "peak_rss_mb": run.peak_rss_mb})
            print(_line(rows[-1]), flush=True)
    print()
    print(table(rows))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(rows, indent=2))
    return 0


def _line(row: dict) -> str:
    return (f"{row['family']:<34} {row['latency_ms']:>4} ms  x{row['in_flight']}  {row['records']:>6} records "
            f"{row['sync_s']:>7.2f} s sync {row['rate']:>8.0f} rec/s {row['wall_s']:>7.2f} s wall "
            f"{row['requests']:>6} requests {row['peak_rss_mb']:>6.1f} MB")


def table(rows: list[dict]) -> str:
    """The README's Markdown table: per family and latency, sequential vs 8 in flight."""
    out = ["| family | latency | in flight | records | records/s | vs sequential | requests | peak RSS |",
           "|---|---:|---:|---:|---:|---:|---:|---:|"]
    seq = {(r["family"], r["latency_ms"]): r["rate"] for r in rows if r["in_flight"] == 1}
    for r in rows:
        base = seq.get((r["family"], r["latency_ms"]))
        ratio = f"{r['rate'] / base:.1f}x" if base and r["in_flight"] > 1 else ""
        out.append(f"| {r['family']} | {r['latency_ms']} ms | {r['in_flight']} | {r['records']:,} | "
                   f"{r['rate']:,.0f} | {ratio} | {r['requests']:,} | {r['peak_rss_mb']:.0f} MB |")
    return "\n".join(out)


if __name__ == "__main__":
    sys.exit(main())
