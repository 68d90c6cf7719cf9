"""HL7 v2 escape sequences (ER7 chapter 2.7): reading them back to text and writing them.

Reading is tolerant: an unknown or unterminated escape sequence is kept literally, so text is
never lost; formatting commands other than ``\\.br\\`` (line break) are kept as they are too.
"""

from __future__ import annotations

from functools import lru_cache
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
    """Replace the escape sequences in ``value``; keep unknown ones literally.

    Escape characters pair up from the left: the text between the n-th and the (n+1)-th is one
    sequence. Splitting on the escape character gives exactly those pairs, one cheap loop step
    per sequence even for a megabyte of escape characters.
    """
    esc = separators.escape
    if not esc or esc not in value:
        return value
    parts = value.split(esc)
    simple = _simple_replacements(separators)
    out = [parts[0]]
    last = len(parts) - 1
    for index in range(1, len(parts), 2):
        sequence = parts[index]
        if index == last:  # an escape character with no partner: kept as written
            out.append(esc + sequence)
            break
        replacement = simple.get(sequence)
        if replacement is None and len(sequence) > 1 and sequence[0] == "X":
            replacement = _hex_text(sequence[1:])
        out.append(f"{esc}{sequence}{esc}" if replacement is None else replacement)
        out.append(parts[index + 1])
    return "".join(out)


@lru_cache(maxsize=32)
def _simple_replacements(separators: Separators) -> dict[str, str]:
    """The sequences that stand for a delimiter or a line break (``\\.br\\``)."""
    return {
        "F": separators.field,
        "S": separators.component,
        "T": separators.subcomponent,
        "R": separators.repetition,
        "E": separators.escape,
        ".br": "\n",
    }


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
