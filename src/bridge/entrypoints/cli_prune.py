"""`bridge prune`: remove payloads past their retention period (docs/operations.md).

``--dry-run`` counts per data class and changes nothing; a prune is audited (``pruned``, one
row per class) under the operator's name (``--as``, default ``$BRIDGE_OPERATOR`` or login).
"""

from __future__ import annotations

import asyncio
import getpass
import os
from typing import Annotated

import typer

from bridge.config import Settings
from bridge.entrypoints.cli_output import AsJson, echo_json, iso
from bridge.service.care.deviations import load_rule_book
from bridge.service.clock import SystemClock
from bridge.service.operations.retention import PruneCount, Retention, policy_from
from bridge.store.db import Database


def prune(
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Count per data class; change nothing.")
    ] = False,
    actor: Annotated[
        str | None,
        typer.Option("--as", help="Operator name for the audit log (default: $BRIDGE_OPERATOR)."),
    ] = None,
    as_json: AsJson = False,
) -> None:
    """Prune payloads and canonical copies older than their retention period."""
    settings = Settings()
    who = actor or os.environ.get("BRIDGE_OPERATOR") or getpass.getuser()

    async def work() -> list[PruneCount]:
        db = Database(settings.database_url)
        try:
            watch = load_rule_book(settings.deadline_rules_file).watch_days
            retention = Retention(db, SystemClock(), policy_from(settings), watch_days=watch)
            return await (retention.count() if dry_run else retention.prune(actor=who))
        finally:
            await db.close()

    counts = asyncio.run(work())
    if as_json:
        echo_json({"dry_run": dry_run, "classes": counts})
        return
    verb = "would prune" if dry_run else "pruned"
    for count in counts:
        older = f"older than {iso(count.cutoff)}" if count.cutoff else "kept for ever"
        typer.echo(f"{count.data.value:<10} {verb} {count.rows:>8}  ({older})")
    if dry_run:
        typer.echo("dry run: nothing changed")
