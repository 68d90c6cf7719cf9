"""The worklist page home-care staff would see: filed notices, newest first, as plain HTML."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from html import escape
from typing import Any
from zoneinfo import ZoneInfo

from bridge.domain.identifiers import mask
from treserva_sim.fhir import JsonObject, resources
from treserva_sim.inbox import InboxItem

_STOCKHOLM = ZoneInfo("Europe/Stockholm")
_ESTIMATED_DISCHARGE = "estimated-discharge-date"
_EVENT_LABELS = {
    "admission": "Admission notice (inskrivningsmeddelande)",
    "estimated-discharge-changed": "Estimated discharge changed",
    "discharge-ready": "Discharge-ready (utskrivningsklar)",
    "discharge-ready-withdrawn": "Discharge-ready withdrawn",
    "discharge": "Discharge notice (utskrivningsmeddelande)",
    "admission-cancelled": "Admission cancelled",
    "discharge-cancelled": "Discharge cancelled",
    "transfer": "Transfer",
    "patient-merge": "Patient identity merged",
    "sip-meeting-booked": "SIP meeting booked (kallelse till SIP)",
    "sip-meeting-moved": "SIP meeting moved",
    "sip-meeting-cancelled": "SIP meeting cancelled",
    "sip-plan-established": "SIP plan established",
    "sip-plan-updated": "SIP plan updated",
    "sip-plan-closed": "SIP plan closed",
    "patient-demographics-changed": "Patient demographics changed (ändrade personuppgifter)",
    "homecare-order": "Home-care order (beställning)",
}


@dataclass(frozen=True)
class WorklistRow:
    received: str
    event: str
    patient: str
    protected: bool
    unit: str
    estimated_discharge: str


def _patient(bundle: JsonObject, identifier: str | None) -> tuple[str, bool]:
    masked = mask(identifier) if identifier else "no identifier"
    for patient in resources(bundle, "Patient"):
        names: list[Any] = patient.get("name") or [{}]
        name = names[0] if isinstance(names[0], dict) else {}
        given = " ".join(str(part) for part in name.get("given") or [])
        display = f"{name.get('family', '')}, {given}".strip(", ")
        protected = bool((patient.get("meta") or {}).get("security"))
        return (f"{display} ({masked})" if display else masked), protected
    return masked, False


def _unit(encounter: JsonObject) -> str:
    for location in encounter.get("location") or []:
        display = (location.get("location") or {}).get("display")
        if display:
            return str(display)
    return str((encounter.get("serviceProvider") or {}).get("display") or "")


def _local_date(value: str) -> str:
    """The Stockholm calendar date of a FHIR date or dateTime, as written when unreadable."""
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return value[:10]
    return (moment.astimezone(_STOCKHOLM) if moment.tzinfo else moment).date().isoformat()


def _estimated_discharge(encounter: JsonObject) -> str:
    for extension in encounter.get("extension") or []:
        if str(extension.get("url", "")).endswith(_ESTIMATED_DISCHARGE):
            return _local_date(str(extension.get("valueDateTime") or extension.get("valueDate")))
    return ""


def row_for(item: InboxItem) -> WorklistRow:
    """What the page shows of one filed notice; tolerant of whatever the bundle lacks."""
    encounters = resources(item.bundle, "Encounter")
    encounter = encounters[0] if encounters else {}
    patient, protected = _patient(item.bundle, item.patient_identifier)
    received = item.received_at.astimezone(_STOCKHOLM).strftime("%Y-%m-%d %H:%M:%S %Z")
    event = _EVENT_LABELS.get(item.event_code, item.event_code)
    return WorklistRow(
        received, event, patient, protected, _unit(encounter), _estimated_discharge(encounter)
    )


_STYLE = """
body{font-family:system-ui,sans-serif;margin:2rem;color:#1d2733;background:#f6f7f9}
h1{font-size:1.4rem;margin:0 0 .25rem}p.meta{color:#5b6673;margin:0 0 1rem}
table{border-collapse:collapse;width:100%;background:#fff;box-shadow:0 1px 3px #0002}
th,td{text-align:left;padding:.5rem .75rem;border-bottom:1px solid #e3e6ea;font-size:.95rem}
th{background:#24517a;color:#fff;font-weight:600}tr:nth-child(even) td{background:#f9fafb}
.badge{background:#b3261e;color:#fff;border-radius:3px;padding:0 .35rem;font-size:.8rem}
.empty{padding:2rem;text-align:center;color:#5b6673}
"""


def _row_html(row: WorklistRow) -> str:
    badge = ' <span class="badge">Protected identity</span>' if row.protected else ""
    return (
        f"<tr><td>{escape(row.received)}</td><td>{escape(row.event)}</td>"
        f"<td>{escape(row.patient)}{badge}</td><td>{escape(row.unit)}</td>"
        f"<td>{escape(row.estimated_discharge or '—')}</td></tr>"
    )


def render_worklist(items: list[InboxItem], total: int) -> str:
    """The whole page; every value from a notice is HTML-escaped."""
    rows = "".join(_row_html(row_for(item)) for item in items)
    empty = '<tr><td colspan="5" class="empty">No notices yet.</td></tr>'
    head = "".join(
        f"<th>{h}</th>"
        for h in ("Received (Europe/Stockholm)", "Event", "Patient", "Unit", "Est. discharge")
    )
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta http-equiv="refresh" content="5"><title>Treserva simulator — worklist</title>'
        f"<style>{_STYLE}</style></head><body><h1>Home care worklist</h1>"
        f'<p class="meta">Treserva simulator · {total} notices filed · newest first · '
        '<a href="/orders">Home-care orders (beställningar): answer them</a></p>'
        f"<table><thead><tr>{head}</tr></thead><tbody>{rows or empty}</tbody></table>"
        "</body></html>"
    )
