"""Protected identity fails closed: a restriction code the bridge does not recognise.

The decoders keep such codes on :attr:`Patient.unrecognised_restrictions` (HL7 ARV-3 / PD1-12,
FHIR ``meta.security``), which makes the person protected: the address and contact details never
leave (:meth:`CareTransitionEvent.for_destination`). This module flags it for operators: a column
on the stored message (dashboard, API, ``bridge messages``), an audit row and so a metric
(``bridge_restrictions_unrecognised``). The codes are shown masked and bounded: they are what a
sender wrote, and a sender can write anything.
"""

from __future__ import annotations

import logging
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from bridge.domain.identifiers import mask_in_text
from bridge.domain.model import CareTransitionEvent
from bridge.service.operations import audit

ACTION = "restriction_unrecognised"
_MAX_COLUMN = 200

log = logging.getLogger(__name__)


def unrecognised_restriction(event: CareTransitionEvent) -> str | None:
    """The codes for the message's column, or None when every code was recognised."""
    patient = event.patient
    if patient is None or not patient.unrecognised_restrictions:
        return None
    return mask_in_text("; ".join(patient.unrecognised_restrictions))[:_MAX_COLUMN]


def flag_unrecognised_restriction(
    session: AsyncSession,
    *,
    at: datetime,
    message_id: str,
    event: CareTransitionEvent,
    source: str,
) -> None:
    """Audit (and so count) a message whose person was treated as protected by default."""
    codes = unrecognised_restriction(event)
    if codes is None:
        return
    audit.record(
        session,
        at=at,
        action=ACTION,
        message_id=message_id,
        codes=codes,
        source=source,
        treated_as="protected: address and contact details withheld",
    )
    # The codes stay out of the line: a sender can write anything there (see the audit row).
    log.warning(
        "unrecognised restriction code, person treated as protected: message %s from %s",
        message_id,
        source,
    )
