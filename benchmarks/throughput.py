"""How fast is the tap's `jira_issues` sync, next to the fastest loop that reads the same pages?

    python -m benchmarks.throughput [--issues 20000] [--latency-ms 0] [--rounds 2]
                                    [--page-size 100] [--memory-check | --memory-only] [--json OUT]

The fake Atlassian Cloud site (tests/fake_atlassian) runs in a process of its own with N
realistic issues (about 15 KB each as `fields=*all` returns them, 20+ custom fields). Then,
after one untimed pass of each (the fake caches what it serves), alternating for --rounds
rounds, each in a fresh process:

1. tap:  `tap-atlassian --config C --catalog K` with only `jira_issues` selected,
         `include_custom_fields: true`, stdout to /dev/null;
2. bare: `benchmarks/bare_loop.py`, `requests` + `orjson` over the same `/rest/api/3/search/jql`
         pages (`fields=*all`), one JSON line per issue to /dev/null.

For each it prints records/s, wall seconds, CPU seconds (user + system of that process
alone: its own cost, however busy the machine or the fake) and peak RSS (the child's
`ru_maxrss`), and the ratios tap/bare of records/s and of records per CPU second (best round
of each). `--latency-ms 50` adds 50 ms to every
answer of the fake. `--memory-check` also syncs N/10 issues with the tap and compares its
peak RSS with the run at N (a flat profile: a 10x larger site costs no more memory);
`--memory-only` runs that check alone, with fakes that render as they serve (200,000 issues
would otherwise keep 4 GB of rendered issues in the fake).
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import typing as t
from pathlib import Path

from tests.tapdriver import select

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable


def _serve(issues: int, latency_ms: int, conn: t.Any, cache: bool = True) -> None:  # noqa: FBT001, FBT002
    """Child process: run the fake until told to stop."""
    sys.path.insert(0, str(ROOT))
    from tests.fake_atlassian import FakeAtlassian

    # render_cache=None: the fake keeps the JSON of every issue it rendered (about 20 KB
    # each), so after the warm-up pass it copies bytes instead of rendering and is not the
    # bottleneck of either contender (by default it keeps the last 4,096).
    with FakeAtlassian(flavour="cloud", seed=7, size="small", issues=issues, latency_ms=latency_ms,
                       **({"render_cache": None} if cache else {})) as fake:
        conn.send({"url": fake.url, "credentials": fake.credentials, "issues": fake.data.issue_count()})
        conn.recv()


class Fake:
    """The fake site in a child process, so its CPU is not the measured process's."""

    def __init__(self, issues: int, latency_ms: int, cache: bool = True) -> None:  # noqa: FBT001, FBT002
        ctx = mp.get_context("spawn")
        self.conn, child = ctx.Pipe()
        self.proc = ctx.Process(target=_serve, args=(issues, latency_ms, child, cache), daemon=True)

    def __enter__(self) -> dict:
        self.proc.start()
        if not self.conn.poll(300):
            msg = "the fake site did not start"
            raise RuntimeError(msg)
        return self.conn.recv()

    def __exit__(self, *exc: object) -> None:
        self.conn.send("stop")
        self.proc.join(30)
        if self.proc.is_alive():
            self.proc.terminate()


class Run(t.NamedTuple):
    name: str
    records: int
    wall: float
    cpu: float  # the contender's own user + system seconds
    peak_rss_mb: float

    @property
    def rate(self) -> float:
        return self.records / self.wall if self.wall else 0.0

    @property
    def cpu_rate(self) -> float:
        """Records per CPU second of the contender: its own cost, whatever the server's speed."""
        return self.records / self.cpu if self.cpu else 0.0


def measure(name: str, cmd: list[str], env: dict[str, str] | None = None) -> tuple[Run, str]:
    """Run cmd with stdout to /dev/null; wall time and the child's own peak RSS (wait4)."""
    with open(os.devnull, "wb") as devnull, tempfile.TemporaryFile("w+") as err:
        started = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=devnull, stderr=err, env={**os.environ, **(env or {})}, cwd=ROOT)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - started
        proc.returncode = os.waitstatus_to_exitcode(status)
        err.seek(0)
        log = err.read()
    if proc.returncode != 0:
        msg = f"{name} exited {proc.returncode}:\n" + "\n".join(log.splitlines()[-25:])
        raise RuntimeError(msg)
    return Run(name, 0, wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024), log


def tap_records(log: str, stream: str = "jira_issues") -> int:
    """Records the SDK counted for the stream (its `record_count` METRIC lines)."""
    total = 0
    for m in re.finditer(r"METRIC: (\{.*\})", log):
        metric = json.loads(m.group(1))
        if metric.get("metric") == "record_count" and metric.get("tags", {}).get("stream") == stream:
            total += int(metric["value"])
    return total


def tap_files(site: dict, page_size: int, workdir: Path, **extra: t.Any) -> tuple[Path, Path]:
    """Config (``extra`` on top) and a catalog that selects `jira_issues` only."""
    creds = site["credentials"]
    config = {
        "url": site["url"], "deployment": "cloud", "auth_scheme": "basic",
        "user": creds["user"], "api_token": creds["api_token"],
        "products": ["jira_service_desk"], "include_custom_fields": True,
        "search_lag_minutes": 0, "page_size": page_size, **extra,
    }
    cfg = workdir / "config.json"
    cfg.write_text(json.dumps(config))
    out = subprocess.run([*TAP, "--config", str(cfg), "--discover"], capture_output=True, text=True,
                         check=True, cwd=ROOT, timeout=300).stdout
    cat = workdir / "catalog.json"
    cat.write_text(json.dumps(select(json.loads(out), ["jira_issues"])))
    return cfg, cat


TAP = [PYTHON, "-c", "from tap_atlassian.tap import TapAtlassian; TapAtlassian.cli()"]


def run_tap(cfg: Path, cat: Path) -> Run:
    run, log = measure("tap", [*TAP, "--config", str(cfg), "--catalog", str(cat)])
    return run._replace(records=tap_records(log))


def run_bare(site: dict, page_size: int) -> Run:
    creds = site["credentials"]
    run, log = measure("bare", [PYTHON, "-m", "benchmarks.bare_loop", site["url"], creds["user"],
                                str(page_size)], env={"BENCH_API_TOKEN": creds["api_token"]})
    return run._replace(records=int(log.strip().splitlines()[-1]))


def profile(py_spy: str, out: Path, cfg: Path, cat: Path, top: int = 12) -> dict[str, float]:
    """py-spy one tap run; print the functions that hold the most samples themselves."""
    out.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run([py_spy, "record", "-r", "250", "-f", "raw", "-o", str(out), "--",
                    *TAP, "--config", str(cfg), "--catalog", str(cat)],
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True, cwd=ROOT)
    own: dict[str, int] = {}
    samples = 0
    for line in out.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        samples += int(count)
        leaf = stack.split(";")[-1]
        own[leaf] = own.get(leaf, 0) + int(count)
    ranked = sorted(own.items(), key=lambda kv: -kv[1])[:top]
    print(f"py-spy: {samples} samples of one tap run ({out}); functions by own samples "
          f"(C calls such as orjson.loads count to the Python line that calls them):")
    for frame, n in ranked:
        print(f"  {n / samples:6.1%}  {frame}")
    return {frame: n / samples for frame, n in ranked}


def report(runs: list[Run], expected: int) -> dict:
    print(f"{'run':<6} {'records':>8} {'wall s':>8} {'records/s':>10} {'CPU s':>7} {'records/CPU s':>14} "
          f"{'peak RSS MB':>12}")
    for r in runs:
        print(f"{r.name:<6} {r.records:>8} {r.wall:>8.2f} {r.rate:>10.0f} {r.cpu:>7.2f} {r.cpu_rate:>14.0f} "
              f"{r.peak_rss_mb:>12.1f}")
    best = {name: max((r for r in runs if r.name == name), key=lambda r: r.rate) for name in ("tap", "bare")}
    ratio = best["tap"].rate / best["bare"].rate
    cpu_ratio = best["tap"].cpu_rate / best["bare"].cpu_rate
    print(f"tap/bare records/s (best of each): {ratio:.2f}; records per CPU second: {cpu_ratio:.2f}")
    short = [r for r in runs if r.records != expected]
    if short:
        print(f"WARNING: expected {expected} records, got {[r.records for r in short]}")
    return {"runs": [r._asdict() | {"rate": r.rate, "cpu_rate": r.cpu_rate} for r in runs],
            "ratio": ratio, "cpu_ratio": cpu_ratio}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--issues", type=int, default=20_000)
    parser.add_argument("--latency-ms", type=int, default=0)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--page-size", type=int, default=100)
    parser.add_argument("--memory-check", action="store_true")
    parser.add_argument("--memory-only", action="store_true",
                        help="only the memory check: one tap sync of N/10 and one of N issues, no bare "
                             "loop, no warm-up, the fake rendering as it goes (for N = 200,000)")
    parser.add_argument("--no-delete-sweep", action="store_true",
                        help="memory check with delete_sweep_hours 0 (a control: the sweep keeps the "
                             "emitted ids as runs of consecutive ids)")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    parser.add_argument("--profile", type=Path, metavar="OUT",
                        help="also profile one tap run with py-spy (on PATH, or --py-spy) into "
                             "OUT (folded stacks) and print where its time goes")
    parser.add_argument("--py-spy", default=shutil.which("py-spy") or "py-spy")
    args = parser.parse_args(argv)

    result: dict = {"issues": args.issues, "latency_ms": args.latency_ms, "page_size": args.page_size}
    if not args.memory_only:
        result.update(speed(args))
    if args.memory_check or args.memory_only:
        extra = {"delete_sweep_hours": 0} if args.no_delete_sweep else {}
        result["memory"] = memory_check(args.issues, args.latency_ms, args.page_size, **extra)
    _write(args.json, result)
    return 0


def speed(args: argparse.Namespace) -> dict:
    """The tap and the bare loop over one warmed fake, alternating for ``--rounds`` rounds."""
    result: dict = {}
    with tempfile.TemporaryDirectory() as tmp, Fake(args.issues, args.latency_ms) as site:
        print(f"fake Cloud site {site['url']}: {site['issues']} issues, latency {args.latency_ms} ms, "
              f"page size {args.page_size}", flush=True)
        cfg, cat = tap_files(site, args.page_size, Path(tmp))
        # one untimed pass of each first: the fake caches what it serves, and neither
        # contender should pay for warming it
        run_tap(cfg, cat)
        run_bare(site, args.page_size)
        runs: list[Run] = []
        for _ in range(args.rounds):
            runs.append(run_tap(cfg, cat))
            runs.append(run_bare(site, args.page_size))
        result.update(report(runs, site["issues"]))
        if args.profile:
            result["profile"] = profile(args.py_spy, args.profile, cfg, cat)
    return result


def memory_check(issues: int, latency_ms: int, page_size: int, **extra: t.Any) -> dict:
    """Peak RSS of one tap sync of ``issues // 10`` and one of ``issues`` (fresh fakes that
    render as they serve: memory, not speed, is measured).
    """
    runs = []
    for n in (max(issues // 10, 100), issues):
        with tempfile.TemporaryDirectory() as tmp, Fake(n, latency_ms, cache=False) as site:
            cfg, cat = tap_files(site, page_size, Path(tmp), **extra)
            runs.append(run_tap(cfg, cat))
            print(f"tap: {runs[-1].records} issues in {runs[-1].wall:.1f} s, peak RSS {runs[-1].peak_rss_mb:.1f} MB",
                  flush=True)
    low, high = runs
    growth = high.peak_rss_mb / low.peak_rss_mb
    print(f"memory: tap peak RSS {low.peak_rss_mb:.1f} MB at {low.records} issues, "
          f"{high.peak_rss_mb:.1f} MB at {high.records} issues (x{growth:.2f} for x10 issues)")
    return {"small": low._asdict(), "large": high._asdict(), "growth": growth}


def _write(path: Path | None, result: dict) -> None:
    if path:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    sys.exit(main())
