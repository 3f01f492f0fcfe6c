"""pytest fixtures: `fake_cloud`, `fake_server` (small, seed 7; a fresh site per test), and
`fake_factory` for any other options (every site it makes is stopped after the test)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest

from .site import FakeAtlassian

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator


@pytest.fixture
def fake_factory() -> Iterator[Callable[..., FakeAtlassian]]:
    started: list[FakeAtlassian] = []

    def make(**kwargs: Any) -> FakeAtlassian:
        fake = FakeAtlassian(**kwargs).start()
        started.append(fake)
        return fake

    yield make
    for fake in started:
        fake.stop()


@pytest.fixture
def fake_cloud(fake_factory: Callable[..., FakeAtlassian]) -> FakeAtlassian:
    return fake_factory(flavour="cloud", seed=7, size="small")


@pytest.fixture
def fake_server(fake_factory: Callable[..., FakeAtlassian]) -> FakeAtlassian:
    return fake_factory(flavour="server", seed=7, size="small")
