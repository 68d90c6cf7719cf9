"""The routing file: the documented example loads; a wrong file is refused naming the line."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from bridge.config import Settings
from bridge.domain.model import EventCode
from bridge.domain.routing import HOSPITAL_EVENTS, PayloadFormat, TransportKind
from bridge.routing_file import RoutingFileError, load_routing, parse_routing_file

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "routing.yaml"

GOOD = """\
sources:
  - name: takecare
    facilities: [VISBY_LAS]
destinations:
  - name: treserva
    address: http://127.0.0.1:8081/fhir
  - name: primary-care
    address: mllp://127.0.0.1:2576
    format: hl7v2
    transport: mllp
routes:
  - events: [admission]
    destinations: [treserva, primary-care]
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "routing.yaml"
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def problems(tmp_path: Path, text: str) -> list[str]:
    """The error lines the bridge would stop with."""
    path = write(tmp_path, text)
    with pytest.raises(RoutingFileError) as error:
        parse_routing_file(path)
    lines = str(error.value).splitlines()
    assert all(line.startswith(str(path)) for line in lines)
    return [line.removeprefix(f"{path}, ") for line in lines]


def test_the_documented_example_loads() -> None:
    # When the example in examples/ is read
    routing = parse_routing_file(EXAMPLE)
    # Then hospital events go to Treserva, and to the primary-care unit over MLLP when known
    assert [d.name for d in routing.destinations] == [
        "treserva",
        "takecare-primary-care",
        "takecare",
        "vc-hemse-privat",
    ]
    primary_care = routing.destination("takecare-primary-care")
    assert (primary_care.format, primary_care.transport) == (
        PayloadFormat.HL7V2,
        TransportKind.MLLP,
    )
    home_care_route, primary_care_route, enrolment_route, *order_routes = routing.routes
    assert home_care_route.events == HOSPITAL_EVENTS
    assert primary_care_route.conditions.has_primary_care_unit is True
    assert enrolment_route.source == "treserva"
    assert EventCode.HOMECARE_ENROLMENT_STARTED in enrolment_route.events
    assert routing.destination("treserva").receipt_timeout_seconds == 900
    # And home-care orders go to Treserva, each answer back to the unit that ordered
    assert [r.destinations for r in order_routes] == [
        ("treserva",),
        ("treserva",),
        ("takecare-primary-care",),
        ("vc-hemse-privat",),
    ]
    assert order_routes[3].conditions.requesters == ("SE5566778899-VCH01",)


def test_without_a_file_the_default_route_is_used(tmp_path: Path) -> None:
    routing = load_routing(Settings(treserva_url="http://treserva.test/fhir"))
    assert [d.address for d in routing.destinations] == ["http://treserva.test/fhir"]


def test_a_file_named_in_the_settings_is_loaded(tmp_path: Path) -> None:
    routing = load_routing(Settings(routing_file=write(tmp_path, GOOD)))
    assert [d.name for d in routing.destinations] == ["treserva", "primary-care"]


def test_an_unknown_destination_is_named_with_its_line(tmp_path: Path) -> None:
    text = GOOD.replace("[treserva, primary-care]", "[treserva, tresreva]")
    assert problems(tmp_path, text) == [
        "line 13, column 30: routes[0].destinations[1]: "
        "unknown destination 'tresreva'; defined: treserva, primary-care"
    ]


def test_a_bad_event_code_is_named_with_its_line(tmp_path: Path) -> None:
    text = GOOD.replace("events: [admission]", "events: [admission, A01]")
    (problem,) = problems(tmp_path, text)
    assert problem.startswith("line 12, column 25: routes[0].events[1]: 'A01' is not one of ")
    assert "'discharge-ready'" in problem


def test_names_defined_twice_are_named_with_their_lines(tmp_path: Path) -> None:
    text = GOOD.replace("name: primary-care", "name: treserva").replace(
        "primary-care]", "treserva]"
    )
    assert problems(tmp_path, text) == [
        "line 7, column 5: destinations[1].name: destination 'treserva' is defined more than once"
    ]


def test_a_missing_field_points_at_the_entry_lacking_it(tmp_path: Path) -> None:
    text = GOOD.replace("    address: http://127.0.0.1:8081/fhir\n", "")
    assert problems(tmp_path, text) == [
        "line 5, column 5: destinations[0].address: this field is required"
    ]


def test_an_unknown_field_is_named_with_its_line(tmp_path: Path) -> None:
    text = GOOD.replace("    format: hl7v2\n", "    format: hl7v2\n    colour: blue\n")
    assert problems(tmp_path, text) == ["line 10, column 5: destinations[1].colour: unknown field"]


def test_an_address_that_does_not_fit_the_transport_is_named(tmp_path: Path) -> None:
    text = GOOD.replace("mllp://127.0.0.1:2576", "127.0.0.1:2576")
    assert problems(tmp_path, text) == [
        "line 8, column 5: destinations[1].address: an MLLP address needs the form mllp://host:port"
    ]


def test_every_problem_is_reported_at_once(tmp_path: Path) -> None:
    text = GOOD.replace("format: hl7v2", "format: pdf").replace("[admission]", "[admision]")
    found = problems(tmp_path, text)
    assert [line.split(":")[0] for line in found] == ["line 9, column 5", "line 12, column 14"]


def test_bad_yaml_is_named_with_its_line(tmp_path: Path) -> None:
    text = GOOD.replace("events: [admission]", "events: [admission")
    (problem,) = problems(tmp_path, text)
    # PyYAML notices the missing "]" where the next line's mapping key makes the list impossible
    assert problem.startswith("line 13, column 17: not valid YAML: expected ',' or ']'")


def test_a_key_given_twice_is_refused(tmp_path: Path) -> None:
    # YAML itself would silently keep the second "routes" and drop the first.
    text = GOOD + "routes:\n  - events: [discharge]\n    destinations: [treserva]\n"
    assert problems(tmp_path, text) == [
        "line 14, column 1: key 'routes' is given more than once in this mapping"
    ]


@pytest.mark.parametrize("text", ["", "# nothing\n", "- a\n- b\n", "just text\n"])
def test_a_file_that_is_not_a_mapping_is_refused(tmp_path: Path, text: str) -> None:
    (problem,) = problems(tmp_path, text)
    assert problem.endswith("the routing file must be a mapping with destinations and routes")


def test_a_missing_file_is_refused(tmp_path: Path) -> None:
    with pytest.raises(RoutingFileError, match="cannot read"):
        parse_routing_file(tmp_path / "nowhere.yaml")


def test_a_file_that_is_not_utf8_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "routing.yaml"
    path.write_bytes(b"destinations: \xff\xfe\n")
    with pytest.raises(RoutingFileError, match="cannot read"):
        parse_routing_file(path)
