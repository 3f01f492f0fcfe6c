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
        original = message = record.getMessage()
        if record.exc_info and record.exc_info[1] is not None:
            # The whole printed traceback, chained exceptions included, not just str(exc).
            trace = logging.Formatter().formatException(record.exc_info)
            if redact(trace, self.secrets) != trace:
                exc = record.exc_info[1]
                record.exc_info, record.exc_text = None, None
                message = f"{message} ({type(exc).__name__}: {exc})"
        clean = redact(message, self.secrets)
        if clean != original:
            record.msg, record.args = clean, None  # args too: the message is formatted already
        return True


def install(secrets: t.Iterable[str]) -> RedactingFilter:
    """Attach one redacting filter to every handler of the root logger and the SDK's loggers.

    A filter from an earlier tap instance in the same process is replaced, not stacked.
    """
    flt = RedactingFilter(secrets)
    for logger in (logging.getLogger(), *named_loggers()):
        for handler in logger.handlers:
            for old in [f for f in handler.filters if isinstance(f, RedactingFilter)]:
                handler.removeFilter(old)
            handler.addFilter(flt)
    return flt


def named_loggers() -> list[logging.Logger]:
    """Every logger created so far."""
    return [obj for obj in logging.Logger.manager.loggerDict.values() if isinstance(obj, logging.Logger)]
