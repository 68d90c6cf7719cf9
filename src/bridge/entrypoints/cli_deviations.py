"""`bridge deviations`: collaboration deviations — list, show, comment, close, reopen, check.

Comments, closing and reopening are audited under the person's name (``--as``, default
``$BRIDGE_OPERATOR`` or the login name) with the reason given.
"""

from __future__ import annotations

import asyncio
import getpass
import json
import os
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Annotated, TypeVar

import typer
import yaml

from bridge.config import Settings
from bridge.domain.episodes import STOCKHOLM
from bridge.entrypoints.cli_output import AsJson
from bridge.routing_file import load_routing
from bridge.service.care.deviations import (
    DeadlineMonitor,
    DeviationFilter,
    DeviationNotFound,
    Deviations,
    DeviationStateError,
    RuleFileError,
    load_rule_book,
)
from bridge.service.clock import SystemClock
from bridge.store.db import Database

app = typer.Typer(
    help="Collaboration deviations (avvikelser i samverkan): missed legal deadlines.",
    no_args_is_help=True,
)

T = TypeVar("T")

Actor = Annotated[
    str | None,
    typer.Option("--as", help="Your name for the audit log (default: $BRIDGE_OPERATOR, login)."),
]


@app.callback()
def _group() -> None:
    """Collaboration deviations (avvikelser i samverkan): missed legal deadlines."""


def _actor(name: str | None) -> str:
    return name or os.environ.get("BRIDGE_OPERATOR") or getpass.getuser()


def _run(work: Callable[[Deviations], Awaitable[T]]) -> T:
    async def main() -> T:
        db = Database.for_settings(Settings())
        try:
            return await work(Deviations(db, SystemClock()))
        finally:
            await db.close()

    try:
        return asyncio.run(main())
    except (DeviationNotFound, DeviationStateError, ValueError) as error:
        message = f"no deviation {error}" if isinstance(error, DeviationNotFound) else str(error)
        typer.echo(f"error: {message}", err=True)
        raise typer.Exit(1) from None


def _local(moment: datetime | None) -> str:
    """Stockholm time, where the care units are, as ISO 8601 with its offset (+01:00/+02:00)."""
    return moment.astimezone(STOCKHOLM).isoformat(timespec="minutes") if moment else "-"


@app.command("list")
def list_deviations(
    status: Annotated[str, typer.Option(help="open, closed or all.")] = "open",
    unit: Annotated[str | None, typer.Option(help="Only this sending unit (HSA-id).")] = None,
    rule: Annotated[str | None, typer.Option(help="Only this rule id.")] = None,
    since: Annotated[datetime | None, typer.Option(help="Detected since (ISO time).")] = None,
    json_out: AsJson = False,
) -> None:
    """Deviations for quality staff, newest first."""
    if since is not None and since.tzinfo is None:
        since = since.replace(tzinfo=STOCKHOLM)
    where = DeviationFilter(
        status=None if status == "all" else status, unit=unit, rule=rule, since=since
    )
    views = _run(lambda deviations: deviations.find(where))
    if json_out:
        typer.echo(json.dumps([view.to_json() for view in views], ensure_ascii=False, indent=2))
        return
    typer.echo(
        f"{'id':<36}  {'status':<6}  {'rule':<32}  {'kind':<7}  {'late by':>9}  "
        f"{'deadline (Stockholm)':<22}  responsible"
    )
    for view in views:
        minutes = view.late_by.total_seconds() / 60
        typer.echo(
            f"{view.id:<36}  {view.status:<6}  {view.rule_id:<32}  {view.kind:<7}  "
            f"{minutes:>6.0f} min  {_local(view.deadline_at):<22}  "
            f"{view.responsible}: {view.responsible_unit}"
        )
    typer.echo(f"{len(views)} deviation(s)")


@app.command()
def show(deviation_id: str, json_out: AsJson = False) -> None:
    """One deviation with everything people wrote on it."""
    view, notes = _run(lambda deviations: deviations.show(deviation_id))
    if json_out:
        data = view.to_json()
        data["notes"] = [
            {"at": n.at.isoformat(), "by": n.author, "action": n.action, "text": n.text}
            for n in notes
        ]
        typer.echo(json.dumps(data, ensure_ascii=False, indent=2))
        return
    for key, value in view.to_json().items():
        typer.echo(f"{key:<18} {value}")
    for note in notes:
        typer.echo(f"{_local(note.at)}  {note.author}  {note.action}: {note.text}")


@app.command()
def comment(
    deviation_id: str,
    text: Annotated[str, typer.Option("--text", help="What you want to add.")],
    actor: Actor = None,
) -> None:
    """Add a comment (audited with your name)."""
    _run(lambda d: d.comment(deviation_id, by=_actor(actor), text=text))
    typer.echo(f"commented {deviation_id}")


@app.command()
def close(
    deviation_id: str,
    reason: Annotated[str, typer.Option("--reason", help="Why it is closed.")],
    actor: Actor = None,
) -> None:
    """Close a deviation (audited with your name and the reason)."""
    _run(lambda d: d.close(deviation_id, by=_actor(actor), reason=reason))
    typer.echo(f"closed {deviation_id}")


@app.command()
def reopen(
    deviation_id: str,
    reason: Annotated[str, typer.Option("--reason", help="Why it is reopened.")],
    actor: Actor = None,
) -> None:
    """Reopen a closed deviation (audited)."""
    _run(lambda d: d.reopen(deviation_id, by=_actor(actor), reason=reason))
    typer.echo(f"reopened {deviation_id}")


@app.command()
def check() -> None:
    """Run the deadline check once now (the bridge runs it every minute by itself)."""
    settings = Settings()
    try:
        rules = load_rule_book(settings.deadline_rules_file)
    except RuleFileError as error:
        typer.echo(f"error: {error}", err=True)
        raise typer.Exit(2) from None

    async def main() -> None:
        db = Database.for_settings(settings)
        try:
            monitor = DeadlineMonitor(
                db,
                load_routing(settings),
                SystemClock(),
                rules,
                source_endpoint=f"{settings.public_base_url}/fhir",
            )
            report = await monitor.check()
        finally:
            await db.close()
        typer.echo(
            f"checked {report.episodes} episode(s): {len(report.opened)} new deviation(s), "
            f"{report.updated} updated"
        )

    asyncio.run(main())


@app.command()
def rules() -> None:
    """Print the deadline rules in force (the defaults with the rules file applied)."""
    try:
        book = load_rule_book(Settings().deadline_rules_file)
    except RuleFileError as error:
        typer.echo(f"error: {error}", err=True)
        raise typer.Exit(2) from None
    typer.echo(yaml.safe_dump(book.model_dump(mode="json"), sort_keys=False, allow_unicode=True))
