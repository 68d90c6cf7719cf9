"""Types for times and counts read from HTTP queries and bodies, bounded so that no input
becomes a 500 (issue 12): a time without a UTC offset, a year the database or Python's datetime
cannot move to UTC (0001, 9999), an offset of 2**63."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import AfterValidator

from bridge.domain.time_range import FIRST_YEAR, LAST_YEAR

# Beyond any table the bridge keeps, and far inside a 64-bit integer.
MAX_OFFSET = 10_000_000


def _aware_in_range(value: datetime) -> datetime:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError("needs a UTC offset, e.g. 2025-03-01T08:00:00+01:00 or ...Z")
    if not FIRST_YEAR <= value.year <= LAST_YEAR:
        raise ValueError(f"the year must be within {FIRST_YEAR}-{LAST_YEAR}")
    return value


AwareTime = Annotated[datetime, AfterValidator(_aware_in_range)]
