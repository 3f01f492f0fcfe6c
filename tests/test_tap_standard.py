"""The Singer SDK's standard tap tests, run in-process against the fake site (Cloud and Server).

The test classes are built at import with a config naming a port picked then; the fakes are
started on those ports for this module only and always stopped.
"""

from __future__ import annotations

import typing as t

import pytest
from singer_sdk.testing import get_tap_test_class

from tap_atlassian.tap import TapAtlassian
from tests.fake_atlassian import FakeAtlassian
from tests.tapdriver import free_port

SEED = 7


PORTS = {"cloud": free_port(), "server": free_port()}


def _config(flavour: str) -> dict[str, t.Any]:
    url = f"http://127.0.0.1:{PORTS[flavour]}"
    creds = FakeAtlassian(flavour=flavour, seed=SEED, install_idp=False).credentials
    config = {"url": url, "deployment": flavour, "auth_scheme": "basic", "user": creds["user"],
              "confluence_url": f"{url}/wiki" if flavour == "cloud" else url, "page_size": 20,
              "search_lag_minutes": 0}
    config["api_token" if flavour == "cloud" else "password"] = creds.get("api_token") or creds["password"]
    return config


@pytest.fixture(scope="module", autouse=True)
def _fakes() -> t.Iterator[None]:
    fakes = [FakeAtlassian(flavour=f, seed=SEED, size="small", port=p).start() for f, p in PORTS.items()]
    try:
        yield
    finally:
        for fake in fakes:
            fake.stop()


TestTapAtlassianCloud = get_tap_test_class(TapAtlassian, config=_config("cloud"))
TestTapAtlassianServer = get_tap_test_class(TapAtlassian, config=_config("server"))
