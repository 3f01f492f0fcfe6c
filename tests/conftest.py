"""Shared pytest configuration: the fake Atlassian site's fixtures (fake_cloud, fake_server,
fake_factory), and for the e2e modules Meltano's plugins installed once per test session,
a Meltano system database per module (`meltano_home`) and a throwaway PostgreSQL (`postgres`)."""

from __future__ import annotations

import os
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


@pytest.fixture(scope="module")
def meltano_home(meltano_plugins: dict[str, str],
                 tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """The session's installed plugins, with a system database (state, runs) of the module's own."""
    from demo.pipeline import meltano

    db = tmp_path_factory.mktemp("meltano-db") / "meltano.db"
    env = {**meltano_plugins, "MELTANO_DATABASE_URI": f"sqlite:///{db}"}
    meltano(["state", "list"], env)  # migrate the new database now, before concurrent runs race to
    return env


@pytest.fixture(scope="module")
def postgres() -> t.Iterator[dict[str, t.Any]]:
    """A throwaway PostgreSQL server for the module (demo/postgres.py); use `postgres_env` from
    there for target-postgres' settings."""
    from demo.postgres import find_bindir, temp_postgres

    if find_bindir() is None:
        msg = "no PostgreSQL server binaries (.ci/run installs Debian's postgresql)"
        if os.environ.get("CI_REQUIRE_POSTGRES"):  # set by .ci/run: never skip there
            pytest.fail(msg)
        pytest.skip(msg)
    with temp_postgres() as pg:
        yield pg
