"""The simulator's logger: every line has personnummer masked (YYYYMMDD-****)."""

from __future__ import annotations

import logging

from bridge.domain.identifiers import mask_in_text

LOGGER_NAME = "takecare_sim"


class MaskingFilter(logging.Filter):
    """Last line of defence: masks any personnummer-shaped number in the final message."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = mask_in_text(record.getMessage())
        record.args = None
        return True


def logger() -> logging.Logger:
    """The one logger the simulator writes to, with the masking filter attached once."""
    log = logging.getLogger(LOGGER_NAME)
    if not any(isinstance(f, MaskingFilter) for f in log.filters):
        log.addFilter(MaskingFilter())
    return log
