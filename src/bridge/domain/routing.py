"""Routing: which destinations an event goes to. Pure code; the YAML file is read elsewhere.

A :class:`RoutingTable` names the receiving systems (destinations), the sending systems (sources,
recognised by the sending facility / application of a message) and the routes (events from a
source, under conditions, go to destinations). Every cross-reference is checked when a table is
built, and a wrong one is reported at its exact place (``routes.2.destinations.0``) in a pydantic
``ValidationError``, so the routing-file loader can name the line.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from enum import StrEnum
from typing import Annotated
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator
from pydantic_core import InitErrorDetails, PydanticCustomError, ValidationError

from bridge.domain.demographics import (
    FILTERED_INACTIVE,
    FILTERED_NOT_ROUTED,
    FILTERED_UNCHANGED,
    DemographicsFacts,
    DemographicsRule,
    forwards,
)
from bridge.domain.model import CareTransitionEvent, EventCode, MessageOrigin, Patient
from bridge.domain.sender_identity import ApiKeyEntry, Senders

DEFAULT_SOURCE = "takecare"
"""The source of a message no source definition claims (the entrypoints' default)."""

Name = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_-]{0,62}$")]
Label = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
Location = tuple[str | int, ...]


class PayloadFormat(StrEnum):
    FHIR = "fhir"
    HL7V2 = "hl7v2"


class TransportKind(StrEnum):
    HTTP = "http"
    MLLP = "mllp"


_SCHEMES = {TransportKind.HTTP: ("http", "https"), TransportKind.MLLP: ("mllp", "tcp")}


def invalid(problems: Iterable[tuple[Location, str, str, object]]) -> ValidationError:
    """A ValidationError whose errors sit at the given places: (location, type, message, input)."""
    return ValidationError.from_exception_data(
        "RoutingTable",
        [
            InitErrorDetails(type=PydanticCustomError(kind, message), loc=loc, input=value)
            for loc, kind, message, value in problems
        ],
    )


class AckConvention(StrEnum):
    """How a system's HL7 v2 acknowledgements read: ``standard`` (HL7 v2 chapter 2: AE an error
    in the content, AR not taken for other reasons) or ``legacy`` (the bridge's answers before
    issue 11: AR refused for good, AE try again); docs/hl7-conformance.md."""

    STANDARD = "standard"
    LEGACY = "legacy"


class RetrySettings(BaseModel):
    """How a destination's transient failures are retried (exponential backoff with jitter),
    until ``max_age_seconds``. ``max_attempts`` is deprecated and ignored: a count of attempts
    no longer ends retries (docs/delivery.md); it is still accepted so older files load."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    max_attempts: int | None = Field(default=None, ge=1)
    initial_seconds: float = Field(default=1.0, gt=0)
    max_seconds: float = Field(default=60.0, gt=0)
    max_age_seconds: float = Field(default=86_400.0, gt=0)


class Destination(BaseModel):
    """A receiving system: where to send, in which format, over what, and how to retry.

    ``address``: for HTTP the base URL (FHIR: ``[base]``, ``/$process-message`` is added; HL7 v2:
    the URL posted to); for MLLP ``mllp://host:port``.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: Name
    address: str
    format: PayloadFormat = PayloadFormat.FHIR
    transport: TransportKind = TransportKind.HTTP
    retry: RetrySettings = RetrySettings()
    receipt_timeout_seconds: float | None = Field(
        default=None, gt=0, description="Deliveries without a receipt this long become unreceipted."
    )
    ack_convention: AckConvention = Field(
        default=AckConvention.STANDARD,
        description="How this HL7 v2 receiver's ACKs read (standard: AE refused for good, AR "
        "retried; legacy: the reverse).",
    )

    @model_validator(mode="after")
    def _address_fits_transport(self) -> Destination:
        if self.format is PayloadFormat.FHIR and self.transport is TransportKind.MLLP:
            message = "FHIR messages travel over HTTP: use transport http, or format hl7v2"
            raise invalid([(("transport",), "format_transport", message, self.transport.value)])
        problem = _address_problem(self.address, self.transport)
        if problem is not None:
            raise invalid([(("address",), "destination_address", problem, self.address)])
        return self

    @property
    def mllp_endpoint(self) -> tuple[str, int]:
        """Host and port of an ``mllp://host:port`` address."""
        parts = urlsplit(self.address)
        if parts.hostname is None or parts.port is None:
            raise ValueError(f"destination {self.name} has no MLLP host and port")
        return parts.hostname, parts.port


def _address_problem(address: str, transport: TransportKind) -> str | None:
    schemes = _SCHEMES[transport]
    if transport is TransportKind.MLLP:
        wanted = "an MLLP address needs the form mllp://host:port"
    else:
        wanted = "an HTTP address needs the form http(s)://host[:port]/path"
    try:
        parts = urlsplit(address)
        port = parts.port
    except ValueError:
        return wanted
    if parts.scheme not in schemes or not parts.hostname:
        return wanted
    if transport is TransportKind.MLLP and (port is None or parts.path not in ("", "/")):
        return wanted
    return None


class Acknowledgements(BaseModel):
    """A source's HL7 v2 acknowledgement settings.

    ``return_address``: where application ACKs (enhanced mode, MSH-16) go, ``mllp://host:port``
    or an ``http(s)://`` URL they are posted to; none: the bridge cannot send them, and a
    content error is answered CE on the connection instead (docs/hl7-conformance.md).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    convention: AckConvention = AckConvention.STANDARD
    return_address: str | None = None

    @model_validator(mode="after")
    def _address_readable(self) -> Acknowledgements:
        address = self.return_address
        if address is None:
            return self
        kind = TransportKind.MLLP if address.startswith(("mllp:", "tcp:")) else TransportKind.HTTP
        problem = _address_problem(address, kind)
        if problem is not None:
            raise invalid([(("return_address",), "return_address", problem, address)])
        return self

    @property
    def return_transport(self) -> TransportKind | None:
        if self.return_address is None:
            return None
        mllp = self.return_address.startswith(("mllp:", "tcp:"))
        return TransportKind.MLLP if mllp else TransportKind.HTTP


class Source(BaseModel):
    """A sending system, recognised by what its messages say they come from.

    A message belongs to the source when its sending facility (HL7 MSH-4, FHIR
    ``MessageHeader.source.name``) is one of ``facilities`` and its sending application (MSH-3,
    ``source.software``) is one of ``applications``; a list left empty matches anything.
    Compared without regard to case.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: Name
    facilities: tuple[Label, ...] = ()
    applications: tuple[Label, ...] = ()
    acknowledgements: Acknowledgements = Acknowledgements()
    senders: Senders = Field(
        default=Senders(),
        description="Identities allowed to send as this source (docs/security.md).",
    )

    @model_validator(mode="after")
    def _identified(self) -> Source:
        if not self.facilities and not self.applications:
            message = "a source needs at least one of facilities or applications"
            raise invalid([(("facilities",), "source_unidentified", message, None)])
        return self

    def matches(self, origin: MessageOrigin) -> bool:
        return self.matches_names(origin.sending_facility, origin.sending_application)

    def matches_names(self, facility: str | None, application: str | None) -> bool:
        return _among(facility, self.facilities) and _among(application, self.applications)


def _among(value: str | None, allowed: tuple[str, ...]) -> bool:
    if not allowed:
        return True
    return value is not None and value.strip().casefold() in {a.casefold() for a in allowed}


class Conditions(BaseModel):
    """Further tests on the event a route applies to; every one given must hold."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    has_primary_care_unit: bool | None = Field(
        default=None, description="The patient has (true) / has no (false) primary-care unit."
    )
    protected: bool | None = Field(
        default=None, description="The patient has (true) / has no (false) a protected identity."
    )
    primary_care_units: tuple[Label, ...] | None = Field(
        default=None, min_length=1, description="HSA-ids: the patient's unit is one of these."
    )
    requesters: tuple[Label, ...] | None = Field(
        default=None,
        min_length=1,
        description="HSA-ids (a trailing * matches a beginning): a home-care order's requesting "
        "unit is one of these (its answer goes back there; docs/orders.md).",
    )

    def hold_for(self, event: CareTransitionEvent) -> bool:
        if self.requesters is not None and not _requested_by(event, self.requesters):
            return False
        patient: Patient | None = event.patient
        unit = patient.primary_care_unit if patient is not None else None
        hsa_id = unit.hsa_id if unit is not None else None
        if self.has_primary_care_unit is not None and self.has_primary_care_unit != (
            unit is not None
        ):
            return False
        protected = patient is not None and patient.is_protected
        if self.protected is not None and self.protected != protected:
            return False
        return self.primary_care_units is None or hsa_id in self.primary_care_units


def _requested_by(event: CareTransitionEvent, hsa_ids: tuple[str, ...]) -> bool:
    """The order's requesting unit is one of ``hsa_ids``; ``SE2321000040-*`` matches every
    HSA-id with that beginning (e.g. all of one care provider's units)."""
    order = event.order
    hsa_id = order.requester.hsa_id if order is not None else None
    if hsa_id is None:
        return False
    wanted = hsa_id.casefold()
    for pattern in (h.casefold() for h in hsa_ids):
        prefix = pattern.removesuffix("*")
        if wanted == pattern or (prefix != pattern and wanted.startswith(prefix)):
            return True
    return False


class Route(BaseModel):
    """Events of these types from this source, when the conditions hold, go to these
    destinations."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: Label | None = None
    events: frozenset[EventCode] = Field(min_length=1)
    source: Name = DEFAULT_SOURCE
    conditions: Conditions = Conditions()
    destinations: tuple[Name, ...] = Field(min_length=1)
    demographics: DemographicsRule = Field(
        default=DemographicsRule.CHANGED_FOR_ACTIVE_PATIENTS,
        description="Which patient-demographics-changed events this route forwards.",
    )

    def applies_to(
        self,
        event: CareTransitionEvent,
        source: str,
        demographics: DemographicsFacts | None = None,
    ) -> bool:
        """Whether the event goes this way; a demographic update also needs the route's
        :class:`DemographicsRule` to forward it (no facts: only ``all`` does)."""
        if not self.names(event, source):
            return False
        if event.event is not EventCode.PATIENT_DEMOGRAPHICS_CHANGED:
            return True
        if demographics is None:
            return self.demographics is DemographicsRule.ALL
        return forwards(self.demographics, demographics)

    def names(self, event: CareTransitionEvent, source: str) -> bool:
        """The route is for this event from this source, under its conditions."""
        return (
            event.event in self.events and self.source == source and self.conditions.hold_for(event)
        )


class RoutingTable(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    sources: tuple[Source, ...] = ()
    destinations: tuple[Destination, ...] = Field(min_length=1)
    routes: tuple[Route, ...] = Field(min_length=1)

    @model_validator(mode="after")
    def _references_resolve(self) -> RoutingTable:
        problems = [*self._duplicates(), *self._unknown_names(), *self._formats()]
        if problems:
            raise invalid(problems)
        return self

    def _duplicates(self) -> Iterator[tuple[Location, str, str, object]]:
        for part, names in (
            ("source", [source.name for source in self.sources]),
            ("destination", [destination.name for destination in self.destinations]),
        ):
            for index, name in enumerate(names):
                if name in names[:index]:
                    message = f"{part} {name!r} is defined more than once"
                    yield (f"{part}s", index, "name"), "duplicate_name", message, name
        seen_keys: set[str] = set()
        for index, source in enumerate(self.sources):
            for position, key in enumerate(source.senders.api_keys):
                if key.id in seen_keys:
                    message = f"API key id {key.id!r} is given more than once"
                    loc: Location = ("sources", index, "senders", "api_keys", position, "id")
                    yield loc, "duplicate_name", message, key.id
                seen_keys.add(key.id)

    def _formats(self) -> Iterator[tuple[Location, str, str, object]]:
        """An event with no HL7 v2 form routed to an HL7 v2 destination could never be sent."""
        formats = {destination.name: destination.format for destination in self.destinations}
        for index, route in enumerate(self.routes):
            fhir_only = sorted(route.events & FHIR_ONLY_EVENTS)
            hl7 = [n for n in route.destinations if formats.get(n) is PayloadFormat.HL7V2]
            if fhir_only and hl7:
                message = (
                    f"{', '.join(fhir_only)} have no HL7 v2 form but {', '.join(hl7)} takes "
                    "hl7v2: route them to FHIR destinations only"
                )
                yield ("routes", index, "events"), "no_hl7_form", message, fhir_only

    def _unknown_names(self) -> Iterator[tuple[Location, str, str, object]]:
        sources = {DEFAULT_SOURCE, *(source.name for source in self.sources)}
        destinations = list(dict.fromkeys(destination.name for destination in self.destinations))
        for index, route in enumerate(self.routes):
            if route.source not in sources:
                known = ", ".join(sorted(sources))
                message = f"unknown source {route.source!r}; defined: {known}"
                yield ("routes", index, "source"), "unknown_source", message, route.source
            for position, name in enumerate(route.destinations):
                if name not in destinations:
                    message = f"unknown destination {name!r}; defined: {', '.join(destinations)}"
                    loc: Location = ("routes", index, "destinations", position)
                    yield loc, "unknown_destination", message, name

    def destination(self, name: str) -> Destination:
        for destination in self.destinations:
            if destination.name == name:
                return destination
        raise KeyError(name)

    def source_of(self, origin: MessageOrigin) -> str | None:
        """The first source (in routing-file order) whose definition the origin matches."""
        for source in self.sources:
            if source.matches(origin):
                return source.name
        return None

    def api_keys(self) -> tuple[ApiKeyEntry, ...]:
        """Every source's API keys (their ids are unique across the file)."""
        return tuple(key for source in self.sources for key in source.senders.api_keys)

    def source_by_name(self, name: str) -> Source | None:
        return next((source for source in self.sources if source.name == name), None)

    def source_named(self, facility: str | None, application: str | None) -> Source | None:
        """The first source whose definition these sender names match (for acknowledgements,
        which are answered also for messages too broken to decode)."""
        for source in self.sources:
            if source.matches_names(facility, application):
                return source
        return None

    def route(
        self,
        event: CareTransitionEvent,
        source: str,
        demographics: DemographicsFacts | None = None,
    ) -> list[Destination]:
        """Every destination a matching route names, once each, in routing-file order.

        ``demographics``: for a patient-demographics-changed event, what changed and whether
        the patient is active (the accept step reads it from the store).
        """
        names: list[str] = []
        for route in self.routes:
            if route.applies_to(event, source, demographics):
                names.extend(name for name in route.destinations if name not in names)
        return [self.destination(name) for name in names]

    def demographics_filter(
        self, event: CareTransitionEvent, source: str, facts: DemographicsFacts | None
    ) -> str:
        """The rule that kept a demographic update from every destination (docs/routing.md)."""
        rules = {route.demographics for route in self.routes if route.names(event, source)}
        if facts is None or not rules or rules == {DemographicsRule.NONE}:
            return FILTERED_NOT_ROUTED
        if not facts.changed:
            return FILTERED_UNCHANGED
        if not facts.active:
            return FILTERED_INACTIVE
        return FILTERED_NOT_ROUTED

    def routes_demographics(self, event: CareTransitionEvent, source: str) -> bool:
        """Whether any route could forward this demographic update (else no store read)."""
        return any(
            route.names(event, source) and route.demographics is not DemographicsRule.NONE
            for route in self.routes
        )


FHIR_ONLY_EVENTS = frozenset(
    {
        EventCode.SIP_PLAN_ESTABLISHED,
        EventCode.SIP_PLAN_UPDATED,
        EventCode.SIP_PLAN_CLOSED,
        EventCode.DEVIATION,
    }
)
"""Events with no HL7 v2 form (SIP plans, the bridge's own deviation alerts): FHIR only."""
HOME_CARE_EVENTS = frozenset(
    {EventCode.HOMECARE_ENROLMENT_STARTED, EventCode.HOMECARE_ENROLMENT_ENDED}
)
ORDER_EVENTS = frozenset({EventCode.HOMECARE_ORDER, EventCode.HOMECARE_ORDER_ANSWERED})
"""Home-care orders and their answers (docs/orders.md): routed by the routing file only."""
HOSPITAL_EVENTS = frozenset(
    {
        EventCode.ADMISSION,
        EventCode.ESTIMATED_DISCHARGE_CHANGED,
        EventCode.DISCHARGE_READY,
        EventCode.DISCHARGE_READY_WITHDRAWN,
        EventCode.DISCHARGE,
        EventCode.DISCHARGE_CANCELLED,
        EventCode.ADMISSION_CANCELLED,
        EventCode.TRANSFER,
        EventCode.PATIENT_MERGE,
        EventCode.SIP_MEETING_BOOKED,
        EventCode.SIP_MEETING_MOVED,
        EventCode.SIP_MEETING_CANCELLED,
        EventCode.SIP_PLAN_ESTABLISHED,
        EventCode.SIP_PLAN_UPDATED,
        EventCode.SIP_PLAN_CLOSED,
        EventCode.PATIENT_DEMOGRAPHICS_CHANGED,
    }
)
"""What TakeCare sends about a stay and its patient (listed, so a new event code never joins the
default route unasked)."""


def default_routing(treserva_url: str) -> RoutingTable:
    """With no routing file: every TakeCare event goes to Treserva (the simulator by default)."""
    return RoutingTable(
        destinations=(Destination(name="treserva", address=treserva_url),),
        routes=(Route(events=HOSPITAL_EVENTS, source=DEFAULT_SOURCE, destinations=("treserva",)),),
    )
