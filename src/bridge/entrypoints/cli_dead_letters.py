"""`bridge dead-letter`: list, show, replay and discard deliveries that failed for good.

Every command that changes or reads a payload is audited under the operator's name
(``--as``, default ``$BRIDGE_OPERATOR`` or the login name).
"""

from __future__ import annotations

import asyncio
import getpass
import os
from collections.abc import Awaitable, Callable
from dataclasses import asdict
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any, TypeVar

import typer

from bridge.config import Settings
from bridge.entrypoints.cli_output import AsJson, dumps, iso
from bridge.service.clock import SystemClock
from bridge.service.delivery.dead_letters import (
    DeadLetterFilter,
    DeadLetterNotFound,
    DeadLetters,
    DeadReason,
    NotADeadLetter,
)
from bridge.store.db import Database

app = typer.Typer(
    help="Dead letters: list, show, replay and discard deliveries that failed for good.",
    no_args_is_help=True,
)

T = TypeVar("T")

Actor = Annotated[
    str | None,
    typer.Option(
        "--as", help="Operator name for the audit log (default: $BRIDGE_OPERATOR, login)."
    ),
]
Destination = Annotated[str | None, typer.Option(help="Only this destination.")]
Reason = Annotated[DeadReason | None, typer.Option(help="Only dead letters that died for this.")]
Event = Annotated[str | None, typer.Option("--event", help="Only this event code.")]
Since = Annotated[datetime | None, typer.Option(help="Only dead since (ISO time, UTC).")]


class GroupBy(StrEnum):
    CAUSE = "cause"


@app.callback()
def _group() -> None:
    """Dead letters: list, show, replay and discard deliveries that failed for good."""


def _actor(name: str | None) -> str:
    return name or os.environ.get("BRIDGE_OPERATOR") or getpass.getuser()


def _run(work: Callable[[DeadLetters], Awaitable[T]]) -> T:
    async def main() -> T:
        db = Database.for_settings(Settings())
        try:
            return await work(DeadLetters(db, SystemClock()))
        finally:
            await db.close()

    try:
        return asyncio.run(main())
    except (DeadLetterNotFound, NotADeadLetter) as error:
        typer.echo(f"error: {error}", err=True)
        raise typer.Exit(1) from None


def _filter(
    destination: str | None, reason: DeadReason | None, event: str | None, since: datetime | None
) -> DeadLetterFilter:
    if since is not None and since.tzinfo is None:
        since = since.astimezone()
    return DeadLetterFilter(
        destination=destination, reason=reason, event_code=event, dead_after=since
    )


def _dump(value: Any) -> str:
    return dumps(value)


@app.command("list")
def list_(
    destination: Destination = None,
    reason: Reason = None,
    event: Event = None,
    since: Since = None,
    limit: Annotated[int, typer.Option(help="At most this many.")] = 100,
    group_by: Annotated[
        GroupBy | None,
        typer.Option(
            "--group-by", help="cause: one line per destination, reason and last error, counted."
        ),
    ] = None,
    as_json: AsJson = False,
) -> None:
    """Dead letters, most recent first (patients masked, no payloads)."""
    where = _filter(destination, reason, event, since)
    if group_by is GroupBy.CAUSE:
        _list_groups(where, as_json)
        return
    found = _run(lambda desk: desk.list(where, limit=limit))
    if as_json:
        typer.echo(_dump([asdict(item) for item in found]))
        return
    typer.echo(
        f"{'delivery':<36}  {'dead at (ISO 8601)':<25}  {'destination':<12} {'event':<22} "
        f"{'patient':<15} {'reason':<12} {'tries':>5} {'held':>4}  last error"
    )
    for item in found:
        dead_at = iso(item.dead_at)
        typer.echo(
            f"{item.delivery_id:<36}  {dead_at:<25}  {item.destination:<12} "
            f"{item.event_code:<22} {item.patient_masked:<15} {item.reason:<12} "
            f"{item.attempts:>5} {item.held_back:>4}  {item.last_error or ''}"
        )
    typer.echo(f"{len(found)} dead letter(s)")


def _list_groups(where: DeadLetterFilter, as_json: bool) -> None:
    groups = _run(lambda desk: desk.groups(where))
    if as_json:
        typer.echo(_dump([asdict(group) for group in groups]))
        return
    typer.echo(
        f"{'count':>6}  {'destination':<12} {'reason':<12} {'first dead':<25}  "
        f"{'last dead':<25}  last error"
    )
    for group in groups:
        typer.echo(
            f"{group.count:>6}  {group.destination:<12} {group.reason:<12} "
            f"{iso(group.first_dead_at):<25}  {iso(group.last_dead_at):<25}  "
            f"{group.last_error or ''}"
        )
    total = sum(group.count for group in groups)
    typer.echo(f"{total} dead letter(s) in {len(groups)} group(s)")


@app.command()
def show(
    delivery_id: Annotated[str, typer.Argument(help="The dead delivery's id.")],
    actor: Actor = None,
    as_json: AsJson = False,
) -> None:
    """One dead letter: payload, every attempt, last error (the read is audited)."""
    letter = _run(lambda desk: desk.show(delivery_id, actor=_actor(actor)))
    if as_json:
        typer.echo(_dump(asdict(letter)))
        return
    summary = letter.summary
    for label, value in (
        ("delivery", summary.delivery_id),
        ("message", summary.message_id),
        ("sender id", letter.dedupe_key),
        ("destination", summary.destination),
        ("event", summary.event_code),
        ("patient", summary.patient_masked),
        ("reason", summary.reason),
        ("dead at", iso(summary.dead_at)),
        ("held back", f"{summary.held_back} later notice(s) of this patient"),
        ("idempotency", letter.idempotency_key),
        ("last error", summary.last_error or "-"),
    ):
        typer.echo(f"{label:<12} {value}")
    typer.echo("")
    for attempt in letter.attempts:
        typer.echo(
            f"attempt {attempt.attempt:>3}  {iso(attempt.finished_at)}  "
            f"{attempt.outcome:<10} {attempt.status_code or '-':<4} {attempt.error or ''}"
        )
    typer.echo("")
    typer.echo(f"payload ({letter.content_type}):")
    typer.echo(letter.payload)


@app.command()
def replay(
    delivery_id: Annotated[
        str | None, typer.Argument(help="One dead delivery; or give filters / --all.")
    ] = None,
    destination: Destination = None,
    reason: Reason = None,
    event: Event = None,
    since: Since = None,
    all_: Annotated[bool, typer.Option("--all", help="Every dead letter matching.")] = False,
    note: Annotated[str, typer.Option(help="Why (for the audit log).")] = "",
    actor: Actor = None,
) -> None:
    """Send dead letters again, in each patient's order, with the same idempotency key."""
    who = _actor(actor)
    if delivery_id is not None:
        _run(lambda desk: desk.replay(delivery_id, actor=who, reason=note))
        typer.echo(f"replayed {delivery_id}")
        return
    filtered = any(value is not None for value in (destination, reason, event, since))
    if not (filtered or all_):
        typer.echo("error: give a delivery id, a filter, or --all", err=True)
        raise typer.Exit(2)
    where = _filter(destination, reason, event, since)
    replayed = _run(lambda desk: desk.replay_matching(where, actor=who, reason=note))
    for item in replayed:
        typer.echo(f"replayed {item}")
    typer.echo(f"{len(replayed)} dead letter(s) replayed")


@app.command()
def discard(
    delivery_id: Annotated[str, typer.Argument(help="The dead delivery's id.")],
    reason: Annotated[str, typer.Option("--reason", help="Why it is given up (required).")],
    actor: Actor = None,
) -> None:
    """Give a dead letter up for good; the patient's notices held behind it go on."""
    if not reason.strip():
        typer.echo("error: --reason must say why", err=True)
        raise typer.Exit(2)
    _run(lambda desk: desk.discard(delivery_id, actor=_actor(actor), reason=reason))
    typer.echo(f"discarded {delivery_id}")
