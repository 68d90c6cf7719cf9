"""Log lines carry ISO 8601 times with their offset, and JSON lines no terminal colour codes."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from datetime import datetime

import pytest

from bridge.logging_setup import configure_logging


@pytest.fixture
def stream() -> Iterator[io.StringIO]:
    """A fresh stream for the root logger; uvicorn's loggers as a new process has them (a
    uvicorn server run earlier in the same test process configures its own)."""
    buffer = io.StringIO()
    root = logging.getLogger()
    before = (list(root.handlers), root.level)
    uvicorn = [logging.getLogger(name) for name in ("uvicorn", "uvicorn.error", "uvicorn.access")]
    saved = [(lg.level, lg.propagate, list(lg.handlers), lg.disabled) for lg in uvicorn]
    for logger in uvicorn:
        logger.setLevel(logging.NOTSET)
        logger.propagate, logger.handlers[:], logger.disabled = True, [], False
    yield buffer
    root.handlers[:] = before[0]
    root.setLevel(before[1])
    for logger, (level, propagate, handlers, disabled) in zip(uvicorn, saved, strict=True):
        logger.setLevel(level)
        logger.propagate, logger.handlers[:], logger.disabled = propagate, handlers, disabled


def test_json_lines_have_iso_times_with_offset(stream: io.StringIO) -> None:
    configure_logging("INFO", json_lines=True, stream=stream)
    logging.getLogger("bridge.test").info("hello")
    line = json.loads(stream.getvalue().splitlines()[-1])
    moment = datetime.fromisoformat(line["time"])
    assert moment.utcoffset() is not None
    assert line["time"].endswith("+00:00")


def test_uvicorn_colour_copy_and_ansi_codes_never_reach_json(stream: io.StringIO) -> None:
    # Given uvicorn's way of logging: a plain message plus a coloured copy in `color_message`
    configure_logging("INFO", json_lines=True, stream=stream)
    logging.getLogger("uvicorn.error").info(
        "Uvicorn running on %s",
        "http://127.0.0.1:8080",
        extra={"color_message": "Uvicorn running on \x1b[1m%s\x1b[0m"},
    )
    logging.getLogger("bridge.test").warning("\x1b[31mred\x1b[0m text")
    # Then no line holds an escape character, and the message text stays
    text = stream.getvalue()
    assert "\x1b" not in text
    assert "\\u001b" not in text
    lines = [json.loads(line) for line in text.splitlines()]
    assert [line["message"] for line in lines] == [
        "Uvicorn running on http://127.0.0.1:8080",
        "red text",
    ]
    assert all("color_message" not in line for line in lines)


def test_plain_lines_have_iso_times_with_offset(stream: io.StringIO) -> None:
    configure_logging("INFO", json_lines=False, stream=stream)
    logging.getLogger("bridge.test").info("hello")
    stamp = stream.getvalue().split(" ", 1)[0]
    assert datetime.fromisoformat(stamp).utcoffset() is not None
