"""Personnummer never leave the process unmasked in a log line, whatever path they take."""

from __future__ import annotations

import io
import logging
from collections.abc import Callable

import pytest

from bridge.logging_setup import configure_logging

PNR = "194005129871"


@pytest.fixture
def json_logs() -> Callable[[], str]:
    stream = io.StringIO()
    configure_logging("DEBUG", json_lines=True, stream=stream)
    return stream.getvalue


@pytest.mark.parametrize(
    "emit",
    [
        pytest.param(lambda log: log.info("patient %s admitted", PNR), id="argument"),
        pytest.param(lambda log: log.info(f"patient {PNR} admitted"), id="message"),
        pytest.param(lambda log: log.info("ten digits %s", "400512-9871"), id="ten-digit"),
        pytest.param(lambda log: log.info("x", extra={"patient": PNR}), id="extra-field"),
    ],
)
def test_every_way_into_a_log_line_is_masked(json_logs: Callable[[], str], emit: object) -> None:
    # Given the bridge's log configuration, when a personnummer is logged
    emit(logging.getLogger("any.library"))  # type: ignore[operator]

    # Then the line shows only the masked form
    err = json_logs()
    assert err.strip()
    assert PNR not in err and "4005129871" not in err and "400512-9871" not in err, err
    assert "-****" in err


def test_exception_text_is_masked(json_logs: Callable[[], str]) -> None:
    log = logging.getLogger("bridge.test")
    try:
        raise ValueError(f"bad identifier {PNR}")
    except ValueError:
        log.exception("failed")
    err = json_logs()
    assert "ValueError" in err
    assert PNR not in err
