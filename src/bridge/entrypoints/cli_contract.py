"""`bridge contract`: verify an implementation against the contracts; check one message."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from bridge.entrypoints.cli_output import AsJson, echo_json

if TYPE_CHECKING:
    from bridge.contracts.check import CheckResult
    from bridge.contracts.loader import ContractSet
    from bridge.domain.hl7.ack_policy import AckContext

app = typer.Typer(help="Contract tests for the bridge's interfaces.", no_args_is_help=True)

_INTERFACE_HELP = "Interface to verify (see `bridge contract list`)."


@app.callback()
def _group() -> None:
    """Contract tests for the bridge's interfaces."""


def _contract_set(directory: Path | None) -> ContractSet:
    from bridge.contracts.loader import ContractError, load_contracts

    try:
        return load_contracts(directory)
    except ContractError as error:
        typer.echo(f"cannot read the contracts: {error}", err=True)
        raise typer.Exit(2) from None


@app.command("list")
def list_interfaces(
    contracts: Annotated[Path | None, typer.Option(help="Contracts directory.")] = None,
    as_json: AsJson = False,
) -> None:
    """The interfaces and the contract files for each."""
    from bridge.contracts.interfaces import INTERFACES

    found = _contract_set(contracts)
    if as_json:
        echo_json(
            {
                "interfaces": [
                    {"name": i.name, "title": i.title, "default_url": i.default_url}
                    for i in INTERFACES.values()
                ],
                "contracts": [
                    {"contract": c.contract, "consumer": c.consumer, "provider": c.provider}
                    for c in found.contracts
                ],
            }
        )
        return
    for interface in INTERFACES.values():
        typer.echo(f"{interface.name:20} {interface.title}")
        typer.echo(f"{'':20} default URL {interface.default_url}")
    typer.echo("")
    for contract in found.contracts:
        typer.echo(f"{contract.contract:48} {contract.consumer} → {contract.provider}")


@app.command()
def verify(
    interface: Annotated[str, typer.Option("--interface", "-i", help=_INTERFACE_HELP)],
    url: Annotated[str | None, typer.Option(help="Where the provider listens.")] = None,
    timeout: Annotated[float, typer.Option(help="Seconds to wait for each answer.")] = 10.0,
    exchange: Annotated[str, typer.Option(help="AMQP inbound exchange.")] = "bridge.inbound",
    contracts: Annotated[Path | None, typer.Option(help="Contracts directory.")] = None,
) -> None:
    """Run the contracts of one interface against a running implementation; print a report.

    Sends test messages (MSH-11 `T`, synthetic persons): point it at a test system only.
    """
    try:
        from bridge.contracts.interfaces import INTERFACES, VerifyOptions
        from bridge.contracts.interfaces import verify as run_verify
    except ImportError as error:
        typer.echo(
            f"{error.name} is not installed: pip install 'bridge[contract]' (Pact, pika)", err=True
        )
        raise typer.Exit(2) from None

    chosen = INTERFACES.get(interface)
    if chosen is None:
        typer.echo(f"unknown interface {interface!r}; one of: {', '.join(INTERFACES)}", err=True)
        raise typer.Exit(2)
    found = _contract_set(contracts)
    options = VerifyOptions(timeout=timeout, exchange=exchange)
    report = asyncio.run(run_verify(chosen, url or chosen.default_url, found, options))
    typer.echo(report.render())
    raise typer.Exit(0 if report.ok else 1)


@app.command()
def check(
    file: Annotated[Path, typer.Argument(help="An HL7 v2 (ER7) or FHIR message Bundle file.")],
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
    contracts: Annotated[Path | None, typer.Option(help="Contracts directory.")] = None,
) -> None:
    """Would the bridge accept this message? Prints its verdict and the answer it would give.

    Exit status: 0 accepted, 1 rejected, 2 the file cannot be read.
    """
    from bridge.contracts.check import answer_json, check_message
    from bridge.contracts.model import Hl7Contract

    try:
        body = file.read_bytes()
    except OSError as error:
        typer.echo(f"cannot read {file}: {error.strerror}", err=True)
        raise typer.Exit(2) from None
    found = _contract_set(contracts)
    hl7 = [c for c in found.contracts if isinstance(c, Hl7Contract)]
    results = check_message(body, hl7, context=_ack_context())
    if as_json:
        typer.echo(json.dumps([answer_json(result) for result in results], indent=2))
    else:
        for number, result in enumerate(results, start=1):
            typer.echo(_describe(number, len(results), result))
    raise typer.Exit(0 if all(result.accepted for result in results) else 1)


def _ack_context() -> AckContext:
    """Answer as this installation would: its BRIDGE_HL7_* identity and its routing file's
    sources (a source may keep the legacy acknowledgement convention)."""
    from bridge.config import Settings
    from bridge.domain.hl7.ack import AckIdentity
    from bridge.domain.hl7.ack_policy import AckContext
    from bridge.routing_file import load_routing

    settings = Settings()
    identity = AckIdentity(settings.hl7_application, settings.hl7_facility)
    return AckContext(identity, load_routing(settings))


def _describe(number: int, total: int, result: CheckResult) -> str:
    kind = "HL7 v2" if result.format == "hl7v2" else "FHIR"
    lines = [f"message {number} of {total} ({kind}): {result.verdict}"]
    lines += [f"  warning: the contract needs {missing}" for missing in result.missing]
    status = f" (HTTP {result.status})" if result.status is not None else ""
    lines.append(f"the bridge would answer{status}:")
    lines += ["  " + line for line in result.answer.replace("\r", "\n").splitlines() if line]
    return "\n".join(lines)
