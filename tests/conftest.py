"""Shared pytest configuration: the fake Atlassian site's fixtures (fake_cloud, fake_server,
fake_factory), and Meltano's plugins installed once per test session for the e2e modules."""

from __future__ import annotations

import typing as t

import pytest

pytest_plugins = ["tests.fake_atlassian.pytest_plugin"]


@pytest.fixture(scope="session")
def meltano_plugins(tmp_path_factory: pytest.TempPathFactory) -> t.Iterator[dict[str, str]]:
    """`meltano install` once into a temporary `MELTANO_SYS_DIR_ROOT` (the e2e modules share an
    xdist group, so one worker installs once); each module then brings its own system database
    (see `meltano_home` in tests/test_e2e_meltano.py), so no state leaks between modules."""
    from demo.pipeline import MELTANO, meltano

    if not MELTANO.exists():
        pytest.fail("Meltano is not installed: run `make meltano` (make test does)")
    env = {"MELTANO_SYS_DIR_ROOT": str(tmp_path_factory.mktemp("meltano-sys"))}
    meltano(["install"], env)
    yield env
