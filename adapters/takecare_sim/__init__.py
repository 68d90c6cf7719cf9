"""TakeCare simulator: plays the hospital towards the bridge, and receives what comes back.

Synthetic patients only (:mod:`takecare_sim.patients`); messages in ER7 per docs/mapping.md.
Sending: admissions alone with :func:`send_admissions` (a batch) or :func:`run` (continuous), or
whole episodes — admission, estimated discharge date, discharge-ready, SIP meeting, discharge,
with cancellations now and then — with :func:`send_episodes` / :func:`run_episodes`
(:mod:`takecare_sim.episodes`). Receiving: :func:`receiving` starts TakeCare's endpoints for the
bridge (FHIR ``$process-message``, ``/hl7v2``, MLLP) with an inbox at ``GET /api/inbox`` and ``/``.
"""

from takecare_sim.ack import Ack, AckUnreadableError, parse_ack
from takecare_sim.episode_sender import run_episodes, send_episodes
from takecare_sim.episodes import EpisodePlanner, Mix, PlannedMessage, plan_messages
from takecare_sim.http_transport import HttpHl7Client
from takecare_sim.inbox import Inbox, InboxItem
from takecare_sim.messages import Sender, build_admission
from takecare_sim.mllp import MllpClient
from takecare_sim.patients import (
    Admission,
    AdmissionGenerator,
    SyntheticPatient,
    generate_admissions,
)
from takecare_sim.receiver import RunningTakeCare, receiving, serve_receiver
from takecare_sim.sender import SendOptions, SentNotice, run, send_admissions, send_one
from takecare_sim.transport import AckingTransport, TransportError

__all__ = [
    "Ack",
    "AckUnreadableError",
    "AckingTransport",
    "Admission",
    "AdmissionGenerator",
    "EpisodePlanner",
    "HttpHl7Client",
    "Inbox",
    "InboxItem",
    "Mix",
    "MllpClient",
    "PlannedMessage",
    "RunningTakeCare",
    "SendOptions",
    "Sender",
    "SentNotice",
    "SyntheticPatient",
    "TransportError",
    "build_admission",
    "generate_admissions",
    "parse_ack",
    "plan_messages",
    "receiving",
    "run",
    "run_episodes",
    "send_admissions",
    "send_episodes",
    "send_one",
    "serve_receiver",
]
