"""`bridge reprocess`: run stored messages through the current routes and mappings again, and
`bridge deliveries resend`: send a delivered or unreceipted notice again (same idempotency key).

Both are audited under the operator's name (``--as``, default ``$BRIDGE_OPERATOR`` or the login
name) with the ``--reason`` they must give. ``--dry-run`` shows the plan and writes nothing.
"""

from __future__ import annotations

import asyncio
import getpass
import os
from collections import Counter
from datetime import UTC, datetime
from typing import Annotated

import typer
from rich.progress import Progress

from bridge.config import Settings
from bridge.entrypoints.cli_output import AsJson, echo_json
from bridge.routing_file import RoutingFileError, load_routing
from bridge.service.clock import SystemClock
from bridge.service.delivery.outbound import OutboundEncoder
from bridge.service.delivery.reprocess import (
    Action,
    Outcome,
    ReprocessFilter,
    Reprocessor,
    Step,
)
from bridge.service.delivery.resend import DeliveryNotFound, NotResendable, Resender, Resent
from bridge.service.operations.operations import PatientNotRecognised, patient_keys
from bridge.store.db import Database

Actor = Annotated[
    str | None,
    typer.Option(
        "--as", help="Operator name for the audit log (default: $BRIDGE_OPERATOR, login)."
    ),
]
Why = Annotated[str, typer.Option("--reason", help="Why (kept in the audit log).")]


def _actor(name: str | None) -> str:
    return name or os.environ.get("BRIDGE_OPERATOR") or getpass.getuser()


def _fail(message: str) -> typer.Exit:
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(1)


def reprocessor_for(settings: Settings, db: Database) -> Reprocessor:
    """A reprocessor with the routing file and encoder ``bridge serve`` would use now."""
    return Reprocessor(
        db,
        load_routing(settings),
        OutboundEncoder(settings.source_name, f"{settings.public_base_url}/fhir"),
        SystemClock(),
    )


def reprocess(
    message_id: Annotated[
        str | None, typer.Argument(help="One message id (else the filter).")
    ] = None,
    since: Annotated[datetime | None, typer.Option(help="Received at or after (ISO, UTC).")] = None,
    until: Annotated[datetime | None, typer.Option(help="Received before (ISO, UTC).")] = None,
    source: Annotated[str | None, typer.Option(help="Only from this source.")] = None,
    event: Annotated[str | None, typer.Option("--event", help="Only this event code.")] = None,
    patient: Annotated[str | None, typer.Option(help="Only this patient (personnummer).")] = None,
    outcome: Annotated[
        Outcome | None, typer.Option(help="Only messages with this outcome.")
    ] = None,
    limit: Annotated[int, typer.Option(help="At most this many messages.")] = 10_000,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Show what would go where; change nothing.")
    ] = False,
    reason: Annotated[str, typer.Option(help="Why (required unless --dry-run).")] = "",
    actor: Actor = None,
    as_json: AsJson = False,
) -> None:
    """Run stored messages through the current routes and mappings again (oldest first)."""
    if not dry_run and not reason.strip():
        raise _fail("--reason is required (it goes in the audit log)")
    if message_id is None and not any((since, until, source, event, patient, outcome)):
        raise _fail("name a message id or at least one filter (--since, --event, …)")
    settings = Settings()
    try:
        keys = tuple(patient_keys(patient, settings.patient_key)) if patient else None
    except PatientNotRecognised as error:
        raise _fail(f"patient identifier not recognised: {error}") from None
    where = ReprocessFilter(
        message_id=message_id,
        received_from=_utc(since),
        received_to=_utc(until),
        source=source,
        event_code=event,
        patient_keys=keys,
        outcome=outcome,
    )
    try:
        steps = asyncio.run(
            _reprocess(settings, where, limit, dry_run, _actor(actor), reason, not as_json)
        )
    except RoutingFileError as error:
        raise _fail(f"routing file: {error}") from None
    if as_json:
        echo_json({"dry_run": dry_run, "steps": steps})
        return
    for step in steps:
        typer.echo(
            f"{step.message_id:<36}  {step.event_code:<22} {step.patient_masked:<15} "
            f"{step.action.value:<7} {step.destination or '-':<14} "
            f"{step.address or ''} {step.note}".rstrip()
        )
    counts = Counter(step.action.value for step in steps)
    summary = ", ".join(f"{action} {counts[action.value]}" for action in Action)
    messages = len({step.message_id for step in steps})
    verb = "would be reprocessed (dry run, nothing changed)" if dry_run else "reprocessed"
    typer.echo(f"{messages} message(s) {verb}: {summary}")


async def _reprocess(
    settings: Settings,
    where: ReprocessFilter,
    limit: int,
    dry_run: bool,
    actor: str,
    reason: str,
    show_progress: bool,
) -> list[Step]:
    db = Database(settings.database_url)
    try:
        desk = reprocessor_for(settings, db)
        ids = await desk.message_ids(where, limit=limit)
        steps: list[Step] = []
        with Progress(disable=not show_progress or len(ids) < 2, transient=True) as progress:
            task = progress.add_task("reprocessing", total=len(ids))
            for message_id in ids:
                if dry_run:
                    steps.extend(await desk.plan(message_id))
                else:
                    steps.extend(await desk.run(message_id, actor=actor, reason=reason))
                progress.advance(task)
        return steps
    finally:
        await db.close()


def resend(
    delivery_ids: Annotated[list[str] | None, typer.Argument(help="Delivery ids.")] = None,
    unreceipted: Annotated[
        bool, typer.Option("--unreceipted", help="Every unreceipted or negatively receipted one.")
    ] = False,
    destination: Annotated[str | None, typer.Option(help="With --unreceipted: only here.")] = None,
    reason: Why = "",
    actor: Actor = None,
    as_json: AsJson = False,
) -> None:
    """Send delivered notices again, same idempotency key (the receiver drops repeats)."""
    if not reason.strip():
        raise _fail("--reason is required (it goes in the audit log)")
    if not delivery_ids and not unreceipted:
        raise _fail("name delivery ids, or --unreceipted")

    async def work() -> list[Resent]:
        db = Database(Settings().database_url)
        try:
            desk = Resender(db, SystemClock())
            ids = list(delivery_ids or []) + (
                await desk.unreceipted_ids(destination) if unreceipted else []
            )
            done: list[Resent] = []
            with Progress(disable=as_json or len(ids) < 2, transient=True) as progress:
                task = progress.add_task("resending", total=len(ids))
                for delivery_id in ids:
                    done.append(await desk.resend(delivery_id, actor=_actor(actor), reason=reason))
                    progress.advance(task)
            return done
        finally:
            await db.close()

    try:
        done = asyncio.run(work())
    except (DeliveryNotFound, NotResendable) as error:
        raise _fail(str(error)) from None
    if as_json:
        echo_json(done)
        return
    for item in done:
        typer.echo(
            f"{item.delivery_id}  {item.destination:<14} key {item.idempotency_key}  "
            f"(receipt was {item.previous_receipt_state or '-'})"
        )
    typer.echo(f"{len(done)} notice(s) queued to be sent again")


def _utc(moment: datetime | None) -> datetime | None:
    if moment is not None and moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment
