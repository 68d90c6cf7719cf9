"""How the simulator handles one posted notice: faults first, then read, dedupe and file.

A filed notice (and a repeat of one, whose first receipt may have been lost) is confirmed to the
bridge with a receipt through ``on_filed``; a silently dropped one is not — that silence is how
the bridge finds out.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from bridge.domain.identifiers import mask
from treserva_sim.fhir import (
    InvalidBundleError,
    Notice,
    operation_outcome,
    read_notice,
    response_bundle,
)
from treserva_sim.inbox import Inbox
from treserva_sim.masking import logger
from treserva_sim.settings import Faults
from treserva_sim.stats import Stats

FHIR_JSON = "application/fhir+json"
_ACCEPTED_TYPES = (FHIR_JSON, "application/json")
_log = logger()


@dataclass(frozen=True)
class Answer:
    """The HTTP status and FHIR JSON body to send back."""

    status: int
    body: dict[str, Any]


@dataclass(frozen=True)
class Delivery:
    """One POST to ``$process-message`` as the HTTP layer saw it."""

    body: bytes
    content_type: str
    idempotency_key: str | None
    endpoint: str
    client_gone: Callable[[], Awaitable[None]]


class Reception:
    """The simulator's state and its one use case: receive a notice."""

    def __init__(
        self,
        inbox: Inbox,
        faults: Faults,
        seed: int | None = None,
        on_filed: Callable[[Notice], None] | None = None,
    ) -> None:
        self.inbox = inbox
        self.faults = faults
        self.stats = Stats()
        self.on_filed = on_filed
        self._random = random.Random(seed)

    async def receive(self, delivery: Delivery) -> Answer:
        self.stats.received += 1
        failure = await self._fault_answer(delivery)
        if failure is not None:
            self.stats.failed += 1
            return failure
        if not _is_json(delivery.content_type):
            self.stats.rejected += 1
            return Answer(415, operation_outcome("not-supported", f"send {FHIR_JSON}"))
        try:
            notice = read_notice(_json_body(delivery.body), delivery.idempotency_key)
        except InvalidBundleError as error:
            self.stats.rejected += 1
            _log.info("rejected notice at %s: %s", error.location, error.reason)
            return Answer(400, operation_outcome("invalid", error.reason, error.location))
        self._file(notice)
        return Answer(200, response_bundle(notice.header, delivery.endpoint))

    async def _fault_answer(self, delivery: Delivery) -> Answer | None:
        faults = self.faults
        if faults.outage:
            return Answer(503, operation_outcome("transient", "simulated outage"))
        if faults.latency_ms:
            await asyncio.sleep(faults.latency_ms / 1000)
        if faults.timeout:
            await _hang(faults.hang_seconds, delivery.client_gone)
            return Answer(504, operation_outcome("timeout", "simulated timeout"))
        if faults.error_rate and self._random.random() < faults.error_rate:
            return Answer(500, operation_outcome("exception", "simulated server error"))
        return None

    def _file(self, notice: Notice) -> None:
        patient = mask(notice.patient_identifier) if notice.patient_identifier else "-"
        if self.faults.silent_drop:
            self.stats.dropped += 1
            _log.info("silently dropped %s for %s", notice.event_code, patient)
            return
        if self.inbox.file(
            notice.idempotency_key, notice.event_code, notice.patient_identifier, notice.bundle
        ):
            self.stats.filed += 1
            _log.info("filed %s for %s key=%s", notice.event_code, patient, notice.idempotency_key)
        else:
            self.stats.duplicates += 1
            _log.info(
                "duplicate %s for %s key=%s", notice.event_code, patient, notice.idempotency_key
            )
        if self.on_filed is not None:
            self.on_filed(notice)


def _is_json(content_type: str) -> bool:
    return content_type.split(";")[0].strip().lower() in _ACCEPTED_TYPES


def _json_body(body: bytes) -> object:
    try:
        return json.loads(body)
    except ValueError:
        raise InvalidBundleError("body is not JSON", "Bundle") from None


async def _hang(seconds: float, client_gone: Callable[[], Awaitable[None]]) -> None:
    """Wait ``seconds``, or less once the client has given up and gone."""
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(client_gone(), timeout=seconds)
