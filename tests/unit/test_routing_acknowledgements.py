"""A source's HL7 v2 acknowledgement settings in the routing file (docs/hl7-conformance.md)."""

from __future__ import annotations

from pathlib import Path

import pytest

from bridge.domain.routing import AckConvention, TransportKind
from bridge.routing_file import RoutingFileError, parse_routing_text

BASE = """
sources:
  - name: takecare
    facilities: [SE2120000803]
    acknowledgements: {ACK}
destinations:
  - name: treserva
    address: http://127.0.0.1:8081/fhir
routes:
  - events: [admission]
    destinations: [treserva]
"""


def parse(acknowledgements: str):  # type: ignore[no-untyped-def]
    return parse_routing_text(BASE.replace("{ACK}", acknowledgements), Path("routing.yaml"))


def test_a_source_declares_its_convention_and_return_address() -> None:
    table = parse('{convention: legacy, return_address: "mllp://127.0.0.1:2577"}')
    [source] = table.sources
    assert source.acknowledgements.convention is AckConvention.LEGACY
    assert source.acknowledgements.return_transport is TransportKind.MLLP
    assert table.source_named("se2120000803", None) is source


def test_the_default_is_standard_without_a_return_address() -> None:
    [source] = parse("{}").sources
    assert source.acknowledgements.convention is AckConvention.STANDARD
    assert source.acknowledgements.return_address is None


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("{convention: loose}", "'loose' is not one of 'standard' or 'legacy'"),
        ('{return_address: "mllp://host-without-port"}', "mllp://host:port"),
        ("{colour: blue}", "unknown field"),
    ],
)
def test_a_wrong_setting_stops_start_up_naming_its_line(value: str, message: str) -> None:
    with pytest.raises(RoutingFileError) as error:
        parse(value)
    assert "line 5" in str(error.value) and message in str(error.value)
