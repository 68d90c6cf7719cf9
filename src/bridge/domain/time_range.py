"""The years a care event's time may lie in (issue 12).

A time such as 0001-01-01T00:00+01:00 or 9999-12-31T23:59-01:00 is valid ISO 8601, but moving
it to UTC, or adding a legal deadline to it, overflows Python's datetime: the bridge answered
500 (or "unavailable", so the sender resent it for ever). No care event happened before 1900 or
will after 2199, so such a time is refused where it is read, naming its field.
"""

from __future__ import annotations

from datetime import datetime

from bridge.domain.errors import MessageRejected

FIRST_YEAR = 1900
LAST_YEAR = 2199


def check_year(moment: datetime, location: str) -> datetime:
    """``moment`` itself, or :class:`MessageRejected` when its year is out of range."""
    if not FIRST_YEAR <= moment.year <= LAST_YEAR:
        raise MessageRejected(
            f"the year {moment.year} is outside {FIRST_YEAR}-{LAST_YEAR}", location, code="value"
        )
    return moment
