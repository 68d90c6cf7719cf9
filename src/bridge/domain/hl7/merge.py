"""ADT^A40 patient merge: MRG-1 names the identity merged into the one in PID-3.

The typical case on Gotland is a reservnummer (local or national) replaced by the person's
personnummer once it is known. MRG-1 uses the same identifier markers as PID-3.
"""

from __future__ import annotations

from datetime import date

from bridge.domain.errors import MessageRejected
from bridge.domain.hl7.decode_patient import swedish_identifier
from bridge.domain.hl7.er7 import Er7Message
from bridge.domain.hl7.segments import cx, segment
from bridge.domain.model import PatientMerge


def decode_merge(message: Er7Message, today: date | None) -> PatientMerge:
    mrg = message.segment("MRG")
    if mrg is None:
        raise MessageRejected(
            "an ADT^A40 needs an MRG segment naming the prior identity", "MRG", code="required"
        )
    for rep in mrg.repetitions(1):
        if rep.component(1).strip():
            found = swedish_identifier(rep, today, "MRG-1")
            if found is not None:
                return PatientMerge(prior_identifier=found)
    raise MessageRejected(
        "MRG-1 holds no Swedish identifier (personnummer, samordningsnummer or reservnummer "
        "marked by its OID in CX-4 or NNSWE/RN in CX-5)",
        "MRG-1",
        code="required",
    )


def mrg(merge: PatientMerge) -> str:
    return segment("MRG", {1: cx(merge.prior_identifier)})
