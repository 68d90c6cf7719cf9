"""Structured JSON logs with a correlation id; personnummer are masked in every line.

Masking is a logging filter on the root handler, so a personnummer that slips into any message,
argument or exception text from any library is masked before the line is written.
"""

from __future__ import annotations

import contextvars
import logging
import re
import sys
from datetime import UTC, datetime
from typing import Any, TextIO

from pythonjsonlogger.json import JsonFormatter

from bridge.domain.identifiers import mask_in_text

correlation_id: contextvars.ContextVar[str] = contextvars.ContextVar("correlation_id", default="")


_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
# Extra record attributes that only carry terminal decoration (uvicorn's coloured copy of the
# message): never written, so JSON lines hold no escape codes.
_DECORATION = ("color_message",)


def iso_time(record: logging.LogRecord) -> str:
    """The record's time as ISO 8601 in UTC with its offset, to the millisecond."""
    return datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds")


class IsoTimeJsonFormatter(JsonFormatter):
    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:  # noqa: N802
        return iso_time(record)


class IsoTimeFormatter(logging.Formatter):
    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:  # noqa: N802
        return iso_time(record)


class MaskingFilter(logging.Filter):
    """Render the message, mask personnummer in it and its traceback, add the correlation id;
    drop terminal colour codes."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = _ANSI.sub("", record.getMessage())
        for key in _DECORATION:
            record.__dict__.pop(key, None)
        record.msg = mask_in_text(message)
        record.args = None
        if record.exc_info and record.exc_info[1] is not None:
            record.exc_text = mask_in_text(logging.Formatter().formatException(record.exc_info))
            record.exc_info = None
        if record.stack_info:
            record.stack_info = mask_in_text(record.stack_info)
        for key, value in list(record.__dict__.items()):
            if key not in _STANDARD and isinstance(value, str):
                setattr(record, key, mask_in_text(value))
        if not getattr(record, "correlation_id", None):
            record.correlation_id = correlation_id.get()
        return True


# Loggers that print SQL parameters (raw HL7, names, protected addresses) below WARNING: the
# SQL logger of SQLAlchemy and the drivers' own loggers. Capped here and by a handler filter, so a
# DEBUG root level, or a library raising their level later (``echo=True``), never writes them.
SQL_LOGGERS = ("sqlalchemy.engine", "sqlalchemy.pool", "aiosqlite", "asyncpg", "psycopg", "sqlite3")


class SqlParameterCap(logging.Filter):
    """Drop records below WARNING from the SQL loggers (their text can carry parameters)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno >= logging.WARNING:
            return True
        return not any(
            record.name == name or record.name.startswith(name + ".") for name in SQL_LOGGERS
        )


_STANDARD = set(logging.LogRecord("", 0, "", 0, "", None, None).__dict__) | {"message"}


def configure_logging(
    level: str = "INFO", json_lines: bool = True, stream: TextIO | None = None
) -> None:
    """Send every log record, masked, to ``stream`` (stderr by default) as JSON lines."""
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.addFilter(SqlParameterCap())
    handler.addFilter(MaskingFilter())
    formatter: logging.Formatter
    if json_lines:
        formatter = IsoTimeJsonFormatter(
            "%(asctime)s %(levelname)s %(name)s %(message)s %(correlation_id)s",
            rename_fields={"asctime": "time", "levelname": "level", "name": "logger"},
        )
    else:
        formatter = IsoTimeFormatter("%(asctime)s %(levelname)-7s %(name)s: %(message)s")
    handler.setFormatter(formatter)
    root = logging.getLogger()
    for existing in list(root.handlers):
        root.removeHandler(existing)
    root.addHandler(handler)
    root.setLevel(level.upper())
    for noisy in ("aiormq", "aio_pika", "httpx", "httpcore", "uvicorn.access"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    for sql in SQL_LOGGERS:
        logging.getLogger(sql).setLevel(logging.WARNING)
    _mask_everywhere()


def _mask_everywhere() -> None:
    """Mask also in records that reach handlers other libraries installed (e.g. uvicorn's)."""
    factory = logging.getLogRecordFactory()
    if getattr(factory, "_bridge_masking", False):
        return

    def masked_factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = factory(*args, **kwargs)
        MaskingFilter().filter(record)
        return record

    masked_factory._bridge_masking = True  # type: ignore[attr-defined]
    logging.setLogRecordFactory(masked_factory)
