"""The log filter that masks configured secrets, on the paths a traceback takes."""

from __future__ import annotations

import io
import logging

from tap_atlassian import redact

SECRET = "hunter2-secret-value"


def _capture() -> tuple[logging.Handler, io.StringIO]:
    buf = io.StringIO()
    handler = logging.StreamHandler(buf)
    logging.getLogger().addHandler(handler)
    return handler, buf


def test_secret_in_an_exception_or_its_cause_never_reaches_the_log():
    handler, buf = _capture()
    try:
        redact.install([SECRET])
        log = logging.getLogger("tap-atlassian.test")
        try:
            raise ValueError(f"server said {SECRET}")
        except ValueError:
            log.error("syncing '%s'", "jira_issues", exc_info=True)  # message args + exception
        try:
            try:
                raise ValueError(f"inner {SECRET}")
            except ValueError:
                raise RuntimeError("login failed")  # noqa: B904  (chained, as the SDK's are)
        except RuntimeError as exc:
            log.error("%s", exc, exc_info=True)
        log.error("token %s", SECRET)
        out = buf.getvalue()
        assert SECRET not in out
        assert "syncing 'jira_issues' (ValueError: server said ***)" in out
        assert "login failed (RuntimeError: login failed)" in out
        assert "token ***" in out
        assert "Logging error" not in out
    finally:
        logging.getLogger().removeHandler(handler)


def test_installing_twice_keeps_one_filter():
    handler, _ = _capture()
    try:
        for _ in range(3):
            redact.install([SECRET])
        assert sum(isinstance(f, redact.RedactingFilter) for f in handler.filters) == 1
    finally:
        logging.getLogger().removeHandler(handler)
