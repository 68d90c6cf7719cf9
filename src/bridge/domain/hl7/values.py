"""How a decoded HL7 value becomes a canonical one."""

from __future__ import annotations

HL7_NULL = '""'


def clean(value: str) -> str | None:
    """Trimmed text, or None for an empty value and for the HL7 explicit null ``""``."""
    text = value.strip()
    return text if text and text != HL7_NULL else None
