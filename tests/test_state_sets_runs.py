"""RunsBuilder and IdRuns: the same runs (and state strings) as a sorted set of the ids, held
as runs plus a bounded buffer whatever order the ids arrive in.
"""

from __future__ import annotations

import random

import pytest

from tap_atlassian.state_sets import IdRuns, RunsBuilder


def reference_runs(ids: list[int]) -> list[tuple[int, int]]:
    """The runs as the set-and-sort encoding computed them."""
    runs: list[tuple[int, int]] = []
    for value in sorted(set(ids)):
        if runs and value == runs[-1][1] + 1:
            runs[-1] = (runs[-1][0], value)
        else:
            runs.append((value, value))
    return runs


def site_ids(rng: random.Random, count: int, breaks: int) -> list[int]:
    """``count`` ascending ids from 10,000 with ``breaks`` scattered ids missing."""
    ids = list(range(10_000, 10_000 + count + breaks))
    for gone in sorted(rng.sample(range(len(ids)), breaks), reverse=True):
        del ids[gone]
    return ids


def orders(rng: random.Random) -> dict[str, list[int]]:
    ascending = site_ids(rng, 30_000, 300)
    shuffled = ascending[:]
    rng.shuffle(shuffled)
    nearly = ascending[:]
    for _ in range(200):  # a creation order that is almost id order
        i = rng.randrange(len(nearly) - 50)
        j = i + rng.randrange(1, 50)
        nearly[i], nearly[j] = nearly[j], nearly[i]
    return {
        "empty": [],
        "one": [7],
        "ascending": ascending,
        "descending": ascending[::-1],
        "shuffled": shuffled,
        "nearly ascending": nearly,
        "duplicates": [*ascending[:5000], *ascending[2000:7000], *shuffled[:3000], 0, 0],
        "sparse": sorted(rng.sample(range(1_000_000), 9000), key=lambda _: rng.random()),
    }


@pytest.mark.parametrize("name", list(orders(random.Random(0))))
def test_builder_gives_the_runs_and_string_of_a_sorted_set(name: str) -> None:
    ids = orders(random.Random(21))[name]
    expected = reference_runs(ids)
    builder = RunsBuilder()
    for value in ids:
        builder.add(value)
        # what waits out of order never outgrows the runs (or the minimum buffer)
        assert len(builder.pending) <= max(RunsBuilder.MIN_BUFFER, len(builder.ends))
    runs = builder.build()
    assert runs.runs == expected
    assert runs == IdRuns.from_ids(ids) == IdRuns(expected)
    assert runs.encode() == IdRuns.decode(runs.encode()).encode()
    assert list(runs) == sorted(set(ids))
    assert len(runs) == len(set(ids))


def test_ascending_ids_hold_only_their_runs() -> None:
    ids = site_ids(random.Random(5), 200_000, 500)
    builder = RunsBuilder()
    for value in ids:
        builder.add(value)
        assert not builder.pending
    assert len(builder.ends) <= 501
    assert builder.build().runs == reference_runs(ids)


def test_build_is_a_snapshot_and_the_builder_goes_on() -> None:
    builder = RunsBuilder()
    for value in (5, 6, 1):
        builder.add(value)
    first = builder.build()
    builder.add(7)
    builder.add(2)
    assert first.runs == [(1, 1), (5, 6)]
    assert builder.build().runs == [(1, 2), (5, 7)]


def test_union_of_runs_and_of_ids_match_python_sets() -> None:
    rng = random.Random(8)
    for _ in range(40):
        a = [rng.randrange(20_000) for _ in range(rng.randrange(6000))]
        b = [rng.randrange(20_000) for _ in range(rng.randrange(6000))]
        ra, rb = IdRuns.from_ids(a), IdRuns.from_ids(b)
        expected = reference_runs(a + b)
        assert ra.union(rb).runs == expected
        assert ra.union(b).runs == expected
        assert ra.union(iter(b)).encode() == IdRuns(expected).encode()
        assert ra.intersection(rb).runs == reference_runs(sorted(set(a) & set(b)))


def test_decode_keeps_the_set_of_a_string_with_adjacent_runs_and_rejects_overflow() -> None:
    assert IdRuns.decode("a,0.2").runs == [(10, 12)]  # gap 0: hand-written, the same set
    assert IdRuns.decode("zzzzzzzzzzzzzzzzz").runs == []  # beyond 64 bits: unreadable, empty
