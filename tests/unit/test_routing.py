"""The routing table: sources, conditions and routes, with plain values (no I/O)."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from bridge.domain.demographics import (
    FILTERED_INACTIVE,
    FILTERED_NOT_ROUTED,
    FILTERED_UNCHANGED,
    DemographicField,
    DemographicsFacts,
)
from bridge.domain.identifiers import IdentifierKind
from bridge.domain.model import (
    CareTransitionEvent,
    CareUnit,
    EventCode,
    MessageOrigin,
    Patient,
    PatientIdentifier,
    Receipt,
    SecurityLabel,
)
from bridge.domain.routing import (
    DEFAULT_SOURCE,
    HOSPITAL_EVENTS,
    Destination,
    PayloadFormat,
    RoutingTable,
    TransportKind,
    default_routing,
)

PCU = CareUnit(hsa_id="SE2321000040-P001", name="Vårdcentral Visby Norr")


def origin(facility: str = "VISBY_LAS", application: str | None = "TAKECARE") -> MessageOrigin:
    return MessageOrigin(
        sending_facility=facility, sending_application=application, message_id="M1"
    )


def event(
    code: EventCode = EventCode.ADMISSION,
    *,
    unit: CareUnit | None = PCU,
    protected: bool = False,
) -> CareTransitionEvent:
    labels = frozenset({SecurityLabel.SEKRETESSMARKERING}) if protected else frozenset()
    patient = Patient(
        identifiers=(PatientIdentifier(kind=IdentifierKind.PERSONNUMMER, value="194209179938"),),
        primary_care_unit=unit,
        security_labels=labels,
    )
    admission = CareTransitionEvent(event=EventCode.ADMISSION, origin=origin(), patient=patient)
    # Routing reads only the code and the patient: other events' own parts are not needed here.
    return admission.model_copy(update={"event": code})


def table(**overrides: Any) -> RoutingTable:
    data: dict[str, Any] = {
        "sources": [
            {"name": "takecare", "facilities": ["VISBY_LAS"]},
            {"name": "treserva", "facilities": ["GOTLAND-SOF"], "applications": ["Treserva"]},
        ],
        "destinations": [
            {"name": "treserva", "address": "http://127.0.0.1:8081/fhir"},
            {
                "name": "primary-care",
                "address": "mllp://127.0.0.1:2576",
                "format": "hl7v2",
                "transport": "mllp",
            },
            {"name": "takecare", "address": "http://127.0.0.1:8082/fhir"},
        ],
        "routes": [
            {"events": ["admission", "discharge"], "destinations": ["treserva"]},
            {
                "events": ["admission"],
                "conditions": {"has_primary_care_unit": True},
                "destinations": ["primary-care", "treserva"],
            },
            {
                "source": "treserva",
                "events": ["homecare-enrolment-started"],
                "destinations": ["takecare"],
            },
        ],
    }
    data.update(overrides)
    return RoutingTable.model_validate(data)


def names(destinations: list[Destination]) -> list[str]:
    return [destination.name for destination in destinations]


def error_locations(error: pytest.ExceptionInfo[ValidationError]) -> list[tuple[Any, ...]]:
    return [tuple(detail["loc"]) for detail in error.value.errors()]


def test_an_admission_goes_to_home_care_and_the_primary_care_unit_once_each() -> None:
    # Given a table where two routes both name treserva
    # When an admission of a patient with a primary-care unit is routed
    routed = table().route(event(), "takecare")
    # Then each destination is named once, in routing-file order
    assert names(routed) == ["treserva", "primary-care"]


def test_a_patient_without_a_primary_care_unit_goes_to_home_care_only() -> None:
    assert names(table().route(event(unit=None), "takecare")) == ["treserva"]


def test_an_event_no_route_names_goes_nowhere() -> None:
    assert table().route(event(EventCode.TRANSFER), "takecare") == []


def test_routes_apply_only_to_their_source() -> None:
    enrolment = event(EventCode.HOMECARE_ENROLMENT_STARTED)
    assert names(table().route(enrolment, "treserva")) == ["takecare"]
    assert table().route(enrolment, "takecare") == []


@pytest.mark.parametrize(
    ("conditions", "protected", "expected"),
    [
        ({"protected": False}, False, True),
        ({"protected": False}, True, False),
        ({"protected": True}, True, True),
        ({"has_primary_care_unit": False}, False, False),
        ({"primary_care_units": ["SE2321000040-P001"]}, False, True),
        ({"primary_care_units": ["SE2321000040-P009"]}, False, False),
        ({"has_primary_care_unit": True, "protected": False}, True, False),
    ],
)
def test_every_condition_given_must_hold(
    conditions: dict[str, Any], protected: bool, expected: bool
) -> None:
    routes = [{"events": ["admission"], "conditions": conditions, "destinations": ["treserva"]}]
    routed = table(routes=routes).route(event(protected=protected), "takecare")
    assert bool(routed) is expected


def test_conditions_on_the_patient_do_not_hold_for_an_event_without_one() -> None:
    receipt = CareTransitionEvent(
        event=EventCode.RECEIPT,
        origin=origin(),
        receipt=Receipt(responds_to="abc", code="ok"),
    )
    routes = [
        {
            "events": ["receipt"],
            "conditions": {"has_primary_care_unit": True},
            "destinations": ["treserva"],
        }
    ]
    assert table(routes=routes).route(receipt, "takecare") == []


def test_a_source_is_recognised_by_facility_and_application_regardless_of_case() -> None:
    routing = table()
    assert routing.source_of(origin("visby_las")) == "takecare"
    assert routing.source_of(origin("GOTLAND-SOF", "treserva")) == "treserva"
    # Given treserva lists applications, a message from another application is not Treserva's
    assert routing.source_of(origin("GOTLAND-SOF", "Excel")) is None
    assert routing.source_of(origin("GOTLAND-SOF", None)) is None
    assert routing.source_of(origin("SOMEWHERE")) is None


def test_without_a_routing_file_every_takecare_event_goes_to_treserva() -> None:
    routing = default_routing("http://127.0.0.1:8081/fhir")
    assert routing.sources == ()
    # (a demographic update when it changes the address of a patient with an open stay)
    moved = DemographicsFacts(frozenset({DemographicField.ADDRESS}), active=True)
    for code in HOSPITAL_EVENTS:
        assert names(routing.route(event(code), DEFAULT_SOURCE, moved)) == ["treserva"]
    enrolment = event(EventCode.HOMECARE_ENROLMENT_STARTED)
    assert routing.route(enrolment, DEFAULT_SOURCE) == []
    assert EventCode.RECEIPT not in HOSPITAL_EVENTS


def test_mllp_destinations_have_a_host_and_port() -> None:
    destination = table().destination("primary-care")
    assert destination.format is PayloadFormat.HL7V2
    assert destination.transport is TransportKind.MLLP
    assert destination.mllp_endpoint == ("127.0.0.1", 2576)


@pytest.mark.parametrize(
    ("destination", "location"),
    [
        (
            {"name": "x", "address": "127.0.0.1:2576", "transport": "mllp", "format": "hl7v2"},
            "address",
        ),
        ({"name": "x", "address": "mllp://h", "transport": "mllp", "format": "hl7v2"}, "address"),
        ({"name": "x", "address": "mllp://h:1", "transport": "http"}, "address"),
        ({"name": "x", "address": "https://h/fhir", "transport": "mllp"}, "transport"),
        ({"name": "x", "address": "http://h", "format": "pdf"}, "format"),
        ({"name": "Treserva!", "address": "http://h"}, "name"),
        ({"name": "x", "address": "http://h", "retry": {"max_attempts": 0}}, "retry"),
        (
            {"name": "x", "address": "http://h", "receipt_timeout_seconds": 0},
            "receipt_timeout_seconds",
        ),
    ],
)
def test_a_destination_that_cannot_work_is_refused_at_its_field(
    destination: dict[str, Any], location: str
) -> None:
    with pytest.raises(ValidationError) as error:
        table(destinations=[destination])
    assert error_locations(error)[0][:3] == ("destinations", 0, location)


def test_cross_references_are_checked_and_reported_where_they_are() -> None:
    # Given names defined twice, and routes naming what does not exist
    sources = [{"name": "takecare", "facilities": ["A"]}, {"name": "takecare", "facilities": ["B"]}]
    destinations = [
        {"name": "treserva", "address": "http://h/fhir"},
        {"name": "treserva", "address": "http://h/fhir"},
    ]
    routes = [{"source": "tresrva", "events": ["admission"], "destinations": ["treserva", "nope"]}]
    # When the table is built
    with pytest.raises(ValidationError) as error:
        RoutingTable.model_validate(
            {"sources": sources, "destinations": destinations, "routes": routes}
        )
    # Then every problem is reported at its own place
    assert error_locations(error) == [
        ("sources", 1, "name"),
        ("destinations", 1, "name"),
        ("routes", 0, "source"),
        ("routes", 0, "destinations", 1),
    ]
    assert "unknown destination 'nope'; defined: treserva" in str(error.value)


def test_sip_plans_cannot_be_routed_to_an_hl7_v2_destination() -> None:
    routes = [{"events": ["sip-plan-established", "admission"], "destinations": ["primary-care"]}]
    with pytest.raises(ValidationError) as error:
        table(routes=routes)
    assert error_locations(error) == [("routes", 0, "events")]
    assert "sip-plan-established have no HL7 v2 form" in str(error.value)


def test_a_source_needs_something_to_be_recognised_by() -> None:
    with pytest.raises(ValidationError) as error:
        table(sources=[{"name": "takecare"}])
    assert error_locations(error) == [("sources", 0, "facilities")]


def test_a_route_needs_events_and_destinations() -> None:
    with pytest.raises(ValidationError) as error:
        table(routes=[{"events": [], "destinations": []}])
    locations = error_locations(error)
    assert ("routes", 0, "events") in locations
    assert ("routes", 0, "destinations") in locations


DEMOGRAPHICS = EventCode.PATIENT_DEMOGRAPHICS_CHANGED
MOVED = frozenset({DemographicField.ADDRESS})


def demographics_table(rule: str | None = None, **route: Any) -> RoutingTable:
    entry: dict[str, Any] = {"events": ["patient-demographics-changed"], "destinations": ["t"]}
    if rule is not None:
        entry["demographics"] = rule
    return RoutingTable.model_validate(
        {
            "destinations": [{"name": "t", "address": "http://127.0.0.1:8081/fhir"}],
            "routes": [{**entry, **route}],
        }
    )


@pytest.mark.parametrize(
    ("changed", "active", "forwarded", "rule"),
    [
        (MOVED, True, True, None),
        (frozenset(), True, False, FILTERED_UNCHANGED),
        (MOVED, False, False, FILTERED_INACTIVE),
        (frozenset(), False, False, FILTERED_UNCHANGED),
    ],
)
def test_by_default_a_demographic_update_goes_on_when_it_changes_an_active_patient(
    changed: frozenset[DemographicField], active: bool, forwarded: bool, rule: str | None
) -> None:
    # Given a route for demographic updates with the default rule
    routing = demographics_table()
    facts = DemographicsFacts(changed, active)
    # When an update is routed / Then it goes on only if it changed something of an active
    # patient, and otherwise the rule that filtered it is named
    destinations = names(routing.route(event(DEMOGRAPHICS), DEFAULT_SOURCE, facts))
    assert destinations == (["t"] if forwarded else [])
    if rule is not None:
        assert routing.demographics_filter(event(DEMOGRAPHICS), DEFAULT_SOURCE, facts) == rule


def test_a_route_may_forward_every_demographic_update_or_none() -> None:
    unchanged = DemographicsFacts(frozenset(), active=False)
    moved = DemographicsFacts(MOVED, active=True)
    every, no = demographics_table("all"), demographics_table("none")
    assert names(every.route(event(DEMOGRAPHICS), DEFAULT_SOURCE, unchanged)) == ["t"]
    assert names(every.route(event(DEMOGRAPHICS), DEFAULT_SOURCE, None)) == ["t"]
    assert no.route(event(DEMOGRAPHICS), DEFAULT_SOURCE, moved) == []
    assert not no.routes_demographics(event(DEMOGRAPHICS), DEFAULT_SOURCE)
    assert no.demographics_filter(event(DEMOGRAPHICS), DEFAULT_SOURCE, moved) == (
        FILTERED_NOT_ROUTED
    )


def test_the_demographics_rule_leaves_other_events_alone() -> None:
    # Given a route whose rule forwards no demographic update
    routing = demographics_table("none", events=["admission", "patient-demographics-changed"])
    # Then an admission still goes its way
    assert names(routing.route(event(), DEFAULT_SOURCE)) == ["t"]


def test_an_unknown_demographics_rule_is_refused() -> None:
    with pytest.raises(ValidationError, match="demographics"):
        demographics_table("sometimes")
