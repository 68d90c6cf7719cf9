"""The system under test, as real processes: the Treserva simulator and N ``bridge serve``
processes sharing one PostgreSQL database and one RabbitMQ (a random queue prefix)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from fault_services import ManagedProcess, free_port

from bridge.domain.model import EVENT_CODE_SYSTEM

BRIDGE = str(Path(sys.executable).with_name("bridge"))


@dataclass(frozen=True)
class StackConfig:
    bridges: int = 2
    delivery_timeout: float = 2.0
    lease_seconds: float = 10.0
    backoff_initial: float = 0.2
    backoff_max: float = 3.0
    receipt_timeout: float = 15.0
    echo_receipts: bool = True  # play Treserva's receipts (see ReceiptEcho)
    extra_env: tuple[tuple[str, str], ...] = ()  # more BRIDGE_* settings for every bridge


@dataclass
class FaultStack:
    run_dir: Path
    database_url: str
    amqp_url: str
    prefix: str
    config: StackConfig
    sim_port: int = field(default_factory=free_port)
    bridges: list[ManagedProcess] = field(default_factory=list)
    http_ports: list[int] = field(default_factory=list)
    mllp_ports: list[int] = field(default_factory=list)
    sim: ManagedProcess | None = None
    echo: ReceiptEcho | None = None
    _echo_task: asyncio.Task[None] | None = None

    @property
    def sim_url(self) -> str:
        return f"http://127.0.0.1:{self.sim_port}"

    async def start(self) -> None:
        await self.start_sim()
        for number in range(self.config.bridges):
            self.http_ports.append(free_port())
            self.mllp_ports.append(free_port())
            self.bridges.append(self._bridge(number))
        # One at a time: the first migrates the fresh database.
        for number in range(self.config.bridges):
            await self.start_bridge(number)
        if self.config.echo_receipts:
            self.echo = ReceiptEcho(
                self.sim_url, [f"http://127.0.0.1:{p}" for p in self.http_ports]
            )
            self._echo_task = asyncio.create_task(self.echo.run())

    async def stop(self) -> None:
        if self._echo_task is not None:
            self._echo_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._echo_task
        for bridge in self.bridges:
            await bridge.stop()
        if self.sim is not None:
            await self.sim.stop()

    # Treserva ---------------------------------------------------------------------------------

    async def start_sim(self) -> None:
        if self.sim is None:
            env = {
                **os.environ,
                "TRESERVA_SIM_HOST": "127.0.0.1",
                "TRESERVA_SIM_PORT": str(self.sim_port),
                "TRESERVA_SIM_DATABASE_PATH": str(self.run_dir / "treserva-inbox.db"),
                "TRESERVA_SIM_SEED": "1",
            }
            self.sim = ManagedProcess(
                "treserva",
                [sys.executable, "-m", "treserva_sim"],
                env,
                self.run_dir / "treserva.log",
            )
        await self.sim.start()
        await _until_ok(f"{self.sim_url}/healthz", 30, "Treserva simulator up")

    async def kill_sim(self) -> None:
        assert self.sim is not None
        await self.sim.kill()

    async def sim_faults(self, **faults: Any) -> None:
        async with httpx.AsyncClient(timeout=10) as client:
            response = await client.post(f"{self.sim_url}/api/faults", json=faults)
        response.raise_for_status()

    async def sim_stats(self) -> dict[str, int]:
        async with httpx.AsyncClient(timeout=30) as client:
            response = await client.get(f"{self.sim_url}/api/stats")
        response.raise_for_status()
        stats: dict[str, int] = response.json()
        return stats

    async def inbox(self) -> list[dict[str, Any]]:
        async with httpx.AsyncClient(timeout=120) as client:
            response = await client.get(f"{self.sim_url}/api/inbox")
        response.raise_for_status()
        items: list[dict[str, Any]] = response.json()
        return items

    # Bridges ----------------------------------------------------------------------------------

    def _bridge(self, number: int) -> ManagedProcess:
        config = self.config
        env = {
            **os.environ,
            "BRIDGE_DATABASE_URL": self.database_url,
            "BRIDGE_ALLOW_UNAUTHENTICATED_INGESTION": "true",  # the load sends without credentials
            "BRIDGE_SESSION_SECRET": os.environ.get(
                "BRIDGE_SESSION_SECRET", "fault-only-session-key-not-for-any-real-bridge"
            ),
            "BRIDGE_BROKER_URL": self.amqp_url,
            "BRIDGE_BROKER_PREFIX": self.prefix,
            "BRIDGE_INBOUND_EXCHANGE": f"{self.prefix}.inbound",
            "BRIDGE_INBOUND_QUEUE": f"{self.prefix}.inbound",
            "BRIDGE_HTTP_PORT": str(self.http_ports[number]),
            "BRIDGE_MLLP_PORT": str(self.mllp_ports[number]),
            "BRIDGE_PUBLIC_BASE_URL": f"http://127.0.0.1:{self.http_ports[number]}",
            "BRIDGE_TRESERVA_URL": f"{self.sim_url}/fhir",
            "BRIDGE_DELIVERY_TIMEOUT_SECONDS": str(config.delivery_timeout),
            "BRIDGE_LEASE_SECONDS": str(config.lease_seconds),
            "BRIDGE_BACKOFF_INITIAL_SECONDS": str(config.backoff_initial),
            "BRIDGE_BACKOFF_MAX_SECONDS": str(config.backoff_max),
            "BRIDGE_MAX_AGE_SECONDS": "3600",
            "BRIDGE_RECEIPT_TIMEOUT_SECONDS": str(config.receipt_timeout),
            "BRIDGE_RECEIPT_CHECK_INTERVAL_SECONDS": "0.5",
            "BRIDGE_ALERT_INTERVAL_SECONDS": "0.5",
            "BRIDGE_LOG_JSON": "false",
            "BRIDGE_LOG_LEVEL": "WARNING",
        }
        env.update(config.extra_env)
        env.pop("BRIDGE_ROUTING_FILE", None)
        return ManagedProcess(
            f"bridge-{number}", [BRIDGE, "serve"], env, self.run_dir / f"bridge-{number}.log"
        )

    async def start_bridge(self, number: int) -> None:
        await self.bridges[number].start()
        await _until_ok(
            f"http://127.0.0.1:{self.http_ports[number]}/readyz", 120, f"bridge {number} ready"
        )

    async def kill_bridge(self, number: int) -> None:
        await self.bridges[number].kill()

    def bridge_pids(self) -> set[int]:
        return {b.process.pid for b in self.bridges if b.running and b.process is not None}


async def _until_ok(url: str, within: float, what: str) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    async with httpx.AsyncClient(timeout=2) as client:
        while True:
            with contextlib.suppress(httpx.HTTPError):
                if (await client.get(url)).status_code == 200:
                    return
            if loop.time() > deadline:
                raise RuntimeError(f"{what}: not within {within} s")
            await asyncio.sleep(0.2)


_RECEIPT_NAMESPACE = uuid.UUID("5d0c7e4a-52f4-4a55-9a49-1f1d3f0b7c11")


class ReceiptEcho:
    """Plays Treserva's receipts: for every notice filed in the simulator's inbox, post a
    receipt (``MessageHeader.response`` = the filed notice's MessageHeader.id) to a bridge.

    A notice the simulator drops silently is never filed, so it gets no receipt: exactly the
    original fault. Receipts are retried until a bridge accepts them, with a stable
    Bundle.identifier, so a repeat is a duplicate the bridge recognises.
    """

    def __init__(self, sim_url: str, bridge_urls: list[str]) -> None:
        self._sim_url = sim_url
        self._bridges = bridge_urls
        self._seen: set[str] = set()
        self._unsent: dict[str, str] = {}  # idempotency key -> header id
        self._turn = 0
        self._idle = False
        self.sent = 0

    @property
    def idle(self) -> bool:
        """Nothing filed is left without a receipt (as of the last look at the inbox)."""
        return self._idle and not self._unsent

    async def run(self) -> None:
        async with httpx.AsyncClient(timeout=5) as client:
            while True:
                self._idle = False
                fresh = 0
                with contextlib.suppress(httpx.HTTPError, ValueError):
                    fresh = await self._collect(client)
                    self._idle = fresh == 0
                await self._post_unsent(client)
                await asyncio.sleep(0.3)

    async def _collect(self, client: httpx.AsyncClient) -> int:
        limit = 50
        while True:
            response = await client.get(f"{self._sim_url}/api/inbox", params={"limit": limit})
            response.raise_for_status()
            items = response.json()
            fresh = [i for i in items if i["idempotency_key"] not in self._seen]
            if len(fresh) < len(items) or len(items) < limit or limit >= 5000:
                break
            limit *= 4
        for item in fresh:
            self._seen.add(item["idempotency_key"])
            self._unsent[item["idempotency_key"]] = item["bundle"]["entry"][0]["resource"]["id"]
        return len(fresh)

    async def _post_unsent(self, client: httpx.AsyncClient) -> None:
        """Post the waiting receipts, a few at a time; a failed one waits for the next round."""
        pending = list(self._unsent.items())
        for start in range(0, len(pending), 16):
            results = await asyncio.gather(
                *(self._post(client, key, header) for key, header in pending[start : start + 16])
            )
            if not all(results):
                self._turn += 1
                return

    async def _post(self, client: httpx.AsyncClient, key: str, header_id: str) -> bool:
        url = self._bridges[self._turn % len(self._bridges)] + "/fhir/$process-message"
        try:
            response = await client.post(url, json=_receipt(header_id))
        except httpx.HTTPError:
            return False
        if response.status_code != 200:
            return False
        self._unsent.pop(key, None)
        self.sent += 1
        return True


def _receipt(header_id: str) -> dict[str, Any]:
    bundle_id = str(uuid.uuid5(_RECEIPT_NAMESPACE, header_id))
    return {
        "resourceType": "Bundle",
        "id": bundle_id,
        "type": "message",
        "identifier": {"system": "urn:ietf:rfc:3986", "value": f"urn:uuid:{bundle_id}"},
        "timestamp": datetime.now(UTC).isoformat(timespec="seconds"),
        "entry": [
            {
                "fullUrl": f"urn:uuid:{bundle_id}",
                "resource": {
                    "resourceType": "MessageHeader",
                    "id": bundle_id,
                    "eventCoding": {"system": EVENT_CODE_SYSTEM, "code": "receipt"},
                    "source": {"name": "treserva", "endpoint": "http://treserva.test/fhir"},
                    "response": {"identifier": header_id, "code": "ok"},
                },
            }
        ],
    }
