"""HL7 v2 escape sequences (ER7 chapter 2.7): reading them back to text and writing them.

Reading is tolerant: an unknown or unterminated escape sequence is kept literally, so text is
never lost; formatting commands other than ``\\.br\\`` (line break) are kept as they are too.
"""

from __future__ import annotations

from typing import NamedTuple


class Separators(NamedTuple):
    """The delimiters one message declares in MSH-1 and MSH-2.

    An empty string means the message declared no such delimiter (MSH-2 shorter than four
    characters): the feature is then not used while reading.
    """

    field: str = "|"
    component: str = "^"
    repetition: str = "~"
    escape: str = "\\"
    subcomponent: str = "&"

    @property
    def encoding_characters(self) -> str:
        """MSH-2 as written: component, repetition, escape and subcomponent characters."""
        return self.component + self.repetition + self.escape + self.subcomponent


DEFAULT_SEPARATORS = Separators()


def unescape(value: str, separators: Separators) -> str:
    """Replace the escape sequences in ``value``; keep unknown ones literally."""
    esc = separators.escape
    if not esc or esc not in value:
        return value
    parts: list[str] = []
    position = 0
    while True:
        start = value.find(esc, position)
        end = value.find(esc, start + 1) if start >= 0 else -1
        if end < 0:
            parts.append(value[position:])
            return "".join(parts)
        parts.append(value[position:start])
        sequence = value[start + 1 : end]
        replacement = _replacement(sequence, separators)
        parts.append(value[start : end + 1] if replacement is None else replacement)
        position = end + 1


def _replacement(sequence: str, separators: Separators) -> str | None:
    """The text an escape sequence stands for, or None when it is not one we translate."""
    simple = {
        "F": separators.field,
        "S": separators.component,
        "T": separators.subcomponent,
        "R": separators.repetition,
        "E": separators.escape,
        ".br": "\n",
    }.get(sequence)
    if simple is not None:
        return simple
    if len(sequence) > 1 and sequence[0] == "X":
        return _hex_text(sequence[1:])
    return None


def _hex_text(digits: str) -> str | None:
    """Decode ``\\Xhh..\\`` as UTF-8 (Latin-1 when it is not UTF-8); None when not hex."""
    try:
        raw = bytes.fromhex(digits)
    except ValueError:
        return None
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("latin-1")


def escape(value: str, separators: Separators = DEFAULT_SEPARATORS) -> str:
    """Write ``value`` so that it survives as one ER7 leaf: delimiters and line breaks escaped.

    ``\\n`` becomes ``\\.br\\`` and ``\\r`` becomes ``\\X0D\\`` so that reading the result back
    gives exactly ``value``.
    """
    esc = separators.escape
    if not esc:
        return value
    if esc in value:
        value = value.replace(esc, f"{esc}E{esc}")
    for char, code in (
        (separators.field, "F"),
        (separators.component, "S"),
        (separators.subcomponent, "T"),
        (separators.repetition, "R"),
    ):
        if char and char in value:
            value = value.replace(char, f"{esc}{code}{esc}")
    if "\r" in value:
        value = value.replace("\r", f"{esc}X0D{esc}")
    if "\n" in value:
        value = value.replace("\n", f"{esc}.br{esc}")
    return value
