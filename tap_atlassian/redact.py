"""Keep configured secrets out of every log line and message (belt and braces).

Code never formats a secret into a message on purpose; this filter also catches a secret
echoed back by a server (for example in an error body) before it reaches stderr.
"""

from __future__ import annotations

import logging
import typing as t

MASK = "***"


def redact(text: str, secrets: t.Iterable[str]) -> str:
    """Replace every occurrence of each secret (longest first) by ``***``."""
    for secret in sorted(set(secrets), key=len, reverse=True):
        if secret:
            text = text.replace(secret, MASK)
    return text


class RedactingFilter(logging.Filter):
    """A logging filter that masks the run's secrets in the formatted message."""

    def __init__(self, secrets: t.Iterable[str]) -> None:
        """Remember the secrets to mask."""
        super().__init__()
        self.secrets = [s for s in secrets if s]

    def filter(self, record: logging.LogRecord) -> bool:
        """Rewrite the record's message (and exception text) with secrets masked."""
        if not self.secrets:
            return True
        message = record.getMessage()
        clean = redact(message, self.secrets)
        if clean != message:
            record.msg, record.args = clean, None
        if record.exc_info and record.exc_info[1] is not None:
            exc = record.exc_info[1]
            text = redact(str(exc), self.secrets)
            if text != str(exc):
                record.exc_info = None
                record.exc_text = None
                record.msg = f"{record.getMessage()} ({type(exc).__name__}: {text})"
        return True


def install(secrets: t.Iterable[str]) -> RedactingFilter:
    """Attach a redacting filter to every handler of the root logger and the SDK's loggers."""
    flt = RedactingFilter(secrets)
    for logger in (logging.getLogger(), *named_loggers()):
        for handler in logger.handlers:
            if flt not in handler.filters:
                handler.addFilter(flt)
    return flt


def named_loggers() -> list[logging.Logger]:
    """Every logger created so far."""
    return [obj for obj in logging.Logger.manager.loggerDict.values() if isinstance(obj, logging.Logger)]
