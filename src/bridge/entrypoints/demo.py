"""``bridge demo`` and ``bridge simulate``: the simulators and the bridge in one process.

The simulators talk to the bridge only over its network interfaces (MLLP in, FHIR over HTTP
out), exactly as TakeCare and Treserva would.
"""

from __future__ import annotations

import asyncio
import re
import signal
import time
from datetime import datetime
from urllib.parse import urlsplit

import httpx
import typer

from bridge.config import Settings
from bridge.domain.identifiers import mask
from bridge.entrypoints.runner import running_bridge
from takecare_sim import SendOptions, SentNotice, run, send_admissions
from treserva_sim.server import running, serve
from treserva_sim.settings import TreservaSettings


def _digits(identifier: str) -> str:
    return re.sub(r"\D", "", identifier)


async def _filed_at(inbox_url: str, client: httpx.AsyncClient) -> dict[str, datetime]:
    """Patient identifier → when Treserva filed the notice, read from its inbox over HTTP."""
    response = await client.get(inbox_url)
    response.raise_for_status()
    return {
        _digits(item["patient_identifier"] or ""): datetime.fromisoformat(item["received_at"])
        for item in response.json()
    }


async def _wait_for_delivery(
    inbox_url: str, expected: set[str], wait_seconds: float
) -> dict[str, datetime]:
    """Poll the inbox until every expected patient is there or the time is up."""
    filed: dict[str, datetime] = {}
    deadline = time.monotonic() + wait_seconds
    async with httpx.AsyncClient(timeout=5) as client:
        while time.monotonic() < deadline:
            found = await _filed_at(inbox_url, client)
            filed.update({p: at for p, at in found.items() if p in expected})
            if expected <= filed.keys():
                break
            await asyncio.sleep(0.1)
    return filed


def _line(index: int, notice: SentNotice, filed_at: datetime | None) -> str:
    if filed_at is None:
        outcome = "NOT delivered"
    else:
        outcome = f"delivered {(filed_at - notice.sent_at).total_seconds():.2f}s after sending"
    ack = notice.ack_code or f"no ACK ({notice.error})"
    return (
        f"notice {index:>3}  {notice.control_id:<22} {mask(notice.patient_identifier)}"
        f"  admission  ack={ack:<3} {outcome}"
    )


async def run_demo(
    settings: Settings, *, once: bool, count: int, rate: float, wait_seconds: float
) -> bool:
    treserva = urlsplit(settings.treserva_url)
    # Treserva confirms each filed notice back to the bridge (receipts), as the real one should.
    bridge_fhir = f"http://{settings.http_host}:{settings.http_port}/fhir"
    async with (
        running(
            TreservaSettings(bridge_url=bridge_fhir),
            host=treserva.hostname or "127.0.0.1",
            port=treserva.port or 8081,
        ) as sim,
        running_bridge(settings) as bridge,
    ):
        typer.echo(f"Treserva worklist: {sim.base_url}/   bridge API: {bridge.base_url}/docs")
        options = SendOptions(host=settings.mllp_host, port=bridge.mllp_port)
        if not once:
            await _run_until_stopped(options, rate)
            return True
        return await _scenario(options, count, rate, wait_seconds, f"{sim.base_url}/api/inbox")


async def _scenario(
    options: SendOptions, count: int, rate: float, wait_seconds: float, inbox_url: str
) -> bool:
    notices = await send_admissions(
        host=options.host, port=options.port, count=count, rate_per_s=rate
    )
    accepted = [n for n in notices if n.ack_code in ("AA", "CA")]
    expected = {_digits(n.patient_identifier) for n in accepted}
    seen = await _wait_for_delivery(inbox_url, expected, wait_seconds)
    for index, notice in enumerate(notices, start=1):
        typer.echo(_line(index, notice, seen.get(_digits(notice.patient_identifier))))
    delivered = len(expected & seen.keys())
    typer.echo(f"sent={len(notices)} accepted={len(accepted)} delivered={delivered}")
    return len(notices) == count and len(accepted) == count and delivered == count


async def _run_until_stopped(options: SendOptions, rate: float) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    counter = iter(range(1, 1 << 62))

    def report(notice: SentNotice) -> None:
        typer.echo(
            f"sent {next(counter):>5}  {notice.control_id:<22} "
            f"{mask(notice.patient_identifier)}  ack={notice.ack_code or notice.error}"
        )

    sender = asyncio.create_task(run(options, rate_per_s=rate, on_sent=report))
    await stop.wait()
    sender.cancel()
    await asyncio.gather(sender, return_exceptions=True)


async def simulate_takecare(host: str, port: int, count: int, rate: float, seed: int) -> None:
    options = SendOptions(host=host, port=port)
    sent = await run(options, rate_per_s=rate, seed=seed, count=count or None, on_sent=_echo)
    typer.echo(f"sent={sent}")


def _echo(notice: SentNotice) -> None:
    typer.echo(
        f"{notice.control_id:<22} {mask(notice.patient_identifier)} "
        f"ack={notice.ack_code or notice.error} {notice.latency_s * 1000:.0f} ms"
    )


async def simulate_treserva(host: str, port: int) -> None:
    await serve(host=host, port=port)
