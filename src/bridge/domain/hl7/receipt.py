"""Receipts (kvittenser) as HL7 v2: the application ACK a receiving system sends back.

MSA-1 AA/CA means filed (``ok``). As HL7 v2 chapter 2 reads the codes (docs/hl7-conformance.md):
AE, an error in the notice's content, will never be filed (``fatal-error``), nor will a CR (a
type or version the receiver does not take); AR, refused for a reason unrelated to the content,
and CE, not committed now, could not be filed this time (``transient-error``). MSA-2 names the
MSH-10 it confirms. The text is MSA-3 up
to v2.4 and ERR-8 from v2.5, where MSA-3 is deprecated.
"""

from __future__ import annotations

from bridge.domain.errors import MessageRejected
from bridge.domain.hl7.er7 import Er7Message
from bridge.domain.hl7.segments import esc, join_fields, segment
from bridge.domain.hl7.values import clean
from bridge.domain.identifiers import mask_in_text
from bridge.domain.model import CareTransitionEvent, Receipt, ReceiptCode

_CODES: dict[str, ReceiptCode] = {
    "AA": "ok",
    "CA": "ok",
    "AE": "fatal-error",
    "CE": "transient-error",
    "AR": "transient-error",
    "CR": "fatal-error",
}
_ACK_CODES = {"ok": "AA", "transient-error": "AR", "fatal-error": "AE"}
_ERR_CODES = {"ok": "0^Message accepted", "transient-error": "207^Application internal error",
              "fatal-error": "207^Application internal error"}  # fmt: skip
_SEVERITY = {"ok": "I", "transient-error": "E", "fatal-error": "E"}


def decode_receipt(message: Er7Message) -> Receipt:
    msa = message.segment("MSA")
    if msa is None:
        raise MessageRejected("an acknowledgement needs an MSA segment", "MSA", code="required")
    code = _CODES.get(msa.get(1).strip().upper())
    if code is None:
        raise MessageRejected(
            "MSA-1 must be AA, AE, AR, CA, CE or CR", "MSA-1", code="code-invalid"
        )
    responds_to = msa.get(2).strip()
    if not responds_to:
        raise MessageRejected(
            "MSA-2 must name the confirmed message (its MSH-10)", "MSA-2", code="required"
        )
    if len(responds_to) > 199:
        raise MessageRejected("MSA-2 is longer than 199 characters", "MSA-2", code="value")
    return Receipt(responds_to=responds_to, code=code, text=_text(message))


def _text(message: Er7Message) -> str | None:
    msa = message.segment("MSA")
    text = clean(msa.get(3)) if msa is not None else None
    err = message.segment("ERR")
    if text is None and err is not None:
        text = clean(err.first(8).text) or clean(err.get(3, 2)) or clean(err.get(1, 4, 2))
    return text


def ack_segments(event: CareTransitionEvent, version: tuple[int, ...]) -> list[str]:
    """MSA (and ERR carrying the text from v2.5) for a receipt event."""
    receipt = event.receipt
    if receipt is None:
        raise ValueError("a receipt event needs its receipt")
    text = esc(mask_in_text(receipt.text)) if receipt.text else ""
    msa_text = text if version < (2, 5) else ""
    msa = join_fields(["MSA", _ACK_CODES[receipt.code], esc(receipt.responds_to), msa_text])
    if not text or version < (2, 5):
        return [msa]
    err = segment(
        "ERR",
        {3: f"{_ERR_CODES[receipt.code]}^HL70357", 4: _SEVERITY[receipt.code], 8: text},
    )
    return [msa, err]
