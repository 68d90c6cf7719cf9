"""TakeCare simulator: plays the hospital, sending admission notices (ADT^A01) to the bridge.

Synthetic patients only (:mod:`takecare_sim.patients`); messages in ER7 per docs/mapping.md
(:mod:`takecare_sim.messages`); sent over MLLP or HTTP with :func:`send_admissions` (a batch)
or :func:`run` (continuous, at a chosen rate).
"""

from takecare_sim.ack import Ack, AckUnreadableError, parse_ack
from takecare_sim.http_transport import HttpHl7Client
from takecare_sim.messages import Sender, build_admission
from takecare_sim.mllp import MllpClient
from takecare_sim.patients import (
    Admission,
    AdmissionGenerator,
    SyntheticPatient,
    generate_admissions,
)
from takecare_sim.sender import SendOptions, SentNotice, run, send_admissions, send_one
from takecare_sim.transport import AckingTransport, TransportError

__all__ = [
    "Ack",
    "AckUnreadableError",
    "AckingTransport",
    "Admission",
    "AdmissionGenerator",
    "HttpHl7Client",
    "MllpClient",
    "SendOptions",
    "Sender",
    "SentNotice",
    "SyntheticPatient",
    "TransportError",
    "build_admission",
    "generate_admissions",
    "parse_ack",
    "run",
    "send_admissions",
    "send_one",
]
