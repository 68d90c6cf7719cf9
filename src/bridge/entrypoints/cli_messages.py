"""``bridge messages show|list|search``: a message's history as a timeline; messages as tables."""

from __future__ import annotations

import asyncio
import getpass
import json
import re
from dataclasses import asdict
from datetime import UTC, datetime, timedelta
from typing import Annotated

import typer

from bridge.config import Settings
from bridge.entrypoints.cli_output import AsJson, echo_json, iso
from bridge.service.operations import audit
from bridge.service.operations.history import find_message_id, message_history
from bridge.service.operations.operations import (
    OUTCOMES,
    MessageFilter,
    MessageSummary,
    PatientNotRecognised,
    search_messages,
)
from bridge.store.db import Database


async def show(settings: Settings, reference: str, *, as_json: bool = False) -> bool:
    db = Database.for_settings(settings)
    try:
        message_id = await find_message_id(db, reference)
        history = await message_history(db, message_id) if message_id else None
    finally:
        await db.close()
    if history is None:
        typer.echo(f"no message found for {reference!r}", err=True)
        return False
    if as_json:
        echo_json(history)
        return True
    typer.echo(f"message     {history.message_id}")
    typer.echo(f"sender id   {history.dedupe_key}")
    typer.echo(f"event       {history.event_code}")
    typer.echo(f"patient     {history.patient_masked}")
    if history.unrecognised_restriction:
        typer.echo(
            "protection  treated as protected (address withheld): unrecognised code "
            f"{history.unrecognised_restriction}"
        )
    typer.echo(f"received    {iso(history.received_at)} via {history.entrypoint}")
    for delivery in history.deliveries:
        typer.echo(
            f"delivery    {delivery['destination']}: {delivery['status']}"
            f" after {len(delivery['attempts'])} attempt(s)"
        )
    typer.echo("")
    typer.echo(f"{'time (ISO 8601, UTC)':<25} {'action':<15} {'actor':<10} detail")
    for entry in history.entries:
        detail = json.dumps(entry.detail, ensure_ascii=False, sort_keys=True)
        typer.echo(f"{iso(entry.at):<25} {entry.action:<15} {entry.actor:<10} {detail}")
    return True


def register(messages: typer.Typer) -> None:
    """Add ``list`` and ``search`` to the ``bridge messages`` group."""
    messages.command("list")(list_command)
    messages.command("search")(search_command)


def list_command(
    limit: Annotated[int, typer.Option(help="How many, newest first.")] = 20,
    event: Annotated[str | None, typer.Option(help="Only this event type.")] = None,
    status: Annotated[
        str | None, typer.Option(help="Only with a delivery in this state (dead, pending, …).")
    ] = None,
    since: Annotated[
        str | None, typer.Option(help="Only received since: 30m, 2h, 1d or an ISO time.")
    ] = None,
    outcome: Annotated[str | None, typer.Option(help=_OUTCOME_HELP)] = None,
    as_json: AsJson = False,
) -> None:
    """The latest messages as a table (patients masked)."""
    where = MessageFilter(
        event_code=event, status=status, received_from=_since(since), outcome=_outcome(outcome)
    )
    _print(asyncio.run(_search(Settings(), where, limit)), as_json=as_json)


def search_command(
    patient: Annotated[
        str | None, typer.Option(help="A personnummer or samordningsnummer (audited).")
    ] = None,
    reference: Annotated[
        str | None, typer.Option("--id", help="Message id, facility|control id or control id.")
    ] = None,
    event: Annotated[str | None, typer.Option(help="Event type.")] = None,
    status: Annotated[str | None, typer.Option(help="A delivery state.")] = None,
    since: Annotated[str | None, typer.Option(help="30m, 2h, 1d or an ISO time.")] = None,
    until: Annotated[str | None, typer.Option(help="An ISO time.")] = None,
    outcome: Annotated[str | None, typer.Option(help=_OUTCOME_HELP)] = None,
    limit: Annotated[int, typer.Option()] = 100,
    as_json: AsJson = False,
) -> None:
    """Find answered messages by patient, id, event type, delivery state, outcome and time.

    Every message the bridge answered is found: accepted (routed, or not routed), filtered (with
    the rule) and rejected (with the reason)."""
    where = MessageFilter(
        reference=reference,
        event_code=event,
        received_from=_since(since),
        received_to=_since(until),
        patient=patient,
        status=status,
        outcome=_outcome(outcome),
    )
    try:
        found = asyncio.run(_search(Settings(), where, limit, audited=bool(patient or reference)))
    except PatientNotRecognised as problem:
        typer.echo(f"patient identifier not recognised: {problem}", err=True)
        raise typer.Exit(2) from None
    _print(found, as_json=as_json)


async def _search(
    settings: Settings, where: MessageFilter, limit: int, *, audited: bool = False
) -> list[MessageSummary]:
    db = Database.for_settings(settings)
    try:
        found = await search_messages(db, where, settings.patient_key, limit=limit)
        if audited:
            async with db.session() as session, session.begin():
                audit.record(
                    session,
                    at=datetime.now(UTC),
                    action="messages_searched",
                    actor=f"cli:{getpass.getuser()}",
                    found=len(found),
                    **where.describe(),
                )
    finally:
        await db.close()
    return found


_OUTCOME_HELP = f"Only this outcome: {', '.join(OUTCOMES)}."


def _outcome(text: str | None) -> str | None:
    if text is not None and text not in OUTCOMES:
        raise typer.BadParameter(f"{text!r}: one of {', '.join(OUTCOMES)}")
    return text


def _since(text: str | None) -> datetime | None:
    if not text:
        return None
    match = re.fullmatch(r"(\d+)([mhd])", text.strip())
    if match:
        unit = {"m": "minutes", "h": "hours", "d": "days"}[match.group(2)]
        return datetime.now(UTC) - timedelta(**{unit: int(match.group(1))})
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        raise typer.BadParameter(f"{text!r}: use 30m, 2h, 1d or an ISO time") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _what_happened(message: MessageSummary) -> str:
    if message.reason is None:
        delivered = ", ".join(f"{d}: {s}" for d, s in message.deliveries.items()) or "-"
        if message.unrecognised_restriction:
            flag = f"UNRECOGNISED RESTRICTION {message.unrecognised_restriction}"
            return f"{delivered} [{flag}: treated as protected]"
        return delivered
    where = f"{message.location}: " if message.location else ""
    rule = f"rule {message.rule}: " if message.rule else ""
    return f"{rule}{where}{message.reason}"


def _print(found: list[MessageSummary], *, as_json: bool = False) -> None:
    if as_json:
        echo_json([{**asdict(message), "control_id": message.control_id} for message in found])
        return
    if not found:
        typer.echo("no message matches")
        return
    header = (
        f"{'RECEIVED (ISO 8601)':<25}  {'OUTCOME':<10} {'EVENT':<27} {'PATIENT':<14} "
        f"{'CONTROL ID':<24} DELIVERY / REASON"
    )
    typer.echo(header)
    for message in found:
        typer.echo(
            f"{iso(message.received_at):<25}  {message.outcome:<10} "
            f"{message.event_code:<27} {message.patient_masked:<14} "
            f"{message.control_id[:24]:<24} {_what_happened(message)}"
        )
    typer.echo(f"{len(found)} message(s), newest first; `bridge messages show ID` for one")
