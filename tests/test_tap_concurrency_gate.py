"""The rate gate's own rules, on a clock the test moves (no sleeping, no durations)."""

from __future__ import annotations

import threading

from tap_atlassian.concurrency import RateGate, ordered_map


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_repeated_429s_halve_the_limit_and_a_quiet_spell_climbs_back() -> None:
    clock = Clock()
    gate = RateGate(8, quiet_seconds=30, clock=clock)
    gate.pause(2, throttled=True)  # the first 429: a pause only
    assert gate.limit == 8
    gate.pause(2, throttled=True)  # more 429s of the same burst, still paused: no halving
    assert gate.limit == 8
    clock.now += 3
    gate.pause(2, throttled=True)  # a 429 after the pause ended: fewer at a time
    assert gate.limit == 4
    clock.now += 3
    gate.pause(2, throttled=True)
    assert gate.limit == 2
    clock.now += 31
    gate.acquire()
    gate.release()
    assert gate.limit == 3, "one more after a quiet spell"
    clock.now += 31
    gate.acquire()
    gate.release()
    assert gate.limit == 4
    gate.pause(1, throttled=False)  # a 503's wait pauses but never lowers
    assert gate.limit == 4


def test_ordered_map_keeps_order_and_bounds_read_ahead() -> None:
    started: list[int] = []
    lock = threading.Lock()

    def fn(i: int) -> int:
        with lock:
            started.append(i)
        return i * i

    items = iter(range(100))
    out = ordered_map(fn, items, workers=4, window=6)
    assert [next(out) for _ in range(3)] == [0, 1, 4]
    assert len(started) <= 3 + 6, "read more than the window ahead"
    assert list(out) == [i * i for i in range(3, 100)]
    assert list(ordered_map(fn, range(5), workers=1)) == [0, 1, 4, 9, 16]
