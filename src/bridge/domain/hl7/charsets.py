"""MSH-18 character sets (HL7 table 0211): bytes in, text out, and the answer in the same set.

A message is decoded by the character set it declares in the first repetition of MSH-18; the
ACK is encoded in that set and echoes it. Without MSH-18 (HL7's default is ASCII, but real
feeds send UTF-8 or ISO 8859-1 and say nothing) the bytes are read as UTF-8 when they are
valid UTF-8, else as ISO 8859-1, and the answer goes back the same way.

The MSH line itself is plain ASCII in every single-byte set and in UTF-8, so MSH-18 can be read
before the message is decoded. Multi-byte sets other than UTF-8 (UTF-16, the East Asian sets)
are declared in table 0211 but not carried by the bridge: the sender gets AR naming MSH-18.
"""

from __future__ import annotations

from dataclasses import dataclass

from bridge.domain.errors import MessageRejected
from bridge.domain.hl7.header import peek_header

# Table 0211 value → Python codec, for the sets the bridge reads.
CHARACTER_SETS: dict[str, str] = {
    "ASCII": "ascii",
    "8859/1": "iso8859-1",
    "8859/2": "iso8859-2",
    "8859/3": "iso8859-3",
    "8859/4": "iso8859-4",
    "8859/5": "iso8859-5",
    "8859/6": "iso8859-6",
    "8859/7": "iso8859-7",
    "8859/8": "iso8859-8",
    "8859/9": "iso8859-9",
    "8859/15": "iso8859-15",
    "UNICODE UTF-8": "utf-8",
}
UTF8 = "UNICODE UTF-8"
LATIN1 = "8859/1"
_BOM = b"\xef\xbb\xbf"


@dataclass(frozen=True)
class Er7Text:
    """A message's text, the MSH-18 value it declared ("" for none) and the codec that read it.

    ``codec`` is also the one its answer is written in.
    """

    text: str
    declared: str
    codec: str


def declared_charset(body: bytes) -> str:
    """The first repetition of MSH-18 as sent ("" when absent or unreadable)."""
    header = peek_header(body.removeprefix(_BOM).decode("iso8859-1"))
    return header.charset if header is not None else ""


def decode_er7(body: bytes) -> Er7Text:
    """Decode by the declared set; :class:`MessageRejected` at MSH-18 when that is impossible.

    An unknown or uncarried set is ``not-supported`` (AR); bytes that are not valid in the set
    the message declares are a content error (``value``, AE) naming the first bad byte.
    """
    declared = declared_charset(body)
    if not declared:
        return _undeclared(body)
    codec = CHARACTER_SETS.get(declared.upper())
    if codec is None:
        carried = ", ".join(CHARACTER_SETS)
        raise MessageRejected(
            f"character set {_shown(declared)!r} is not supported; the bridge reads {carried}",
            "MSH-18",
            code="not-supported",
        )
    raw = body.removeprefix(_BOM) if codec == "utf-8" else body
    try:
        return Er7Text(raw.decode(codec), declared, codec)
    except UnicodeDecodeError as error:
        raise MessageRejected(
            f"the message declares {declared} but byte 0x{raw[error.start]:02X} at offset "
            f"{error.start} is not valid in it",
            "MSH-18",
            code="value",
        ) from None


def decode_er7_tolerant(body: bytes) -> Er7Text:
    """As :func:`decode_er7`, but never raises: what cannot be read by its declaration is read
    as UTF-8, else ISO 8859-1 (for storing and for answering a message that is rejected)."""
    try:
        return decode_er7(body)
    except MessageRejected:
        fallback = _undeclared(body)
        return Er7Text(fallback.text, declared_charset(body), fallback.codec)


def encode_er7(text: str, codec: str) -> bytes:
    """Text in a codec :func:`decode_er7` chose; a character the set lacks becomes ``?``."""
    return text.encode(codec, errors="replace")


def codec_for(declared: str) -> str:
    """The codec for a table 0211 value; UTF-8 for "" or a value the bridge does not carry."""
    return CHARACTER_SETS.get(declared.strip().upper(), "utf-8")


def _undeclared(body: bytes) -> Er7Text:
    try:
        return Er7Text(body.removeprefix(_BOM).decode("utf-8"), "", "utf-8")
    except UnicodeDecodeError:
        return Er7Text(body.decode("iso8859-1"), "", "iso8859-1")


def _shown(value: str) -> str:
    return value if value.isascii() and value.isprintable() and len(value) <= 30 else "?"
