"""The SDK's internals are touched in one module, tap_atlassian/sdk_internals.py, pinned here.

An SDK upgrade that renames or reshapes what that module relies on fails these tests by
name, before any sync misbehaves; and no other module may import a private SDK module or
override a method the SDK marks ``@final``.
"""

from __future__ import annotations

import ast
import importlib
import importlib.metadata
import inspect
import pkgutil
from pathlib import Path

import pytest
from singer_sdk import Tap
from singer_sdk.plugin_base import PluginBase
from singer_sdk.streams import Stream

import tap_atlassian
from tap_atlassian import sdk_internals

PACKAGE = Path(tap_atlassian.__file__).parent
OWNER = "tap_atlassian.sdk_internals"


def _modules() -> list[str]:
    """Every module of the package but ``__main__`` (importing it runs the tap)."""
    return [
        info.name
        for info in pkgutil.walk_packages([str(PACKAGE)], prefix="tap_atlassian.")
        if not info.name.endswith("__main__")
    ]


def _private_sdk_imports(path: Path) -> list[str]:
    """``singer_sdk`` modules with a ``_private`` part that a source file imports."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        names = []
        if isinstance(node, ast.ImportFrom) and node.module:
            names = [node.module]
        elif isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        for name in names:
            parts = name.split(".")
            if parts[0] == "singer_sdk" and any(p.startswith("_") for p in parts[1:]):
                found.append(name)
    return found


def test_sdk_series_is_the_one_the_internals_were_written_against() -> None:
    version = importlib.metadata.version("singer-sdk")
    assert version.startswith(sdk_internals.SDK_SERIES), (
        f"singer-sdk {version}: re-check tap_atlassian/sdk_internals.py against it, then move SDK_SERIES"
    )


@pytest.mark.parametrize(
    ("owner", "name", "params"),
    [
        (Stream, "_generate_record_messages", ["self", "record"]),
        (Stream, "_increment_stream_state", ["self", "latest_record", "context"]),
        (Stream, "sync", ["self", "context"]),
        (Tap, "_validate_config", ["self", "raise_errors"]),
        (Tap, "run_connection_test", ["self"]),
    ],
)
def test_the_overridden_sdk_steps_keep_their_shape(owner: type, name: str, params: list[str]) -> None:
    assert list(inspect.signature(getattr(owner, name)).parameters) == params


def test_the_private_attributes_used_exist() -> None:
    """``Stream._stream_version`` and ``PluginBase._config`` (set in ``__init__``)."""
    assert "self._stream_version" in inspect.getsource(Stream.__init__)
    assert "self._config" in inspect.getsource(PluginBase.__init__)


def test_the_private_helpers_used_exist() -> None:
    from singer_sdk.configuration import _dict_config  # noqa: PLC0415
    from singer_sdk.helpers import _catalog, _classproperty, _util  # noqa: PLC0415

    assert callable(_catalog.pop_deselected_record_properties)
    assert callable(_util.utc_now)
    assert callable(_dict_config.parse_environment_config)
    assert isinstance(vars(PluginBase)["_env_var_config"], _classproperty.classproperty)


def test_only_sdk_internals_imports_private_sdk_modules() -> None:
    offenders = {
        str(path.relative_to(PACKAGE.parent)): found
        for path in sorted(PACKAGE.rglob("*.py"))
        if path.name != "sdk_internals.py" and (found := _private_sdk_imports(path))
    }
    assert offenders == {}
    assert _private_sdk_imports(PACKAGE / "sdk_internals.py"), "the owner module is where they are"


def test_no_final_sdk_method_is_overridden_outside_sdk_internals() -> None:
    overrides = []
    for name in _modules():
        module = importlib.import_module(name)
        for _, cls in inspect.getmembers(module, inspect.isclass):
            if cls.__module__ != name or name == OWNER:
                continue
            for attr in vars(cls):
                for base in cls.__mro__[1:]:
                    if not base.__module__.startswith("singer_sdk"):
                        continue
                    inherited = vars(base).get(attr)
                    if inherited is not None and getattr(inherited, "__final__", False):
                        overrides.append(f"{name}.{cls.__name__}.{attr} (final in {base.__name__})")
    assert overrides == []


def test_the_finals_this_module_overrides_are_final_in_the_sdk() -> None:
    """If the SDK stops marking them final, the override could move to the stream or tap."""
    assert getattr(vars(Stream)["sync"], "__final__", False)
    assert getattr(vars(Tap)["run_connection_test"], "__final__", False)
