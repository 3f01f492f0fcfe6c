"""The one module that reaches into singer-sdk's internals; nothing else in the package does.

The SDK's public hooks cover almost everything the tap needs. Four things they do not, and
each is worth a private touch point, kept here so an SDK upgrade has one place to check
(``tests/test_sdk_internals.py`` pins the SDK's minor version and the signatures used here,
so an upgrade that moves them fails there first, by name):

- **The record path** (``Stream._generate_record_messages``). The SDK walks every record
  recursively to drop deselected properties; it is the costliest step of a sync and needed
  only when something is deselected. Records are prepared by the stream's
  :meth:`StreamInternals.prepare_record` (dates to UTC, custom field names), and the walk
  runs only when some property is deselected.
- **Bookmarks** (``Stream._increment_stream_state``). A tombstone, or a late record re-read
  by the look-back, must never move a bookmark: the stream decides with
  :meth:`StreamInternals.moves_bookmark`.
- **Skipping a stream** (``Stream.sync``, ``@final``). A stream the login cannot read or a
  product the site lacks is one WARNING, not a failed run; the SDK has no hook between
  "selected" and "synced", and skipping at discovery would need a login during
  ``--discover``. The stream decides in :meth:`StreamInternals.sync_or_skip`.
- **Settings** (``PluginBase._env_var_config``, ``PluginBase._validate_config`` and
  ``Tap.run_connection_test``, ``@final``): number settings given as text
  (``TAP_ATLASSIAN_REQUEST_TIMEOUT=60``, Meltano's string settings), the tap's one-line
  checks before the SDK's schema check, and ``--test`` without a spurious error line per
  stream.
"""

from __future__ import annotations

import logging
import typing as t

from singer_sdk import Tap
from singer_sdk.configuration._dict_config import parse_environment_config
from singer_sdk.helpers._catalog import pop_deselected_record_properties
from singer_sdk.helpers._classproperty import classproperty
from singer_sdk.helpers._util import utc_now
from singer_sdk.singerlib import RecordMessage
from singer_sdk.streams import Stream

if t.TYPE_CHECKING:
    from singer_sdk.helpers.types import Context

SDK_SERIES = "0.54."  # the singer-sdk minor version these touch points were written against

__all__ = ["SDK_SERIES", "StreamInternals", "TapInternals", "environment_config"]


def environment_config(config_jsonschema: dict, prefix: str) -> dict[str, t.Any]:
    """Settings from ``<PREFIX><SETTING>`` environment variables, parsed as the SDK's CLI does."""
    return parse_environment_config(config_jsonschema, prefix)


class StreamInternals(Stream):
    """The SDK's private stream steps, each handed to a method of the stream's own."""

    _all_selected: bool | None = None

    def prepare_record(self, record: dict) -> None:
        """Shape one record in place before it is written (the stream says how)."""

    def moves_bookmark(self, record: dict, context: Context | None) -> bool:  # noqa: ARG002
        """Whether this written record may move the stream's bookmark (default: yes)."""
        return True

    def sync_or_skip(self, context: Context | None) -> None:
        """Sync with :meth:`sdk_sync`, or log why not (the stream says which)."""
        self.sdk_sync(context)

    def sdk_sync(self, context: Context | None) -> None:
        """The SDK's own ``sync``."""
        super().sync(context)

    def advance_bookmark(self, record: dict, context: Context | None) -> None:
        """Move the bookmark to ``record`` as after writing it (``moves_bookmark`` still decides),
        for a stream that has read past records it does not write.
        """
        self._increment_stream_state(record, context=context)

    def sync(self, context: Context | None = None) -> None:  # type: ignore[misc]  # @final in the SDK
        """Hand the sync to :meth:`sync_or_skip`."""
        self.sync_or_skip(context)

    def _increment_stream_state(self, latest_record: dict, *, context: Context | None = None) -> None:
        if self.moves_bookmark(latest_record, context):
            super()._increment_stream_state(latest_record, context=context)

    def _generate_record_messages(self, record: dict) -> t.Generator[RecordMessage, None, None]:
        self.prepare_record(record)
        if self._all_selected is None:
            self._all_selected = all(self.mask.values())
        if not self._all_selected:
            pop_deselected_record_properties(record, self.schema, self.mask)
        for stream_map in self.stream_maps:
            mapped = stream_map.transform(record)
            if mapped is not None:
                yield RecordMessage(
                    stream=stream_map.stream_alias,
                    record=mapped,
                    version=self._stream_version,
                    time_extracted=utc_now(),
                )


class _DropDryRunAborts(logging.Filter):
    """``--test`` stops each stream by raising the SDK's record-limit signal, which the SDK
    logs as "an unhandled error" per stream; real failures still end the run.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith("An unhandled error occurred while syncing")


class TapInternals(Tap):
    """The SDK's private settings steps and ``--test``, each handed to a method of the tap's own."""

    @classmethod
    def settings_from_text(cls, config: t.Mapping[str, t.Any]) -> dict[str, t.Any]:
        """Settings as the tap reads them, from a config whose numbers may be text."""
        return dict(config)

    def check_settings(self, *, raise_errors: bool) -> list[str]:  # noqa: ARG002
        """The tap's own checks, before the SDK's schema check: its errors (none: go on)."""
        return []

    def quiet_loggers(self) -> list[logging.Logger]:
        """The loggers whose handlers ``--test`` quiets."""
        return [logging.getLogger()]

    @classproperty
    def _env_var_config(cls) -> dict[str, t.Any]:  # noqa: N805
        return cls.settings_from_text(super()._env_var_config)

    def _validate_config(self, *, raise_errors: bool = True) -> list[str]:
        errors = self.check_settings(raise_errors=raise_errors)
        if errors:
            return errors
        self._config.update(self.settings_from_text(self._config))
        return super()._validate_config(raise_errors=raise_errors)

    def run_connection_test(self) -> bool:  # type: ignore[misc]  # @final in the SDK
        """``--test``: the SDK's, without its per-stream "unhandled error" line for each stop."""
        quiet = _DropDryRunAborts()
        handlers = [h for logger in self.quiet_loggers() for h in logger.handlers]
        for handler in handlers:
            handler.addFilter(quiet)
        try:
            ok = super().run_connection_test()
        finally:
            for handler in handlers:
                handler.removeFilter(quiet)
        self.logger.info("connection test passed: logged in and read one record of each stream")
        return ok
