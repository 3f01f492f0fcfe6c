"""The fake's throughput, printed (never asserted: timing depends on the machine)."""

from __future__ import annotations

from tests.fake_atlassian.measure import measure


def test_measure_prints_throughput() -> None:
    rows = measure("small", max_pages=5, issues=600, pages=300)
    for name, pages, records, secs in rows:
        print(f"\n{name}: {pages / secs:.1f} pages/s, {records / secs:.0f} records/s")
    assert [r[2] for r in rows] == [500, 500, 600, 300, 360]  # 5 pages of 100; every id; all pages; every request
