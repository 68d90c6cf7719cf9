"""CSV cells that a spreadsheet will not run as formulas (OWASP "CSV injection").

Text in the bridge's CSV files comes from HL7 and FHIR content (a ward's name, say), which
anyone who can send a message controls. A cell starting with ``=``, ``+``, ``-``, ``@``, a tab
or a carriage return is read by Excel and LibreOffice as a formula (``=HYPERLINK(...)``), so
such a cell gets a leading apostrophe, which the spreadsheet shows as text. Numbers the bridge
computes itself are written as they are.
"""

from __future__ import annotations

_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(text: str) -> str:
    """``text`` as a CSV cell no spreadsheet runs as a formula."""
    return "'" + text if text.startswith(_FORMULA_START) else text
