"""``bridge demo`` and ``bridge simulate``: the simulators and the bridge in one process.

The simulators talk to the bridge only over its network interfaces (MLLP in, FHIR over HTTP
out), exactly as TakeCare and Treserva would.
"""

from __future__ import annotations

import asyncio
import contextlib
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
from bridge.entrypoints.startup import port_failure
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
    settings: Settings,
    *,
    once: bool,
    count: int,
    rate: float,
    wait_seconds: float,
    drain_seconds: float = 15.0,
) -> bool:
    treserva = urlsplit(settings.treserva_url)
    sim_host, sim_port = treserva.hostname or "127.0.0.1", treserva.port or 8081
    # Treserva confirms each filed notice back to the bridge (receipts), as the real one should.
    bridge_fhir = f"http://{settings.http_host}:{settings.http_port}/fhir"
    async with contextlib.AsyncExitStack() as stack:
        try:
            sim = await stack.enter_async_context(
                running(TreservaSettings(bridge_url=bridge_fhir), host=sim_host, port=sim_port)
            )
        except OSError as error:
            variable = "BRIDGE_TRESERVA_URL"
            raise port_failure(error, "Treserva simulator", sim_host, sim_port, variable) from error
        bridge = await stack.enter_async_context(running_bridge(settings))
        # Listening on every address (in a container): show the one a browser here can open.
        shown = bridge.base_url.replace("//0.0.0.0:", "//127.0.0.1:").replace("//:::", "//[::1]:")
        typer.echo(f"Treserva worklist: {sim.base_url}/   bridge: {shown}/")
        options = SendOptions(host=settings.mllp_host, port=bridge.mllp_port)
        inbox_url = f"{sim.base_url}/api/inbox"
        if not once:
            return await _run_until_stopped(options, rate, inbox_url, drain_seconds)
        return await _scenario(options, count, rate, wait_seconds, inbox_url)


async def _scenario(
    options: SendOptions, count: int, rate: float, wait_seconds: float, inbox_url: str
) -> bool:
    notices = await send_admissions(
        host=options.host, port=options.port, count=count, rate_per_s=rate
    )
    seen = await _report(notices, inbox_url, wait_seconds, every_line=True)
    accepted = [n for n in notices if n.ack_code in ("AA", "CA")]
    return len(notices) == count and len(accepted) == count and seen == count


async def _report(
    notices: list[SentNotice],
    inbox_url: str,
    wait_seconds: float,
    *,
    every_line: bool,
    stop: asyncio.Event | None = None,
) -> int:
    """Wait for the accepted notices to reach Treserva, print one line per notice (or only
    the undelivered ones) and ``sent=N accepted=N delivered=N``; return how many arrived."""
    accepted = [n for n in notices if n.ack_code in ("AA", "CA")]
    expected = {_digits(n.patient_identifier) for n in accepted}
    waiting = asyncio.create_task(_wait_for_delivery(inbox_url, expected, wait_seconds))
    if stop is not None:
        stopping = asyncio.create_task(stop.wait())
        await asyncio.wait({waiting, stopping}, return_when=asyncio.FIRST_COMPLETED)
        stopping.cancel()
        if not waiting.done():
            waiting.cancel()
    seen = await waiting if not waiting.cancelled() else {}
    for index, notice in enumerate(notices, start=1):
        filed_at = seen.get(_digits(notice.patient_identifier))
        if every_line or filed_at is None:
            typer.echo(_line(index, notice, filed_at))
    delivered = len(expected & seen.keys())
    typer.echo(f"sent={len(notices)} accepted={len(accepted)} delivered={delivered}")
    return delivered


async def _run_until_stopped(
    options: SendOptions, rate: float, inbox_url: str, drain_seconds: float
) -> bool:
    """Send until Ctrl-C (or SIGTERM); then stop sending after the message in flight has its
    ACK, wait up to ``drain_seconds`` for every accepted notice to reach Treserva (a second
    Ctrl-C stops waiting), and print the same summary as ``--once``. The bridge stops only
    after that, so no notice is left leased in the database for the next start."""
    stop, hurry = asyncio.Event(), asyncio.Event()
    loop = asyncio.get_running_loop()

    def on_signal() -> None:
        (hurry if stop.is_set() else stop).set()

    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, on_signal)
    notices: list[SentNotice] = []

    def report(notice: SentNotice) -> None:
        notices.append(notice)
        typer.echo(
            f"sent {len(notices):>5}  {notice.control_id:<22} "
            f"{mask(notice.patient_identifier)}  ack={notice.ack_code or notice.error}"
        )

    try:
        await run(options, rate_per_s=rate, on_sent=report, stop=stop)
        typer.echo(f"stopping: waiting up to {drain_seconds:.0f}s for notices in flight")
        delivered = await _report(notices, inbox_url, drain_seconds, every_line=False, stop=hurry)
    finally:
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(signum)
    accepted = sum(1 for n in notices if n.ack_code in ("AA", "CA"))
    return delivered == accepted


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
