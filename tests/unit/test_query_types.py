"""Times and offsets read from ops queries: a 4xx with a clear message, never a 500."""

from __future__ import annotations

from datetime import datetime

import pytest
from pydantic import TypeAdapter, ValidationError

from bridge.entrypoints.query_types import AwareTime

ADAPTER: TypeAdapter[datetime] = TypeAdapter(AwareTime)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("2025-03-01T08:00:00", "needs a UTC offset"),
        ("0001-01-01T00:00:00+01:00", "the year must be within 1900-2199"),
        ("9999-12-31T23:59:59-01:00", "the year must be within 1900-2199"),
    ],
)
def test_a_time_that_would_fail_later_is_refused_with_a_message(text: str, message: str) -> None:
    with pytest.raises(ValidationError) as caught:
        ADAPTER.validate_python(text)
    assert message in str(caught.value)


def test_an_ordinary_time_passes() -> None:
    assert ADAPTER.validate_python("2025-03-01T08:00:00+01:00").year == 2025
