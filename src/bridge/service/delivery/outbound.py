"""Encode a canonical event in the format a destination is configured for."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from bridge.domain.fhir.encode import dumps, encode_message_bundle
from bridge.domain.hl7.encode import encode_hl7
from bridge.domain.model import CareTransitionEvent
from bridge.domain.routing import Destination, PayloadFormat

FHIR_JSON = "application/fhir+json"
HL7_V2 = "application/hl7-v2"


@dataclass(frozen=True)
class EncodedPayload:
    """The wire form and ``header_id``: the id a receipt names (MessageHeader.id / MSH-10)."""

    content_type: str
    body: str
    header_id: str


@dataclass(frozen=True)
class OutboundEncoder:
    """Knows who the bridge is (source) so every payload names it."""

    source_name: str
    source_endpoint: str

    def encode(
        self,
        event: CareTransitionEvent,
        destination: Destination,
        *,
        delivery_id: str,
        idempotency_key: str,
        now: datetime,
    ) -> EncodedPayload:
        safe = event.for_destination()
        if destination.format is PayloadFormat.HL7V2:
            control_id = idempotency_key[:20]
            text = encode_hl7(safe, control_id=control_id, now=now)
            return EncodedPayload(HL7_V2, text, control_id)
        bundle = encode_message_bundle(
            safe,
            bundle_id=delivery_id,
            idempotency_key=idempotency_key,
            source_name=self.source_name,
            source_endpoint=self.source_endpoint,
            destination_name=destination.name,
            destination_endpoint=destination.address,
            now=now,
        )
        header_id = str(bundle["entry"][0]["resource"]["id"])
        return EncodedPayload(FHIR_JSON, dumps(bundle).decode(), header_id)
