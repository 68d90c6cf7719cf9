"""Synthetic test persons for the simulators and the load generators."""

from __future__ import annotations

import itertools

from bridge.domain.identifiers import luhn_ok, synthetic_personnummers


def test_synthetic_personnummers_are_distinct_valid_and_in_the_asked_range() -> None:
    numbers = list(itertools.islice(synthetic_personnummers(1930, 1931, "97"), 500))
    assert len(set(numbers)) == 500
    assert all(len(n) == 12 and n[:4] in ("1930", "1931") and n[8:10] == "97" for n in numbers)
    assert all(luhn_ok(n[2:]) for n in numbers)
