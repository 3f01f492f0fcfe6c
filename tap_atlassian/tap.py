"""TapAtlassian: settings, stream registry, one client per product, clean failures.

Streams are discovered from :data:`STREAMS` for the products listed in ``products``. A
sync with a catalog takes ``jira_issues``' schema from it (no rediscovery of custom
fields). Known failures (a setting, a login step, a fatal answer) end the run with one
error line and exit status 1; configured secrets are masked in every log line.
"""

from __future__ import annotations

import difflib
import functools
import json
import logging
import sys
import typing as t

from singer_sdk.contrib.msgspec import MsgSpecWriter
from singer_sdk.exceptions import ConfigValidationError, DiscoveryError

from tap_atlassian import heap, redact
from tap_atlassian.auth import AuthError, build_authenticator, load_settings
from tap_atlassian.client import ApiClient
from tap_atlassian.config import CONFIG_SCHEMA, ConfigError, Settings, numbers_from_text, unknown_settings
from tap_atlassian.errors import ApiError
from tap_atlassian.sdk_internals import TapInternals
from tap_atlassian.sites import Sites
from tap_atlassian.streams import STREAMS

if t.TYPE_CHECKING:
    import click
    from singer_sdk.streams import Stream

    from tap_atlassian.streams.base import AtlassianStream

KNOWN_FAILURES = (ApiError, AuthError, ConfigError, DiscoveryError)


class BufferedMsgSpecWriter(MsgSpecWriter):
    """The SDK's msgspec writer, flushing on STATE and SCHEMA only (not after every record).

    A record is always flushed before the STATE that follows it, so a killed run's last
    state never runs ahead of what reached the target.
    """

    def write_message(self, message: t.Any) -> None:  # noqa: ANN401
        """Write one line; flush when it is not a RECORD."""
        sys.stdout.buffer.write(self.format_message(message))
        if getattr(message, "type", None) != "RECORD":
            sys.stdout.flush()


class _DropUnsortedNotice(logging.Filter):
    """The SDK's "Stream is assumed to be unsorted, progress is not resumable" WARNING, logged on
    every run for the Confluence full syncs, which read by id by design (docs/STREAMS.md: their
    bookmark is written at the end); a warning on every normal run teaches users to ignore warnings.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith("Stream is assumed to be unsorted")


logging.getLogger("singer_sdk").addFilter(_DropUnsortedNotice())


class TapAtlassian(TapInternals):
    """Singer tap for Confluence and Jira Service Management, Cloud and Server/Data Center."""

    name = "tap-atlassian"
    config_jsonschema = CONFIG_SCHEMA
    dynamic_catalog = True
    message_writer_class = BufferedMsgSpecWriter
    _warned_settings = False

    @classmethod
    def settings_from_text(cls, config: t.Mapping[str, t.Any]) -> dict[str, t.Any]:
        """``TAP_ATLASSIAN_*`` and Meltano's settings: the SDK converts integers and booleans,
        and here numbers given as text.
        """
        return numbers_from_text(config)

    @functools.cached_property
    def settings(self) -> Settings:
        """The typed, validated settings (raises ``ConfigError``)."""
        return load_settings(self.config)

    def check_settings(self, *, raise_errors: bool) -> list[str]:
        """Our one-line checks (they never echo a secret), before the SDK's own schema check."""
        try:
            settings = self.settings
        except ConfigError as exc:
            if raise_errors:
                raise
            self.logger.warning("%s", exc)
            return [str(exc)]
        redact.install(settings.secrets())
        if not self._warned_settings:
            self._warned_settings = True
            known = dict(type(self).config_jsonschema)
            known["properties"] = dict(known["properties"])
            self.append_builtin_config(known)
            for line in unknown_settings(self.config, known["properties"]):
                self.logger.warning("%s", line)
        return []

    @functools.cached_property
    def sites(self) -> Sites:
        """The products' base URLs (deployment detected at most once)."""
        return Sites(self.settings)

    @functools.cache  # noqa: B019  (one client per product per tap instance)
    def client(self, product: str) -> ApiClient:
        """The shared client of ``jira`` or ``confluence`` (one session, one login)."""
        site = self.sites.site(product)
        return ApiClient(self.settings, site, build_authenticator(self.settings, product, site))

    def discover_streams(self) -> list[Stream]:
        """Streams of the configured products; schemas from the catalog when one is given."""
        out: list[Stream] = []
        for product, cls in STREAMS:
            if not self.settings.wants(product):
                continue
            entry = self.input_catalog.get_stream(cls.name) if self.input_catalog else None
            if entry is None and cls.cloud_only and self.sites.deployment != "cloud":
                continue  # a Cloud-only resource (jsm_request_feedback): not offered on Server/DC
            stream_schema = entry.schema.to_dict() if entry is not None else self._discover_schema(cls)
            out.append(cls(tap=self, schema=stream_schema))
        self._warn_unknown_catalog_streams()
        return out

    def _warn_unknown_catalog_streams(self) -> None:
        """A catalog entry naming no stream of this tap is ignored by the SDK in silence."""
        if not self.input_catalog:
            return
        names = [cls.name for _, cls in STREAMS]
        for entry in self.input_catalog.values():
            if entry.tap_stream_id in names:
                continue
            close = difflib.get_close_matches(entry.tap_stream_id, names, n=1)
            hint = f" (did you mean {close[0]}?)" if close else ""
            self.logger.warning(
                "catalog: %s is not a stream of tap-atlassian%s; ignored", entry.tap_stream_id, hint
            )

    def _discover_schema(self, cls: type[AtlassianStream]) -> dict[str, t.Any]:
        try:
            return cls.discover_schema(self)
        except (ApiError, AuthError) as exc:
            msg = f"discovery of {cls.name} failed: {exc}"
            raise DiscoveryError(msg) from None

    def quiet_loggers(self) -> list[logging.Logger]:
        """``--test`` quiets the SDK's per-stream stop lines on the root and the named loggers."""
        return [logging.getLogger(), *redact.named_loggers()]

    @classmethod
    def cb_config(cls, ctx: click.Context, param: click.Option, value: tuple[str, ...]) -> t.Any:  # noqa: ANN401
        """``--config``: a file that is missing or not a JSON object is one line, not a traceback."""
        for path in value:
            if path == "ENV":
                continue
            problem = config_file_problem(path)
            if problem:
                cls.logger.error("--config %s: %s", path, problem)
                ctx.exit(1)
        return super().cb_config(ctx, param, value)

    @classmethod
    def cb_discover(cls, ctx: click.Context, param: click.Option, value: bool) -> None:  # noqa: FBT001
        """``--discover`` (an eager option: it runs before the command's own error handling)."""
        cls._one_line_failures(ctx, super().cb_discover, param, value)

    @classmethod
    def cb_test(cls, ctx: click.Context, param: click.Option, value: str) -> None:
        """``--test``, with the same one-line failures."""
        cls._one_line_failures(ctx, super().cb_test, param, value)

    @classmethod
    def _one_line_failures(cls, ctx: click.Context, callback: t.Callable[..., None], *args: t.Any) -> None:
        try:
            callback(ctx, *args)
        except KNOWN_FAILURES as exc:
            if isinstance(exc, ConfigValidationError):
                raise
            cls.logger.error("%s", exc)  # noqa: TRY400  (one line, no traceback: the message says it all)
            ctx.exit(1)

    @classmethod
    def get_singer_command(cls) -> click.Command:
        """The SDK's command, with known failures reported as one line (no traceback), in a
        process whose heap stays flat over a long sync (:mod:`tap_atlassian.heap`).
        """
        heap.keep_large_blocks_mapped()
        command = super().get_singer_command()
        default_hook = command.excepthook  # type: ignore[attr-defined]

        def excepthook(exc_type: type[BaseException], exc: BaseException, tb: t.Any) -> None:  # noqa: ANN401
            if isinstance(exc, KNOWN_FAILURES) and not isinstance(exc, ConfigValidationError):
                cls.logger.error("%s", exc)
                return
            default_hook(exc_type, exc, tb)

        command.excepthook = excepthook  # type: ignore[attr-defined]
        return command


def config_file_problem(path: str) -> str | None:
    """Why a ``--config`` file cannot be read as a JSON object, or None."""
    try:
        with open(path, encoding="utf-8") as handle:  # noqa: PTH123
            value = json.load(handle)
    except FileNotFoundError:
        return "no such file"
    except (OSError, UnicodeDecodeError) as exc:
        return f"cannot be read ({getattr(exc, 'strerror', None) or exc})"
    except json.JSONDecodeError as exc:
        return f"not valid JSON ({exc.msg} at line {exc.lineno}, column {exc.colno})"
    if not isinstance(value, dict):
        return "not a JSON object of settings"
    return None
