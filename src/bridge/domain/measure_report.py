"""The monthly indicators as one FHIR R4 (4.0.1) MeasureReport. Pure, plain dicts.

One ``summary`` MeasureReport per month for the Measure
``…/fhir/Measure/care-transition-indicators``: one ``group`` per indicator (its ``code`` from
the CodeSystem ``…/fhir/CodeSystem/care-transition-indicator``), the all-units figures as the
group's populations and ``measureScore``, and a ``stratifier`` by care unit (HSA-id) with the
same figures per unit. Populations use the standard codes ``numerator`` / ``denominator``;
a sum (days) or a median (hours) is the ``measureScore`` with its UCUM unit.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from bridge.domain.episodes import STOCKHOLM, Unit
from bridge.domain.fhir.codes import CANONICAL_BASE
from bridge.domain.fhir.datetimes import format_datetime
from bridge.domain.identifiers import HSA_SYSTEM
from bridge.domain.indicators import ALL_UNITS, DEFINITION, DEFINITIONS, IndicatorValue
from bridge.domain.report_periods import Span, provisional

MEASURE_URL = f"{CANONICAL_BASE}Measure/care-transition-indicators"
INDICATOR_SYSTEM = f"{CANONICAL_BASE}CodeSystem/care-transition-indicator"
POPULATION_SYSTEM = "http://terminology.hl7.org/CodeSystem/measure-population"
UCUM = "http://unitsofmeasure.org"
UNIT_STRATIFIER = f"{CANONICAL_BASE}CodeSystem/indicator-stratifier"

Json = dict[str, Any]


def measure_report(values: Iterable[IndicatorValue], month: Span, generated: datetime) -> Json:
    """The MeasureReport for ``month`` (or a half-year, a year) from its indicator rows (as
    ``monthly_indicators`` gives): ``pending`` while the period runs, ``complete`` after."""
    by_indicator: dict[str, list[IndicatorValue]] = defaultdict(list)
    for row in values:
        by_indicator[row.indicator].append(row)
    groups = [
        _group(definition.id, by_indicator[definition.id])
        for definition in DEFINITIONS
        if by_indicator.get(definition.id)
    ]
    return {
        "resourceType": "MeasureReport",
        "id": str(uuid.uuid5(uuid.NAMESPACE_URL, f"{MEASURE_URL}|{month}")),
        "status": "pending" if provisional(month, generated) else "complete",
        "type": "summary",
        "measure": MEASURE_URL,
        "date": format_datetime(generated),
        "period": {
            "start": format_datetime(month.start.astimezone(STOCKHOLM)),
            "end": format_datetime(month.end.astimezone(STOCKHOLM)),
        },
        "reporter": {"display": "bridge (Region Gotland care-transition integration)"},
        "group": groups,
    }


def _group(indicator: str, rows: list[IndicatorValue]) -> Json:
    definition = DEFINITION[indicator]
    total = next((row for row in rows if row.unit == ALL_UNITS), None)
    group: Json = {
        "id": indicator,
        "code": {
            "coding": [{"system": INDICATOR_SYSTEM, "code": indicator, "display": definition.title}]
        },
    }
    if total is not None:
        group.update(_figures(total))
    strata = [_stratum(row) for row in rows if row.unit != ALL_UNITS]
    if strata:
        group["stratifier"] = [
            {
                "code": [
                    {
                        "coding": [{"system": UNIT_STRATIFIER, "code": "care-unit"}],
                        "text": "Care unit (HSA-id)",
                    }
                ],
                "stratum": strata,
            }
        ]
    return group


def _stratum(row: IndicatorValue) -> Json:
    return {"value": _unit_concept(row.unit), **_figures(row)}


def _unit_concept(unit: Unit) -> Json:
    concept: Json = {"text": unit.name or unit.key}
    if unit.hsa_id:
        concept["coding"] = [{"system": HSA_SYSTEM, "code": unit.hsa_id}]
    return concept


def _figures(row: IndicatorValue) -> Json:
    figures: Json = {}
    populations = []
    if row.numerator is not None and float(row.numerator).is_integer():
        populations.append(_population("numerator", int(row.numerator)))
    if row.denominator is not None:
        populations.append(_population("denominator", row.denominator))
    if populations:
        figures["population"] = populations
    if row.value is not None:
        figures["measureScore"] = _quantity(row.value, row.definition.measure_unit)
    return figures


def _population(code: str, count: int) -> Json:
    return {"code": {"coding": [{"system": POPULATION_SYSTEM, "code": code}]}, "count": count}


def _quantity(value: float, measure_unit: str) -> Json:
    return {"value": value, "unit": measure_unit, "system": UCUM, "code": measure_unit}
