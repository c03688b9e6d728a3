"""Logging, configured once at start-up: text for a terminal, or JSON lines for a log shipper.

Every record passes a filter that masks secrets wherever they come from (a library's message,
an exception's text): bearer tokens, the password of a URL, `password=...` pairs and session
cookies. The code logs no secret on purpose; the filter is for what it does not control.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import re
import sys
from typing import Any, TextIO

from services.settings import Settings

MASK = "***"
_SECRETS = (
    (re.compile(r"\bews_[0-9a-f]{16}_[A-Za-z0-9_\-]+"), "ews_" + MASK),  # API tokens
    (re.compile(r"(?i)\b(bearer\s+)\S+"), r"\1" + MASK),
    (re.compile(r"(?i)\b(ews_session|ews_signin)=[^;\s]+"), r"\1=" + MASK),  # cookies
    (re.compile(r"(?i)((?:password|passwd|pwd|secret|token|csrf_token)[\"']?\s*[=:]\s*[\"']?)"
                r"[^\s&,;\"']+"), r"\1" + MASK),
    (re.compile(r"([a-z][a-z0-9+.\-]*://[^:/@\s]*:)[^@/\s]+(@)", re.IGNORECASE), r"\1" + MASK + r"\2"),
)
# LogRecord's own attributes: anything else on a record came from `extra=` and is context.
_STANDARD = frozenset(vars(logging.makeLogRecord({}))) | {"message", "asctime", "taskName"}


def redact(text: str) -> str:
    """`text` with every secret it holds masked."""
    for pattern, replacement in _SECRETS:
        text = pattern.sub(replacement, text)
    return text


class RedactSecrets(logging.Filter):
    """Masks secrets in a record's message, arguments, exception and context fields."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        record.msg, record.args = redact(message), None
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        record.exc_info = None if record.exc_text else record.exc_info
        for name, value in list(vars(record).items()):
            if name not in _STANDARD and isinstance(value, str):
                setattr(record, name, redact(value))
        return True


class JsonLines(logging.Formatter):
    """One JSON object per record: timestamp, level, logger, message, then the context fields."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "timestamp": dt.datetime.fromtimestamp(record.created, dt.UTC).isoformat(
                timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        context = {name: value for name, value in vars(record).items() if name not in _STANDARD}
        if context:
            entry["context"] = context
        if record.exc_text:
            entry["exception"] = record.exc_text
        elif record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str, ensure_ascii=False)


def configure_logging(settings: Settings, stream: TextIO | None = None) -> logging.Handler:
    """Send every logger (uvicorn's too) to one handler on `stream` (standard error); the handler.

    Called once, by the CLI, before anything logs.
    """
    handler = logging.StreamHandler(stream if stream is not None else sys.stderr)
    handler.addFilter(RedactSecrets())
    handler.setFormatter(JsonLines() if settings.log_format == "json" else logging.Formatter(
        "%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(settings.log_level.upper())
    # Alembic announces each of its plugins and contexts at INFO on every start: operators need
    # the migrations it runs, not those.
    for name in ("alembic.runtime.plugins",):
        logging.getLogger(name).setLevel(logging.WARNING)
    # uvicorn's loggers keep handlers of their own unless told otherwise: route them here too.
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logger = logging.getLogger(name)
        logger.handlers.clear()
        logger.propagate = True
    return handler


def safe_url(url: str) -> str:
    """A URL as it may be logged: its password masked."""
    return redact(url)


def log_startup(settings: Settings, command: str) -> None:
    """One line saying what this process runs on; the database URL's password masked."""
    logging.getLogger("ews").info(
        "ews %s starting", command,
        extra={"command": command, "data_dir": str(settings.data_dir),
               "transport": safe_url(settings.transport or f"sqlite:///{settings.transport_path()}"),
               "index": safe_url(settings.index or f"tantivy://{settings.index_path()}"),
               "store": safe_url(settings.store_url())})
