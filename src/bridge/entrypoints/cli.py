"""The ``bridge`` command: serve, demo, simulators and operator commands."""

from __future__ import annotations

import asyncio
import contextlib
import os
from typing import Annotated, NoReturn

import typer
from pydantic import ValidationError

from bridge import __version__
from bridge.config import Settings
from bridge.entrypoints import (
    cli_audit,
    cli_contract,
    cli_coordinators,
    cli_dead_letters,
    cli_deliveries,
    cli_destinations,
    cli_deviations,
    cli_indicators,
    cli_keys,
    cli_messages,
    cli_orders,
    cli_prune,
    cli_reprocess,
    cli_routes,
    cli_users,
)
from bridge.entrypoints.cli_output import AsJson
from bridge.entrypoints.startup import StartupError, settings_failure
from bridge.logging_setup import configure_logging
from bridge.routing_file import RoutingFileError

app = typer.Typer(help="bridge: care-transition notices between TakeCare and Treserva.")
simulate = typer.Typer(help="Run one simulator on its own.")
messages = typer.Typer(help="Look at messages the bridge has accepted.")
db_app = typer.Typer(help="Database schema.")
app.add_typer(simulate, name="simulate")
app.add_typer(messages, name="messages")
cli_messages.register(messages)
app.add_typer(db_app, name="db")
app.add_typer(cli_dead_letters.app, name="dead-letter")
app.add_typer(cli_deliveries.app, name="deliveries")
app.add_typer(cli_audit.app, name="audit")
app.add_typer(cli_users.app, name="users")
app.add_typer(cli_contract.app, name="contract")
app.add_typer(cli_deviations.app, name="deviations")
app.add_typer(cli_indicators.app, name="indicators")
app.add_typer(cli_keys.app, name="keys")
app.add_typer(cli_destinations.app, name="destinations")
app.add_typer(cli_routes.app, name="routes")
app.command("reprocess")(cli_reprocess.reprocess)
app.command("prune")(cli_prune.prune)
cli_deliveries.app.command("resend")(cli_reprocess.resend)
app.add_typer(cli_coordinators.app, name="coordinators")
app.add_typer(cli_orders.app, name="orders")


def _print_version(value: bool) -> None:
    if value:
        typer.echo(f"bridge {__version__}")
        raise typer.Exit(0)


@app.callback()
def _main(
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_print_version, is_eager=True, help="Print the version and exit."
        ),
    ] = False,
) -> None:
    """bridge: care-transition notices between TakeCare and Treserva."""


def _routing_error(error: RoutingFileError) -> NoReturn:
    typer.echo(f"routing file error: {error}", err=True)
    raise typer.Exit(2)


def _cannot_start(error: StartupError) -> NoReturn:
    typer.echo(f"bridge: cannot start: {error}", err=True)
    raise typer.Exit(2)


def _settings(*, quiet: bool = False) -> Settings:
    """Settings from the environment; ``quiet`` (the demo) logs only warnings, as plain text,
    unless BRIDGE_LOG_LEVEL / BRIDGE_LOG_JSON say otherwise. A setting that does not parse
    stops the command with one line and exit code 2."""
    try:
        settings = Settings()
    except ValidationError as error:
        _cannot_start(settings_failure(error))
    level = settings.log_level
    json_lines = settings.log_json
    if quiet:
        level = os.environ.get("BRIDGE_LOG_LEVEL", "WARNING")
        json_lines = "BRIDGE_LOG_JSON" in os.environ and settings.log_json
    configure_logging(level, json_lines)
    return settings


@app.command()
def serve() -> None:
    """Run the bridge alone: HTTP (8080), MLLP (2575) and, with a broker, AMQP in."""
    from bridge.entrypoints.runner import run_bridge

    settings = _settings()
    try:
        with contextlib.suppress(KeyboardInterrupt):
            asyncio.run(run_bridge(settings))
    except RoutingFileError as error:
        _routing_error(error)
    except StartupError as error:
        _cannot_start(error)


@app.command()
def demo(
    once: Annotated[
        bool, typer.Option("--once", help="Send a scenario, wait, report, exit.")
    ] = False,
    count: Annotated[int, typer.Option(help="Admissions to send.")] = 10,
    rate: Annotated[float, typer.Option(help="Admissions per second.")] = 5.0,
    timeout: Annotated[float, typer.Option(help="Seconds to wait for delivery (--once).")] = 60.0,
) -> None:
    """Run the simulators and the bridge together."""
    from bridge.entrypoints.demo import run_demo

    settings = _settings(quiet=True)
    try:
        ok = asyncio.run(
            run_demo(settings, once=once, count=count, rate=rate, wait_seconds=timeout)
        )
    except RoutingFileError as error:
        _routing_error(error)
    except StartupError as error:
        _cannot_start(error)
    raise typer.Exit(0 if ok else 1)


@simulate.command("takecare")
def simulate_takecare(
    count: Annotated[int, typer.Option(help="Admissions to send (0: run until stopped).")] = 10,
    rate: Annotated[float, typer.Option(help="Admissions per second.")] = 2.0,
    host: Annotated[str, typer.Option(help="Bridge MLLP host.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Bridge MLLP port.")] = 2575,
    seed: Annotated[int, typer.Option(help="Seed for the synthetic patients.")] = 1,
) -> None:
    """Play TakeCare: send admissions of synthetic patients over MLLP."""
    from bridge.entrypoints.demo import simulate_takecare as run

    _settings()
    asyncio.run(run(host=host, port=port, count=count, rate=rate, seed=seed))


@simulate.command("treserva")
def simulate_treserva(
    host: Annotated[str, typer.Option(help="Listen address.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Listen port.")] = 8081,
) -> None:
    """Play Treserva: file FHIR notices into an inbox (GET /api/inbox, worklist at /)."""
    from bridge.entrypoints.demo import simulate_treserva as run

    _settings()
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(run(host=host, port=port))


@messages.command("show")
def messages_show(
    reference: Annotated[
        str, typer.Argument(help="Message id, facility|control id, or control id.")
    ],
    as_json: AsJson = False,
) -> None:
    """A message's full history from the audit log: accepted, routed, each attempt, delivered."""
    from bridge.entrypoints.cli_messages import show

    settings = _settings()
    found = asyncio.run(show(settings, reference, as_json=as_json))
    raise typer.Exit(0 if found else 1)


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Create or migrate the database schema to the current version."""
    from bridge.store.migrate import SchemaAheadOfCode, upgrade

    settings = _settings()
    try:
        upgrade(settings.database_url)
    except SchemaAheadOfCode as error:
        _cannot_start(StartupError(str(error)))
    typer.echo("database schema is current")


def main() -> None:
    app(prog_name="bridge")


if __name__ == "__main__":
    main()
