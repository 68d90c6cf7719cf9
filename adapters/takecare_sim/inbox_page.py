"""The page at ``/``: what the bridge sent TakeCare, newest first, as plain HTML."""

from __future__ import annotations

from html import escape
from zoneinfo import ZoneInfo

from bridge.domain.identifiers import mask
from takecare_sim.inbox import InboxItem

_STOCKHOLM = ZoneInfo("Europe/Stockholm")
_LABELS = {
    "homecare-enrolment-started": "Home-care enrolment started (inskrivning i hemsjukvården)",
    "homecare-enrolment-ended": "Home-care enrolment ended",
    "receipt": "Receipt (kvittens)",
    "ADT^A01": "Admission notice (inskrivningsmeddelande)",
    "ADT^A03": "Discharge notice (utskrivningsmeddelande)",
    "ADT^A08": "Estimated discharge changed",
    "ADT^A11": "Admission cancelled",
    "ADT^A13": "Discharge cancelled",
    "ADT^A16": "Discharge-ready (utskrivningsklar)",
    "ADT^A25": "Discharge-ready withdrawn",
    "SIU^S12": "SIP meeting booked",
    "SIU^S13": "SIP meeting moved",
    "SIU^S15": "SIP meeting cancelled",
}
_STYLE = """
body{font-family:system-ui,sans-serif;margin:2rem;color:#1d2733;background:#f6f7f9}
h1{font-size:1.4rem;margin:0 0 .25rem}p.meta{color:#5b6673;margin:0 0 1rem}
table{border-collapse:collapse;width:100%;background:#fff;box-shadow:0 1px 3px #0002}
th,td{text-align:left;padding:.5rem .75rem;border-bottom:1px solid #e3e6ea;font-size:.95rem}
th{background:#2f6b3f;color:#fff;font-weight:600}.empty{padding:2rem;text-align:center}
"""


def _row(item: InboxItem) -> str:
    received = item.received_at.astimezone(_STOCKHOLM).strftime("%Y-%m-%d %H:%M:%S")
    event = _LABELS.get(item.event_code, item.event_code)
    patient = mask(item.patient_identifier) if item.patient_identifier else "—"
    cells = (received, event, f"{item.format} over {item.channel}", patient)
    return "<tr>" + "".join(f"<td>{escape(cell)}</td>" for cell in cells) + "</tr>"


def render_inbox(items: list[InboxItem], total: int) -> str:
    """The whole page; every value from a message is HTML-escaped, personnummer masked."""
    rows = "".join(_row(item) for item in items)
    empty = '<tr><td colspan="4" class="empty">Nothing received yet.</td></tr>'
    head = "".join(f"<th>{h}</th>" for h in ("Received", "Event", "Format", "Patient"))
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta http-equiv="refresh" content="5"><title>TakeCare simulator — inbox</title>'
        f"<style>{_STYLE}</style></head><body><h1>TakeCare inbox</h1>"
        f'<p class="meta">TakeCare simulator · {total} messages from the bridge · newest first</p>'
        f"<table><thead><tr>{head}</tr></thead><tbody>{rows or empty}</tbody></table>"
        "</body></html>"
    )
