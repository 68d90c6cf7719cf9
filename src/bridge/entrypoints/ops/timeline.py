"""A message's history as people read it: steps with a tone, and a progress strip."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from bridge.service.operations.history import HistoryEntry, MessageHistory

READS = ("message_viewed", "dead_letter_viewed")


@dataclass(frozen=True)
class Step:
    at: datetime
    title: str
    detail: str
    tone: str  # ok, info, warn, bad, muted
    actor: str | None = None


@dataclass(frozen=True)
class Stage:
    label: str
    state: str  # done, failed, current, todo, skipped


def _attempt_text(detail: dict[str, Any]) -> str:
    code = f"HTTP {detail['status_code']}" if detail.get("status_code") else ""
    error = str(detail.get("error") or "")
    if code and error.startswith(code):
        return error
    return " · ".join(part for part in (code, error) if part)


def step(entry: HistoryEntry) -> Step:
    d = entry.detail
    dest = d.get("destination", "")
    attempt = d.get("attempt")
    human = entry.actor if entry.actor != "bridge" else None
    match entry.action:
        case "accepted":
            return Step(
                entry.at,
                f"Received via {str(d.get('entrypoint', '')).upper()} and accepted",
                f"{d.get('event', '')} · sender id {d.get('dedupe_key', '')}",
                "ok",
            )
        case "duplicate":
            return Step(
                entry.at,
                "Received again: a duplicate",
                "acknowledged again, not delivered twice",
                "info",
            )
        case "routed":
            return Step(entry.at, "Routed", ", ".join(d.get("destinations") or []) or "—", "info")
        case "outbox":
            return Step(entry.at, f"Queued for {dest}", "waiting for delivery", "info")
        case "attempt_failed":
            return Step(entry.at, f"Attempt {attempt} to {dest} failed", _attempt_text(d), "warn")
        case "delivered":
            return Step(entry.at, f"Delivered to {dest}", f"attempt {attempt}", "ok")
        case "receipted":
            return Step(entry.at, "Receipt: in the worklist", d.get("code", "ok"), "ok")
        case "receipt_negative":
            return Step(entry.at, "Negative receipt", str(d.get("code", "")), "bad")
        case "unreceipted":
            return Step(entry.at, "No receipt in time", "the receiver has not confirmed", "bad")
        case "dead_lettered":
            return Step(
                entry.at,
                f"Dead letter: {dest} ({d.get('reason', 'failed')})",
                _attempt_text(d),
                "bad",
            )
        case "dead_letter_replayed":
            return Step(entry.at, "Replayed", d.get("reason") or "", "info", human)
        case "dead_letter_discarded":
            return Step(entry.at, "Discarded", d.get("reason") or "", "warn", human)
        case _:
            text = ", ".join(f"{k} {v}" for k, v in sorted(d.items()) if v not in (None, ""))
            return Step(entry.at, entry.action.replace("_", " ").capitalize(), text, "muted", human)


def steps(history: MessageHistory) -> tuple[list[Step], list[Step]]:
    """The timeline, and apart from it the reads of this message (who opened it, when)."""
    timeline = [step(e) for e in history.entries if e.action not in READS]
    reads = [
        Step(e.at, "Opened", e.action.replace("_", " "), "muted", e.actor)
        for e in history.entries
        if e.action in READS
    ]
    return timeline, reads


def stages(history: MessageHistory, expects_receipt: bool) -> list[Stage]:
    """Received → Accepted → Queued → Delivered → Receipted, each done, failed or to come."""
    actions = [e.action for e in history.entries]
    statuses = {d["status"] for d in history.deliveries}
    delivered = bool(statuses) and statuses <= {"delivered"}
    dead = "dead" in statuses
    result = [Stage("Received", "done"), Stage("Accepted", "done")]
    result.append(Stage("Queued", "done" if "outbox" in actions else "todo"))
    if delivered:
        result.append(Stage("Delivered", "done"))
    elif dead:
        result.append(Stage("Dead letter", "failed"))
    else:
        result.append(Stage("Delivered", "current" if statuses else "todo"))
    if not expects_receipt:
        result.append(Stage("No receipt expected", "skipped"))
    elif "receipted" in actions:
        result.append(Stage("Receipted", "done"))
    elif "unreceipted" in actions or "receipt_negative" in actions:
        result.append(Stage("No receipt", "failed"))
    else:
        result.append(Stage("Receipted", "current" if delivered else "todo"))
    return result
