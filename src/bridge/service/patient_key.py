"""A pseudonymous, stable key per patient: orders deliveries and finds a patient's messages
without storing the personnummer in an index."""

from __future__ import annotations

import hashlib
import hmac

from bridge.domain.model import PatientIdentifier


def patient_key(identifier: PatientIdentifier, secret: str) -> str:
    text = f"{identifier.system}|{identifier.value}".encode()
    return hmac.new(secret.encode(), text, hashlib.sha256).hexdigest()[:32]
