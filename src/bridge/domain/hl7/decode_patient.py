"""PID, PD1 and ARV → :class:`Patient` (docs/mapping.md)."""

from __future__ import annotations

from datetime import date
from typing import Literal

from bridge.domain.errors import MessageRejected
from bridge.domain.hl7.er7 import Er7Message, Repetition, Segment
from bridge.domain.hl7.profile import LOCAL_ID_TYPES, SWEDISH_ID_TYPE
from bridge.domain.hl7.timestamps import parse_date
from bridge.domain.hl7.values import clean
from bridge.domain.identifiers import (
    NATIONELLT_RESERVNUMMER_OID,
    PERSONNUMMER_OID,
    SAMORDNINGSNUMMER_OID,
    IdentifierKind,
    normalise_person_number,
)
from bridge.domain.model import (
    Address,
    CareUnit,
    ContactPoint,
    HumanName,
    Patient,
    PatientIdentifier,
    SecurityLabel,
)

Gender = Literal["male", "female", "other", "unknown"]

_GENDERS: dict[str, Gender] = {
    "M": "male",
    "F": "female",
    "O": "other",
    "A": "other",
    "U": "unknown",
    "N": "unknown",
}
_LABELS = {label.value.lower(): label for label in SecurityLabel}
_PERSON_NUMBER_OIDS = frozenset({PERSONNUMMER_OID, SAMORDNINGSNUMMER_OID})
_MAX_IDENTIFIER = 64


def decode_patient(message: Er7Message, version: tuple[int, ...], today: date | None) -> Patient:
    pid = message.segment("PID")
    if pid is None:
        raise MessageRejected("the message has no PID segment", "PID", code="required")
    pd1 = message.segment("PD1")
    return Patient(
        identifiers=_identifiers(pid, today),
        name=_name(pid.first(5)),
        birth_date=parse_date(pid.get(7), "PID-7"),
        gender=_GENDERS.get(pid.get(8).strip().upper()),
        address=_address(pid.first(11)),
        telecom=_telecom(pid),
        security_labels=_security_labels(message, pd1),
        unrecognised_restrictions=_unrecognised_restrictions(message, pd1),
        primary_care_unit=_primary_care_unit(pd1, version),
    )


def _identifiers(pid: Segment, today: date | None) -> tuple[PatientIdentifier, ...]:
    repetitions = [rep for rep in pid.repetitions(3) if rep.component(1).strip()]
    if not repetitions:
        raise MessageRejected(
            "PID-3 is empty; a personnummer, samordningsnummer or reservnummer is needed",
            "PID-3",
            code="required",
        )
    found: list[PatientIdentifier] = []
    for rep in repetitions:
        identifier = swedish_identifier(rep, today, "PID-3")
        if identifier is not None and identifier not in found:
            found.append(identifier)
    if not found:
        raise MessageRejected(
            "PID-3 holds no Swedish identifier (personnummer, samordningsnummer or "
            "reservnummer marked by its OID in CX-4 or NNSWE/RN in CX-5)",
            "PID-3",
            code="required",
        )
    return tuple(found)


def swedish_identifier(
    rep: Repetition, today: date | None, location: str
) -> PatientIdentifier | None:
    """One CX repetition (PID-3, MRG-1); None when it is not Swedish (e.g. a hospital MRN).

    A personnummer marked by OID or NNSWE is validated; its kind comes from the number itself
    (day + 60 is a samordningsnummer), which the check digit vouches for.
    """
    value = rep.component(1).strip()
    namespace, universal_id = rep.component(4, 1).strip(), rep.component(4, 2).strip()
    authorities = {namespace, universal_id}
    type_code = rep.component(5).strip().upper()
    if NATIONELLT_RESERVNUMMER_OID in authorities:
        return _reservnummer(IdentifierKind.NATIONELLT_RESERVNUMMER, value, None, location)
    if authorities & _PERSON_NUMBER_OIDS or type_code == SWEDISH_ID_TYPE:
        if not value.isascii():
            raise MessageRejected("personnummer must be written with digits 0-9", location)
        kind, digits = normalise_person_number(value, today, location)
        return PatientIdentifier(kind=kind, value=digits)
    if type_code in LOCAL_ID_TYPES:
        assigner = universal_id or namespace or None
        return _reservnummer(IdentifierKind.LOKALT_RESERVNUMMER, value, assigner, location)
    return None


def _reservnummer(
    kind: IdentifierKind, value: str, assigner: str | None, location: str
) -> PatientIdentifier:
    if len(value) > _MAX_IDENTIFIER:
        raise MessageRejected(
            f"a reservnummer is at most {_MAX_IDENTIFIER} characters", location, code="value"
        )
    return PatientIdentifier(kind=kind, value=value, assigner=assigner)


def _name(rep: Repetition) -> HumanName | None:
    """XPN: family in XPN-1, given names in XPN-2 and XPN-3, one canonical entry per name."""
    family = clean(rep.component(1))
    given = tuple(rep.component(2).split()) + tuple(rep.component(3).split())
    given = tuple(name for name in given if name != '""')
    if family is None and not given:
        return None
    return HumanName(family=family, given=given)


def _address(rep: Repetition) -> Address | None:
    lines = tuple(line for line in (clean(rep.component(1)), clean(rep.component(2))) if line)
    city, postal_code, country = (clean(rep.component(index)) for index in (3, 5, 6))
    if not lines and city is None and postal_code is None and country is None:
        return None
    return Address(lines=lines, postal_code=postal_code, city=city, country=country)


def _telecom(pid: Segment) -> tuple[ContactPoint, ...]:
    """PID-13 (home) and PID-14 (work), every repetition: XTN-4 for an e-mail address (XTN-2
    ``NET`` or XTN-3 ``Internet``), else the number in XTN-12, else XTN-1."""
    found: list[ContactPoint] = []
    uses: tuple[tuple[int, Literal["home", "work"]], ...] = ((13, "home"), (14, "work"))
    for index, use in uses:
        for rep in pid.repetitions(index):
            contact = _contact(rep, use)
            if contact is not None:
                found.append(contact)
    return tuple(found)


def _contact(rep: Repetition, use: Literal["home", "work"]) -> ContactPoint | None:
    email = rep.component(2).strip().upper() == "NET" or rep.component(3).strip() == "Internet"
    if email:
        address = clean(rep.component(4))
        return None if address is None else ContactPoint(system="email", value=address, use=use)
    number = clean(rep.component(12)) or clean(rep.component(1))
    return None if number is None else ContactPoint(system="phone", value=number, use=use)


def _security_labels(message: Er7Message, pd1: Segment | None) -> frozenset[SecurityLabel]:
    """ARV keeps the two labels apart; a bare PD1-12 ``Y`` means sekretessmarkering."""
    labels: set[SecurityLabel] = set()
    for arv in message.segments("ARV"):
        if arv.get(2).strip().upper() == "D":
            continue
        label = _LABELS.get(arv.get(3).strip().lower())
        if label is not None:
            labels.add(label)
    if not labels and pd1 is not None and pd1.get(12).strip().upper() == "Y":
        labels.add(SecurityLabel.SEKRETESSMARKERING)
    return frozenset(labels)


_PD1_12_KNOWN = frozenset({"", "Y", "N"})
_MAX_CODE = 40


def _unrecognised_restrictions(message: Er7Message, pd1: Segment | None) -> tuple[str, ...]:
    """Restriction codes the bridge cannot read: the person is then protected (fails closed).

    An ARV that is not a delete and whose ARV-3 is not one of the two HL7 Sweden labels (a
    table 0717 code such as ``DEM``, a differently spelled "skyddad folkbokföring", an empty
    value), and a PD1-12 other than ``Y``/``N``/empty.
    """
    found: list[str] = []
    for arv in message.segments("ARV"):
        if arv.get(2).strip().upper() == "D":
            continue
        code = arv.get(3).strip()
        if code.lower() not in _LABELS:
            found.append(f"ARV-3 {_shown(code) or '(empty)'}")
    if pd1 is not None and pd1.get(12).strip().upper() not in _PD1_12_KNOWN:
        found.append(f"PD1-12 {_shown(pd1.get(12).strip())}")
    return tuple(dict.fromkeys(found))


def _shown(code: str) -> str:
    """A code as operators see it: bounded, single-line."""
    return " ".join(code.split())[:_MAX_CODE]


def _primary_care_unit(pd1: Segment | None, version: tuple[int, ...]) -> CareUnit | None:
    """PD1-3 XON: the id is XON-10 from v2.5 and XON-3 before; either is read as a fallback."""
    if pd1 is None:
        return None
    rep = pd1.first(3)
    name = clean(rep.component(1))
    modern, legacy = clean(rep.component(10)), clean(rep.component(3))
    hsa_id = (modern or legacy) if version >= (2, 5) else (legacy or modern)
    if name is None and hsa_id is None:
        return None
    return CareUnit(hsa_id=hsa_id, name=name)
