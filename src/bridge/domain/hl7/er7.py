"""A fast, tolerant reader for HL7 v2 ER7 ("pipe and hat") messages.

Written by hand because the translation path must manage thousands of messages a second per
core and hl7apy's parser manages about a hundred. Splitting is lazy: a message is cut into
segments and fields once; components, subcomponents and escape sequences are only worked out
for the values somebody reads.

Tolerant of what real senders do: CR, LF or CRLF between segments, a UTF-8 byte order mark,
MLLP framing characters and whitespace around the message, trailing whitespace on a segment,
encoding characters other than ``^~\\&``, unknown Z-segments. Strict about structure: anything
that is not an ER7 message raises :class:`MessageRejected` at ``MSH``. Work is linear in the
size of the text, and size, segment count and repetition count are all bounded.
"""

from __future__ import annotations

import re
from functools import lru_cache

from bridge.domain.errors import MessageRejected
from bridge.domain.hl7.escaping import Separators, unescape

MAX_MESSAGE_SIZE = 1024 * 1024
MAX_BATCH_SIZE = 64 * 1024 * 1024
# Far above any real ADT message (tens of segments, a handful of repetitions), low enough that a
# hostile megabyte of delimiters cannot make the decoder build a million objects.
MAX_SEGMENTS = 10_000
MAX_REPETITIONS = 10_000

HEADER_SEGMENTS = frozenset({"MSH", "FHS", "BHS"})
BATCH_SEGMENTS = frozenset({"FHS", "BHS", "BTS", "FTS"})

_SEGMENT_NAME = re.compile(r"[A-Z][A-Z0-9]{2}\Z")
_NO_SEPARATORS = Separators("", "", "", "", "")
_MSH = "MSH"


class Repetition:
    """One repetition of a field; components and subcomponents are split on first use."""

    __slots__ = ("_components", "raw", "separators")

    def __init__(self, raw: str, separators: Separators) -> None:
        self.raw = raw
        self.separators = separators
        self._components: list[str] | None = None

    def __bool__(self) -> bool:
        return self.raw != ""

    def __repr__(self) -> str:
        return f"Repetition({self.raw!r})"

    @property
    def text(self) -> str:
        """The whole repetition as text, escape sequences resolved, delimiters kept."""
        return unescape(self.raw, self.separators)

    @property
    def component_count(self) -> int:
        return len(self._split())

    def component(self, index: int = 1, subcomponent: int = 1) -> str:
        """Component ``index`` (1-based), subcomponent ``subcomponent``, unescaped; "" if absent."""
        components = self._split()
        if index > len(components):
            return ""
        return _subcomponent(components[index - 1], subcomponent, self.separators)

    def _split(self) -> list[str]:
        if self._components is None:
            sep = self.separators.component
            self._components = self.raw.split(sep) if sep else [self.raw]
        return self._components


class Segment:
    """One segment. Field numbers are HL7 sequence numbers: ``MSH-1`` is the field separator."""

    __slots__ = ("fields", "name", "separators")

    def __init__(self, fields: list[str], separators: Separators) -> None:
        self.name = fields[0]
        self.fields = fields
        self.separators = separators

    def __len__(self) -> int:
        """How many fields the segment holds as sent (senders often leave out empty ones)."""
        return len(self.fields) - 1

    def __repr__(self) -> str:
        return f"Segment({self.name}, {len(self)} fields)"

    def raw(self, index: int) -> str:
        """Field ``index`` as it stands in the message, delimiters and escapes untouched."""
        return self.fields[index] if 0 < index < len(self.fields) else ""

    def repetitions(self, index: int) -> list[Repetition]:
        """Every repetition of field ``index``, empty ones included; [] when the field is empty."""
        raw = self.raw(index)
        if not raw:
            return []
        if index <= 2 and self.name in HEADER_SEGMENTS:
            return [Repetition(raw, _NO_SEPARATORS)]
        sep = self.separators.repetition
        if not sep or sep not in raw:
            return [Repetition(raw, self.separators)]
        return [Repetition(part, self.separators) for part in raw.split(sep)]

    def first(self, index: int) -> Repetition:
        """The first repetition of field ``index`` (empty when the field is)."""
        reps = self.repetitions(index)
        return reps[0] if reps else Repetition("", self.separators)

    def get(
        self, index: int, component: int = 1, subcomponent: int = 1, repetition: int = 1
    ) -> str:
        """One leaf value, unescaped; "" when absent. Without a component: the first one.

        Works on the strings directly, without building :class:`Repetition` objects: this is
        the decoder's hot path.
        """
        raw = self.raw(index)
        if not raw:
            return ""
        if index <= 2 and self.name in HEADER_SEGMENTS:
            return raw if (component, subcomponent, repetition) == (1, 1, 1) else ""
        raw = _nth(raw, self.separators.repetition, repetition)
        raw = _nth(raw, self.separators.component, component)
        return _subcomponent(raw, subcomponent, self.separators)


def _nth(value: str, separator: str, index: int) -> str:
    """Part ``index`` (1-based) of ``value`` split on ``separator``; "" when there is none."""
    if separator and separator in value:
        parts = value.split(separator)
        return parts[index - 1] if index <= len(parts) else ""
    return value if index == 1 else ""


def _subcomponent(value: str, index: int, separators: Separators) -> str:
    """Subcomponent ``index`` of one component, unescaped."""
    return unescape(_nth(value, separators.subcomponent, index), separators)


class Er7Message:
    """A parsed message: its separators and its segments in order, by name on request."""

    __slots__ = ("_by_name", "all_segments", "separators")

    def __init__(self, segments: list[Segment], separators: Separators) -> None:
        self.all_segments = tuple(segments)
        self.separators = separators
        by_name: dict[str, list[Segment]] = {}
        for segment in segments:
            by_name.setdefault(segment.name, []).append(segment)
        self._by_name = by_name

    @property
    def msh(self) -> Segment:
        return self.all_segments[0]

    def segments(self, name: str) -> list[Segment]:
        """Every segment called ``name``, in message order."""
        return list(self._by_name.get(name, ()))

    def segment(self, name: str, occurrence: int = 1) -> Segment | None:
        found = self._by_name.get(name, ())
        return found[occurrence - 1] if occurrence <= len(found) else None

    def get(self, path: str) -> str:
        """The value at a path such as ``PID-3``, ``PID-3-4-2``, ``OBX[2]-5`` or ``PID-3[2]-1``.

        Indexes are 1-based; ``[n]`` after the segment picks its n-th occurrence, after the field
        its n-th repetition. Like HAPI's Terser, a path without a component reads component 1.
        """
        name, occurrence, field, repetition, component, sub = parse_path(path)
        segment = self.segment(name, occurrence)
        if segment is None:
            return ""
        return segment.get(field, component, sub, repetition)

    def repetitions(self, path: str) -> list[Repetition]:
        """Every repetition of the field a path such as ``PID-3`` or ``OBX[2]-5`` names."""
        name, occurrence, field, _, _, _ = parse_path(path)
        segment = self.segment(name, occurrence)
        return segment.repetitions(field) if segment is not None else []


_PATH = re.compile(
    r"([A-Z][A-Z0-9]{2})(?:\[(\d{1,4})\])?[-.](\d{1,4})(?:\[(\d{1,4})\])?"
    r"(?:[-.](\d{1,4})(?:[-.](\d{1,4}))?)?\Z"
)


@lru_cache(maxsize=1024)
def parse_path(path: str) -> tuple[str, int, int, int, int, int]:
    """Split ``SEG[occurrence]-field[repetition]-component-subcomponent`` into numbers."""
    match = _PATH.match(path)
    if match is None:
        raise ValueError(f"not an HL7 path: {path!r}")
    name, occurrence, field, repetition, component, sub = match.groups()
    numbers = tuple(int(part) if part else 1 for part in (occurrence, repetition, component, sub))
    if 0 in numbers or int(field) == 0:
        raise ValueError(f"HL7 paths count from 1: {path!r}")
    return name, numbers[0], int(field), numbers[1], numbers[2], numbers[3]


def parse_er7(text: str, *, max_size: int = MAX_MESSAGE_SIZE) -> Er7Message:
    """Parse one ER7 message; raise :class:`MessageRejected` at ``MSH`` when it is not one."""
    check_size(text, max_size)
    lines = segment_lines(text)
    if not lines:
        raise _not_er7("the message is empty")
    first = lines[0]
    if first[:3] in ("FHS", "BHS"):
        raise _not_er7("this is a batch file (FHS/BHS); split it into messages first")
    if first[:3] != _MSH:
        raise _not_er7("an HL7 v2 message must start with an MSH segment")
    separators = read_separators(first)
    _check_counts(text, lines, separators)
    segments = [header_segment(first, separators)]
    for number, line in enumerate(lines[1:], start=2):
        segments.append(_body_segment(line, number, separators))
    return Er7Message(segments, separators)


def _check_counts(text: str, lines: list[str], separators: Separators) -> None:
    repetitions = text.count(separators.repetition) if separators.repetition else 0
    if len(lines) > MAX_SEGMENTS or repetitions > MAX_REPETITIONS:
        raise MessageRejected(
            f"the message has more than {MAX_SEGMENTS} segments or {MAX_REPETITIONS} repetitions",
            "MSH",
            code="too-long",
        )


def _body_segment(line: str, number: int, separators: Separators) -> Segment:
    name = line[:3]
    if not _SEGMENT_NAME.match(name) or (len(line) > 3 and line[3] != separators.field):
        raise _not_er7(f"segment {number} is not an HL7 segment (three letters or digits, then |)")
    if name == _MSH or name in BATCH_SEGMENTS:
        raise _not_er7(f"segment {number} ({name}) starts another message; split the batch first")
    return Segment(line.split(separators.field), separators)


def header_segment(line: str, separators: Separators) -> Segment:
    """An MSH/FHS/BHS segment, laid out so that field 1 is the field separator itself."""
    parts = line.split(separators.field)
    return Segment([parts[0], separators.field, *parts[1:]], separators)


def read_separators(header_line: str) -> Separators:
    """The delimiters declared by MSH-1 and MSH-2 (also FHS/BHS); reject unusable ones."""
    if len(header_line) < 5:
        raise _not_er7("MSH carries no field separator and encoding characters (MSH-1, MSH-2)")
    field = header_line[3]
    end = header_line.find(field, 4)
    encoding = header_line[4:end] if end >= 0 else header_line[4:]
    chars = [field, *encoding[:4]]
    if not 1 <= len(encoding) <= 5:
        raise _not_er7("MSH-2 must hold the four encoding characters, e.g. ^~\\&")
    if any(char.isalnum() or char.isspace() for char in chars) or len(set(chars)) != len(chars):
        raise _not_er7("MSH-1/MSH-2 delimiters must be distinct and neither letters nor spaces")
    component, repetition, escape_char, sub = (*encoding[:4], "", "", "")[:4]
    return Separators(field, component, repetition, escape_char, sub)


def segment_lines(text: str) -> list[str]:
    """Cut text into segment lines: CR, CRLF or LF separated; BOM, framing and blanks dropped.

    A message that has CRs is split on CR only, so a line feed inside a field survives.
    """
    text = text.lstrip().lstrip("\ufeff")
    lines = text.replace("\r\n", "\r").split("\r") if "\r" in text else text.split("\n")
    stripped = (line.strip() for line in lines)
    return [line for line in stripped if line]


def check_size(text: str, max_size: int) -> None:
    """Reject text larger than ``max_size`` UTF-8 bytes before doing any other work."""
    too_big = len(text) > max_size or (
        len(text) * 4 > max_size and len(text.encode("utf-8", "surrogatepass")) > max_size
    )
    if too_big:
        raise MessageRejected(
            f"the message is larger than the {max_size} bytes accepted", "MSH", code="too-long"
        )


def split_batch(text: str, *, max_size: int = MAX_BATCH_SIZE) -> list[str]:
    """Split a batch file (FHS/BHS … BTS/FTS around MSH messages) into one text per message.

    Text without batch segments but with several MSH segments is split the same way. BTS-1, when
    it holds a number, must match the messages of its batch so that a cut-off file is noticed.
    """
    check_size(text, max_size)
    messages: list[list[str]] = []
    in_batch = 0
    field = "|"
    for number, line in enumerate(segment_lines(text), start=1):
        name = line[:3]
        if name in HEADER_SEGMENTS and len(line) > 3:
            field = line[3]
        if name == _MSH:
            messages.append([line])
            in_batch += 1
        elif name == "BHS":
            in_batch = 0
        elif name == "BTS":
            _check_batch_count(line, field, in_batch)
        elif name in BATCH_SEGMENTS:
            continue
        elif not messages:
            raise _not_er7(f"line {number} comes before the first MSH segment of the batch")
        else:
            messages[-1].append(line)
    if not messages:
        raise _not_er7("the batch holds no message (no MSH segment)")
    return ["\r".join(lines) for lines in messages]


def _check_batch_count(line: str, field: str, found: int) -> None:
    parts = line.split(field)
    declared = parts[1].strip() if len(parts) > 1 else ""
    if len(declared) <= 9 and declared.isascii() and declared.isdigit() and int(declared) != found:
        raise MessageRejected(
            f"BTS-1 declares {int(declared)} messages but the batch holds {found}",
            "BTS-1",
            code="structure",
        )


def _not_er7(reason: str) -> MessageRejected:
    return MessageRejected(reason, "MSH", code="structure")
