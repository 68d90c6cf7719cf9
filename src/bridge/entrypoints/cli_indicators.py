"""`bridge indicators`: the monthly indicators per care unit — table, CSV, FHIR MeasureReport."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer

from bridge.config import Settings
from bridge.domain.indicators import IndicatorValue, Month
from bridge.domain.report_periods import parse_span
from bridge.entrypoints.cli_output import AsJson, echo_json
from bridge.service.care.deviations import RuleFileError, load_rule_book
from bridge.service.care.indicators import Indicators
from bridge.service.care.reported_deviations import deviation_entries
from bridge.service.clock import SystemClock
from bridge.store.db import Database

app = typer.Typer(
    help="Monthly indicators per care unit: table, CSV and FHIR MeasureReport.",
    no_args_is_help=True,
)

T = TypeVar("T")

MonthOption = Annotated[
    str | None,
    typer.Option(
        "--month",
        help="YYYY-MM, a half-year YYYY-H1/YYYY-H2 or a year YYYY (default: the current month).",
    ),
]
Output = Annotated[Path | None, typer.Option("--output", "-o", help="File (default: stdout).")]


@app.callback()
def _group() -> None:
    """Monthly indicators per care unit: table, CSV and FHIR MeasureReport."""


def _run(work: Callable[[Indicators, Any], Awaitable[T]], month: str | None) -> T:
    settings = Settings()
    try:
        rules = load_rule_book(settings.deadline_rules_file)
        chosen = (parse_span(month) or Month.parse(month)) if month else None
    except (RuleFileError, ValueError) as error:
        typer.echo(f"error: {error}", err=True)
        raise typer.Exit(2) from None

    async def main() -> T:
        db = Database.for_settings(settings)
        try:
            indicators = Indicators(
                db, SystemClock(), rules, lambda since, until: deviation_entries(db, since, until)
            )
            return await work(indicators, chosen or indicators.current_month())
        finally:
            await db.close()

    return asyncio.run(main())


def _write(text: str, output: Path | None) -> None:
    if output is None:
        typer.echo(text, nl=False)
    else:
        output.write_text(text, encoding="utf-8")
        typer.echo(f"wrote {output}", err=True)


@app.command()
def show(
    month: MonthOption = None,
    unit: Annotated[str | None, typer.Option(help="Only this unit (HSA-id, or 'all').")] = None,
    as_json: AsJson = False,
) -> None:
    """The indicators as a table."""
    rows = _run(lambda indicators, chosen: indicators.month(chosen), month)
    if as_json:
        echo_json([_indicator_json(row) for row in rows if not unit or row.unit.key == unit])
        return
    typer.echo(f"{'month':<8} {'unit':<24} {'indicator':<32} {'num':>7} {'den':>6} {'value':>8}")
    for row in rows:
        if unit and row.unit.key != unit:
            continue
        numerator = "" if row.numerator is None else f"{row.numerator:g}"
        denominator = "" if row.denominator is None else str(row.denominator)
        value = "" if row.value is None else f"{row.value:g} {row.definition.measure_unit}"
        typer.echo(
            f"{row.month:<8} {row.unit.key[:24]:<24} {row.indicator:<32} "
            f"{numerator:>7} {denominator:>6} {value:>8}"
        )


def _indicator_json(row: IndicatorValue) -> dict[str, object]:
    return {
        "month": row.month,
        "unit": row.unit.key,
        "indicator": row.indicator,
        "numerator": row.numerator,
        "denominator": row.denominator,
        "value": row.value,
        "measure_unit": row.definition.measure_unit,
    }


@app.command()
def csv(month: MonthOption = None, output: Output = None) -> None:
    """The indicators as CSV (one row per indicator and unit)."""
    _write(_run(lambda indicators, chosen: indicators.csv(chosen), month), output)


@app.command("measure-report")
def measure_report(month: MonthOption = None, output: Output = None) -> None:
    """The indicators as a FHIR R4 MeasureReport (JSON)."""
    report = _run(lambda indicators, chosen: indicators.measure_report(chosen), month)
    _write(json.dumps(report, ensure_ascii=False, indent=2) + "\n", output)
