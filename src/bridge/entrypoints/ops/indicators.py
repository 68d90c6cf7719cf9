"""``/ops/indicators`` and ``/ops/deviations``: the monthly indicators with charts, their CSV and
FHIR MeasureReport exports, and the collaboration deviations for quality staff.

Charts are inline SVG drawn here on the server (no script, no CDN; the pages' Content Security
Policy allows neither). Everything reads through ``bridge.indicators`` and ``bridge.deviations``
(docs/deadlines.md); closing or commenting a deviation needs the operator role and is audited
with the signed-in person's name.
"""

# No `from __future__ import annotations`: FastAPI must see the Annotated aliases as objects.
import json
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime
from html import escape
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, HTTPException, Request, Response
from fastapi.responses import RedirectResponse
from markupsafe import Markup
from pydantic import BaseModel, Field

from bridge.domain.indicators import ALL_UNITS, DEFINITIONS, IndicatorValue, Month
from bridge.domain.report_periods import HalfYear, Year, parse_span
from bridge.entrypoints.ops.context import TIMEZONE, Ops, form
from bridge.entrypoints.ops.security import SignedIn
from bridge.service.care.deviations import (
    DeviationFilter,
    DeviationNotFound,
    DeviationStateError,
)
from bridge.service.operations.users import Role

FHIR_JSON = "application/fhir+json"
SHARES = ("admission-notice-24h", "sip-invitation-3d", "readmission-30d-65plus")
LEGEND = {
    "admission-notice-24h": "Admission notice ≤ 24 h",
    "sip-invitation-3d": "SIP invitation ≤ 3 days",
    "readmission-30d-65plus": "Readmitted ≤ 30 d, 65+",
}
COLOURS = ("#3b82c4", "#1d6b52", "#c0392b", "#e59b2f", "#6b3fa0")
TREND_MONTHS = 6


class NoteRequest(BaseModel):
    text: str = Field(min_length=1, max_length=2000)


def indicators_router(ops: Ops) -> APIRouter:
    """Pages under ``/ops/`` and JSON under ``/ops/api/`` for indicators and deviations."""
    router = APIRouter()
    router.include_router(_pages(ops))
    router.include_router(_api(ops))
    return router


def _month(ops: Ops, text: str) -> Month | HalfYear | Year:
    """A month ``YYYY-MM``, a half-year ``YYYY-H1``/``YYYY-H2`` or a year ``YYYY``."""
    if not text:
        return ops.bridge.indicators.current_month()
    span = parse_span(text)
    if span is not None:
        return span
    try:
        return Month.parse(text)
    except ValueError as error:
        raise HTTPException(400, str(error)) from None


def _pages(ops: Ops) -> APIRouter:
    router = APIRouter(include_in_schema=False)
    viewer = Annotated[SignedIn, Depends(ops.guard(Role.VIEWER, page=True))]
    operator = Annotated[SignedIn, Depends(ops.guard(Role.OPERATOR, page=True))]

    @router.get("/indicators")
    async def indicators_page(request: Request, who: viewer, month: str = "") -> Response:
        chosen = _month(ops, month)
        trend = await ops.bridge.indicators.months(chosen, TREND_MONTHS)
        rows = trend[str(chosen)]
        return ops.render(
            "indicators.html",
            request,
            who,
            month=str(chosen),
            previous=str(chosen.previous()),
            next=str(chosen.next()),
            table=_table(rows),
            provisional=any(row.provisional for row in rows),
            charts=_charts(rows, trend),
        )

    @router.get("/indicators.csv")
    async def indicators_csv(who: viewer, month: str = "") -> Response:
        chosen = _month(ops, month)
        text = await ops.bridge.indicators.csv(chosen)
        return Response(
            text.encode("utf-8"),
            media_type="text/csv; charset=utf-8",
            headers={
                "Content-Disposition": f'attachment; filename="indicators-{chosen}.csv"',
                "Cache-Control": "no-store",
            },
        )

    @router.get("/deviations")
    async def deviations_page(
        request: Request, who: viewer, status: str = "open", done: str = ""
    ) -> Response:
        where = DeviationFilter(status=None if status == "all" else status)
        views = await ops.bridge.deviations.find(where)
        await ops.record(who, "deviations_viewed", status=status, count=len(views))
        return ops.render(
            "deviations.html", request, who, deviations=views, status=status, done=done
        )

    @router.get("/deviations/{deviation_id}")
    async def deviation_page(request: Request, who: viewer, deviation_id: str) -> Response:
        try:
            view, notes = await ops.bridge.deviations.show(deviation_id)
        except DeviationNotFound:
            raise HTTPException(404, "no such deviation") from None
        await ops.record(who, "deviation_viewed", deviation_id=deviation_id)
        return ops.render("deviation.html", request, who, d=view, notes=notes)

    @router.post("/deviations/{deviation_id}/{action}")
    async def deviation_action(
        request: Request, who: operator, deviation_id: str, action: str
    ) -> Response:
        text = (await form(request)).get("text", "")
        await _act(ops, who, deviation_id, action, text)
        target = quote(deviation_id, safe="")
        return RedirectResponse(f"/ops/deviations/{target}?done={action}", status_code=303)

    return router


def _api(ops: Ops) -> APIRouter:
    router = APIRouter(prefix="/api", tags=["ops"])
    viewer = Annotated[SignedIn, Depends(ops.guard(Role.VIEWER, page=False))]
    operator = Annotated[SignedIn, Depends(ops.guard(Role.OPERATOR, page=False))]

    @router.get("/indicators", summary="The month's indicators per care unit")
    async def indicators(who: viewer, month: str = "") -> dict[str, Any]:
        chosen = _month(ops, month)
        rows = await ops.bridge.indicators.month(chosen)
        return {"month": str(chosen), "rows": [_row_json(row) for row in rows]}

    @router.get(
        "/indicators/measure-report",
        summary="The month's indicators as a FHIR R4 MeasureReport",
        response_class=Response,
    )
    async def measure_report(who: viewer, month: str = "") -> Response:
        report = await ops.bridge.indicators.measure_report(_month(ops, month))
        return Response(json.dumps(report, ensure_ascii=False).encode(), media_type=FHIR_JSON)

    @router.get("/deviations", summary="Collaboration deviations (status open, closed or all)")
    async def deviations(who: viewer, status: str = "open") -> list[dict[str, Any]]:
        where = DeviationFilter(status=None if status == "all" else status)
        views = await ops.bridge.deviations.find(where)
        await ops.record(who, "deviations_viewed", status=status, count=len(views))
        return [view.to_json() for view in views]

    @router.post("/deviations/{deviation_id}/comment", summary="Comment on a deviation")
    async def comment(who: operator, deviation_id: str, body: NoteRequest) -> dict[str, str]:
        await _act(ops, who, deviation_id, "comment", body.text)
        return {"status": "commented"}

    @router.post("/deviations/{deviation_id}/close", summary="Close a deviation, saying why")
    async def close(who: operator, deviation_id: str, body: NoteRequest) -> dict[str, str]:
        await _act(ops, who, deviation_id, "close", body.text)
        return {"status": "closed"}

    return router


async def _act(ops: Ops, who: SignedIn, deviation_id: str, action: str, text: str) -> None:
    deviations = ops.bridge.deviations
    by = who.user.username
    try:
        if action == "comment":
            await deviations.comment(deviation_id, by=by, text=text)
        elif action == "close":
            await deviations.close(deviation_id, by=by, reason=text)
        elif action == "reopen":
            await deviations.reopen(deviation_id, by=by, reason=text)
        else:
            raise HTTPException(404, "no such action")
    except DeviationNotFound:
        raise HTTPException(404, "no such deviation") from None
    except (DeviationStateError, ValueError) as error:
        raise HTTPException(409, str(error)) from None


def _row_json(row: IndicatorValue) -> dict[str, Any]:
    return {
        "indicator": row.indicator,
        "title": row.definition.title,
        "unit": row.unit.key,
        "unit_name": row.unit.name,
        "numerator": row.numerator,
        "denominator": row.denominator,
        "value": row.value,
        "measure_unit": row.definition.measure_unit,
        "provisional": row.provisional,
    }


# --- the table -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Cell:
    value: str
    detail: str


@dataclass(frozen=True)
class Table:
    units: list[tuple[str, str]]
    rows: list[tuple[str, str, list[Cell]]]


def _table(rows: list[IndicatorValue]) -> Table:
    """One row per indicator, one column per unit (all units last), as the CSV has them."""
    units: dict[str, str] = {}
    for row in rows:
        if row.unit != ALL_UNITS:
            units.setdefault(row.unit.key, row.unit.name or row.unit.key)
    columns = [*sorted(units.items()), (ALL_UNITS.key, ALL_UNITS.name or "All units")]
    found = {(row.indicator, row.unit.key): row for row in rows}
    table_rows = []
    for definition in DEFINITIONS:
        cells = [_cell(found.get((definition.id, key))) for key, _ in columns]
        table_rows.append((definition.id, definition.title, cells))
    return Table(columns, table_rows)


def _cell(row: IndicatorValue | None) -> Cell:
    if row is None or row.value is None:
        return Cell("—", "")
    unit = row.definition.measure_unit
    shown = f"{_number(row.value)} {unit}" if not unit.startswith("{") else _number(row.value)
    if row.numerator is not None and row.denominator is not None:
        return Cell(shown, f"{_number(row.numerator)} of {row.denominator}")
    if row.denominator is not None:
        return Cell(shown, f"n = {row.denominator}")
    return Cell(shown, "")


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:g}"


# --- the charts (inline SVG) -----------------------------------------------------------------


def _charts(rows: list[IndicatorValue], trend: dict[str, list[IndicatorValue]]) -> list[Markup]:
    titles = {definition.id: definition.title for definition in DEFINITIONS}
    by_unit: dict[str, list[tuple[str, float | None, str]]] = defaultdict(list)
    for row in rows:
        if row.indicator in SHARES:
            detail = f"{_number(row.numerator or 0)}/{row.denominator or 0}"
            by_unit[row.indicator].append((row.unit.name or row.unit.key, row.value, detail))
    charts = [
        bar_chart(f"{titles[name]} (%)", by_unit.get(name, []), 100.0, "%") for name in SHARES
    ]
    unreceipted = [
        (row.unit.name or row.unit.key, row.value, f"of {row.denominator or 0}")
        for row in rows
        if row.indicator == "unreceipted-notices"
    ]
    top = max((value or 0 for _, value, _ in unreceipted), default=0) or 1.0
    charts.append(bar_chart(titles["unreceipted-notices"], unreceipted, top, ""))
    series = []
    for index, name in enumerate(SHARES):
        values = [_all_units(month_rows, name) for month_rows in trend.values()]
        series.append((LEGEND[name], values, COLOURS[index]))
    charts.append(line_chart("Trend, all units (%)", list(trend), series))
    return charts


def _all_units(rows: list[IndicatorValue], indicator: str) -> float | None:
    for row in rows:
        if row.indicator == indicator and row.unit == ALL_UNITS:
            return row.value
    return None


WIDTH = 560


def bar_chart(
    title: str, bars: list[tuple[str, float | None, str]], top: float, suffix: str
) -> Markup:
    """Horizontal bars, one per unit, labelled with the value and its count."""
    row_height, left, right = 28, 190, 110
    height = 40 + row_height * max(len(bars), 1)
    span = WIDTH - left - right
    parts = [_svg_open(height, title), _text(12, 20, title, weight="600", size=14)]
    if not bars:
        parts.append(_text(12, 48, "nothing to count this month", fill="#6b7a8c"))
    for index, (label, value, detail) in enumerate(bars):
        y = 32 + index * row_height
        length = 0 if value is None or top <= 0 else max(span * value / top, 1)
        colour = COLOURS[0] if label != ALL_UNITS.name else "#14243a"
        parts.append(_text(12, y + 15, _clip(label, 26)))
        parts.append(
            f'<rect x="{left}" y="{y + 3}" width="{span}" height="16" fill="#eef1f5" rx="3"/>'
        )
        parts.append(
            f'<rect class="bar" x="{left}" y="{y + 3}" width="{length:.1f}" height="16" '
            f'fill="{colour}" rx="3"><title>{escape(label)}: {escape(_value(value, suffix))} '
            f"({escape(detail)})</title></rect>"
        )
        note = f"{_value(value, suffix)} ({detail})"
        parts.append(_text(left + span + 8, y + 15, note, size=12))
    parts.append("</svg>")
    return Markup("".join(parts))  # noqa: S704 - every text above is escaped


def line_chart(
    title: str, months: list[str], series: list[tuple[str, list[float | None], str]]
) -> Markup:
    """A line per series over the months (0–100 %), with a legend."""
    height, left, top, bottom = 250, 44, 34, 190
    step = (WIDTH - left - 50) / max(len(months) - 1, 1)
    parts = [_svg_open(height, title), _text(12, 20, title, weight="600", size=14)]
    for level in (0, 50, 100):
        y = bottom - (bottom - top) * level / 100
        parts.append(
            f'<line x1="{left}" y1="{y:.1f}" x2="{WIDTH - 50}" y2="{y:.1f}" stroke="#dfe5ec"/>'
        )
        parts.append(_text(8, y + 4, f"{level}", size=11, fill="#6b7a8c"))
    for index, month in enumerate(months):
        x = left + index * step
        parts.append(_text(x, bottom + 18, month, size=11, fill="#6b7a8c", anchor="middle"))
    for number, (name, values, colour) in enumerate(series):
        points = [
            (left + index * step, bottom - (bottom - top) * value / 100)
            for index, value in enumerate(values)
            if value is not None
        ]
        if len(points) > 1:
            path = " ".join(f"{x:.1f},{y:.1f}" for x, y in points)
            parts.append(
                f'<polyline points="{path}" fill="none" stroke="{colour}" stroke-width="2"/>'
            )
        for x, y in points:
            parts.append(f'<circle class="point" cx="{x:.1f}" cy="{y:.1f}" r="3" fill="{colour}"/>')
        legend_y = bottom + 36
        legend_x = left + number * 165
        parts.append(
            f'<rect x="{legend_x}" y="{legend_y - 9}" width="10" height="10" fill="{colour}"/>'
        )
        parts.append(_text(legend_x + 14, legend_y, name, size=11))
    parts.append("</svg>")
    return Markup("".join(parts))  # noqa: S704 - every text above is escaped


def _svg_open(height: int, title: str) -> str:
    return (
        f'<svg class="chart" xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" '
        f'height="{height}" viewBox="0 0 {WIDTH} {height}" role="img" '
        f'aria-label="{escape(title)}" font-family="system-ui, sans-serif">'
    )


def _text(
    x: float,
    y: float,
    text: str,
    *,
    size: int = 12,
    weight: str = "400",
    fill: str = "#1f2d3d",
    anchor: str = "start",
) -> str:
    return (
        f'<text x="{x:.1f}" y="{y:.1f}" font-size="{size}" font-weight="{weight}" '
        f'fill="{fill}" text-anchor="{anchor}">{escape(text)}</text>'
    )


def _clip(text: str, length: int) -> str:
    return text if len(text) <= length else text[: length - 1] + "…"


def _value(value: float | None, suffix: str) -> str:
    return "—" if value is None else f"{_number(value)}{suffix and ' ' + suffix}"


def local(moment: datetime | None) -> str:
    return moment.astimezone(TIMEZONE).strftime("%Y-%m-%d %H:%M %Z") if moment else "—"
