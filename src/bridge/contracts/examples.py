"""Example messages the bridge itself sends, generated from its own encoder.

The bridge → Treserva contract's request body is the bridge's encoding of the HL7 contract's
admission, the bridge → TakeCare one its encoding of Treserva's home-care enrolment; fixed ids
and time keep the files stable. ``scripts/generate_contracts.py``
writes them with the Pact files; a test fails when either is stale.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import orjson

from bridge.domain.fhir.decode import decode_message_bundle
from bridge.domain.hl7.decode import decode_hl7
from bridge.domain.routing import Destination
from bridge.service.delivery.outbound import OutboundEncoder

BRIDGE_FHIR = "http://127.0.0.1:8080/fhir"
DESTINATIONS = {"treserva": "http://127.0.0.1:8081/fhir", "takecare": "http://127.0.0.1:8082/fhir"}
NOW = datetime(2024, 3, 1, 10, 15, 5, tzinfo=ZoneInfo("Europe/Stockholm"))

# example file → (the message the bridge received, delivery id, idempotency key, destination)
NOTICES = {
    "bridge-admission-notice.json": (
        "adt_a01.hl7",
        "5f1d7a2c-0000-4000-8000-000000000001",
        "5f1d7a2c-0000-4000-8000-0000000000b1",
        "treserva",
    ),
    "bridge-homecare-enrolment.json": (
        "homecare-enrolment.json",
        "6a2e8b3d-0000-4000-8000-000000000001",
        "6a2e8b3d-0000-4000-8000-0000000000b1",
        "takecare",
    ),
}


def notice_body(
    messages_dir: Path, source: str, delivery_id: str, key: str, destination: str = "treserva"
) -> bytes:
    """The FHIR message the bridge sends ``destination`` for the received message ``source``."""
    raw = (messages_dir / source).read_bytes()
    if source.endswith(".json"):
        event = decode_message_bundle(raw)
    else:
        event = decode_hl7(raw.decode("utf-8").replace("\n", "\r"))
    encoder = OutboundEncoder("bridge", BRIDGE_FHIR)
    payload = encoder.encode(
        event,
        Destination(name=destination, address=DESTINATIONS[destination]),
        delivery_id=delivery_id,
        idempotency_key=key,
        now=NOW,
    )
    return payload.body.encode()


def example_files(messages_dir: Path) -> dict[str, str]:
    """File name (in ``messages/``) → pretty JSON text."""
    files = {}
    for name, (source, delivery_id, key, destination) in NOTICES.items():
        body = orjson.loads(notice_body(messages_dir, source, delivery_id, key, destination))
        files[name] = orjson.dumps(body, option=orjson.OPT_INDENT_2).decode() + "\n"
    return files
