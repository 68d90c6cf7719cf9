"""CSV cells from message content cannot become spreadsheet formulas (OWASP CSV injection)."""

from __future__ import annotations

import csv
import dataclasses
import io

import pytest
from test_indicators import sample

from bridge.domain.csv_safety import safe_cell
from bridge.domain.indicators import to_csv


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            '=HYPERLINK("http://evil.example","Medicin")',
            '\'=HYPERLINK("http://evil.example","Medicin")',
        ),
        ("+46 498 26 80 00", "'+46 498 26 80 00"),
        ("-2+3", "'-2+3"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\tcmd", "'\tcmd"),
        ("\rcmd", "'\rcmd"),
        ("Medicinavdelning 3", "Medicinavdelning 3"),
        ("", ""),
        ("a=b", "a=b"),
    ],
)
def test_a_cell_starting_like_a_formula_gets_an_apostrophe(text: str, expected: str) -> None:
    assert safe_cell(text) == expected


def test_the_indicator_csv_neutralises_a_ward_name_from_a_message() -> None:
    rows = sample()
    unit = dataclasses.replace(rows[0].unit, name='=HYPERLINK("http://evil.example","x")')
    rows[0] = dataclasses.replace(rows[0], unit=unit)
    parsed = list(csv.DictReader(io.StringIO(to_csv(rows))))
    assert parsed[0]["unit_name"] == '\'=HYPERLINK("http://evil.example","x")'
    assert all(not row["unit_name"].startswith("=") for row in parsed)
