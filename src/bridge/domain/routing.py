"""Routing: which destinations an event goes to. Pure code; the YAML file is read elsewhere."""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field

from bridge.domain.model import CareTransitionEvent, EventCode


class PayloadFormat(StrEnum):
    FHIR = "fhir"
    HL7V2 = "hl7v2"


class TransportKind(StrEnum):
    HTTP = "http"
    MLLP = "mllp"


class RetrySettings(BaseModel):
    """How a destination's transient failures are retried (exponential backoff with jitter)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    max_attempts: int = Field(default=12, ge=1)
    initial_seconds: float = Field(default=1.0, gt=0)
    max_seconds: float = Field(default=300.0, gt=0)
    max_age_seconds: float = Field(default=86_400.0, gt=0)


class Destination(BaseModel):
    """A receiving system: where to send, in which format, over what, and how to retry."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(pattern=r"^[a-z][a-z0-9_-]{0,62}$")
    address: str
    format: PayloadFormat = PayloadFormat.FHIR
    transport: TransportKind = TransportKind.HTTP
    retry: RetrySettings = RetrySettings()
    receipt_timeout_seconds: float | None = Field(
        default=None, description="Deliveries without a receipt this long become unreceipted."
    )


class Route(BaseModel):
    """Events of these types from this source go to these destinations."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    events: frozenset[EventCode]
    source: str = "takecare"
    destinations: tuple[str, ...] = Field(min_length=1)


class RoutingTable(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    destinations: tuple[Destination, ...]
    routes: tuple[Route, ...]

    def destination(self, name: str) -> Destination:
        for destination in self.destinations:
            if destination.name == name:
                return destination
        raise KeyError(name)

    def route(self, event: CareTransitionEvent, source: str) -> list[Destination]:
        """Every destination a route names for this event, once each, in routing-file order."""
        names: list[str] = []
        for route in self.routes:
            if event.event in route.events and route.source == source:
                names.extend(name for name in route.destinations if name not in names)
        return [self.destination(name) for name in names]


HOSPITAL_EVENTS = frozenset(
    code
    for code in EventCode
    if code
    not in (
        EventCode.HOMECARE_ENROLMENT_STARTED,
        EventCode.HOMECARE_ENROLMENT_ENDED,
        EventCode.RECEIPT,
    )
)


def default_routing(treserva_url: str) -> RoutingTable:
    """With no routing file: every TakeCare event goes to Treserva (the simulator by default)."""
    return RoutingTable(
        destinations=(Destination(name="treserva", address=treserva_url),),
        routes=(Route(events=HOSPITAL_EVENTS, source="takecare", destinations=("treserva",)),),
    )
