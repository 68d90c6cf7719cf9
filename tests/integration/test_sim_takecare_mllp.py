"""The TakeCare simulator's MLLP client against a tiny in-test MLLP server that answers ACKs."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field

import pytest

from takecare_sim import MllpClient, SentNotice, TransportError, parse_ack, run, send_admissions
from takecare_sim.sender import SendOptions

END = b"\x1c\r"
StartServer = Callable[["AckServer"], Awaitable["AckServer"]]


def ack_for(message: bytes, code: str = "AA", wrong_id: bool = False) -> str:
    control_id = message.split(b"\r", 1)[0].split(b"|")[9].decode() + ("X" if wrong_id else "")
    return (
        "MSH|^~\\&|BRIDGE|REGION_GOTLAND|TAKECARE|VISBY_LAS|20300101120000||ACK^A01^ACK|"
        f"A-{control_id}|P|2.5\rMSA|{code}|{control_id}\r"
    )


@dataclass
class AckServer:
    """Answers each framed message with an ACK written in small pieces; misbehaves on demand."""

    code_for: Callable[[int], str] = lambda _: "AA"
    close_after_each: bool = False
    drop_first: bool = False
    silent: bool = False
    wrong_id: bool = False
    chunk: int = 7
    received: list[bytes] = field(default_factory=list)
    connections: int = 0
    port: int = 0

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            while True:
                block = await reader.readuntil(END)
                message = block[block.index(b"\x0b") + 1 : -2]
                self.received.append(message)
                if self.silent or (self.drop_first and len(self.received) == 1):
                    if not self.silent:
                        break
                    continue
                code = self.code_for(len(self.received))
                await self._write_split(
                    writer, b"\x0b" + ack_for(message, code, self.wrong_id).encode() + END
                )
                if self.close_after_each:
                    break
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    async def _write_split(self, writer: asyncio.StreamWriter, data: bytes) -> None:
        for start in range(0, len(data), self.chunk):
            writer.write(data[start : start + self.chunk])
            await writer.drain()
            await asyncio.sleep(0.001)


@pytest.fixture
async def serve_acks() -> AsyncIterator[StartServer]:
    servers: list[asyncio.Server] = []

    async def start(behaviour: AckServer) -> AckServer:
        server = await asyncio.start_server(behaviour.handle, "127.0.0.1", 0)
        servers.append(server)
        behaviour.port = server.sockets[0].getsockname()[1]
        return behaviour

    yield start
    for server in servers:
        server.close()
        await server.wait_closed()


async def test_every_admission_gets_its_ack_over_one_connection(serve_acks: StartServer) -> None:
    server = await serve_acks(AckServer(chunk=3))
    notices = await send_admissions("127.0.0.1", server.port, count=20, seed=5)
    assert [n.ack_code for n in notices] == ["AA"] * 20
    assert all(n.error is None and n.latency_s > 0 for n in notices)
    assert len({n.control_id for n in notices}) == 20
    assert len({n.patient_identifier for n in notices}) == 20
    assert server.connections == 1
    assert [m.split(b"|")[9].decode() for m in server.received] == [n.control_id for n in notices]


async def test_the_client_reconnects_when_the_server_closes_after_each_ack(
    serve_acks: StartServer,
) -> None:
    server = await serve_acks(AckServer(close_after_each=True))
    notices = await send_admissions("127.0.0.1", server.port, count=5, seed=5)
    assert [n.ack_code for n in notices] == ["AA"] * 5
    assert server.connections >= 5


async def test_a_message_without_ack_is_sent_again_with_the_same_control_id(
    serve_acks: StartServer,
) -> None:
    server = await serve_acks(AckServer(drop_first=True))
    notices = await send_admissions("127.0.0.1", server.port, count=3, seed=5)
    assert [n.ack_code for n in notices] == ["AA"] * 3
    assert server.received[0] == server.received[1]


async def test_rejections_are_recorded_with_their_code(serve_acks: StartServer) -> None:
    server = await serve_acks(AckServer(code_for=lambda n: "AR" if n == 2 else "AA"))
    notices = await send_admissions("127.0.0.1", server.port, count=3, seed=5)
    assert [n.ack_code for n in notices] == ["AA", "AR", "AA"]


async def test_an_ack_naming_another_message_is_recorded_as_an_error(
    serve_acks: StartServer,
) -> None:
    server = await serve_acks(AckServer(wrong_id=True))
    [notice] = await send_admissions("127.0.0.1", server.port, count=1, seed=5)
    assert notice.ack_code is None
    assert "ACK names message" in (notice.error or "")


async def test_a_silent_receiver_times_out_and_is_recorded_not_raised(
    serve_acks: StartServer,
) -> None:
    server = await serve_acks(AckServer(silent=True))
    notices = await send_admissions("127.0.0.1", server.port, count=2, seed=5, ack_timeout_s=0.2)
    assert [n.ack_code for n in notices] == [None, None]
    assert all("TimeoutError" in (n.error or "") for n in notices)


async def test_a_closed_port_is_recorded_as_a_transport_error() -> None:
    probe = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
    port = probe.sockets[0].getsockname()[1]
    probe.close()
    await probe.wait_closed()
    [notice] = await send_admissions("127.0.0.1", port, count=1, seed=5)
    assert notice.ack_code is None
    assert notice.error


async def test_mllp_client_raises_transport_error_after_its_retries() -> None:
    probe = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
    port = probe.sockets[0].getsockname()[1]
    probe.close()
    await probe.wait_closed()
    async with MllpClient("127.0.0.1", port, timeout=0.5, retries=2, backoff=0.01) as client:
        with pytest.raises(TransportError, match=f"127.0.0.1:{port}"):
            await client.send("MSH|^~\\&|X\r")


async def test_mllp_client_returns_the_ack_text(serve_acks: StartServer) -> None:
    server = await serve_acks(AckServer(chunk=1))
    message = "MSH|^~\\&|TAKECARE|VISBY_LAS|B|R|20300101||ADT^A01|CTRL-1|P|2.5\rPID|1\r"
    async with MllpClient("127.0.0.1", server.port) as client:
        ack = parse_ack(await client.send(message))
    assert (ack.code, ack.control_id) == ("AA", "CTRL-1")


async def test_the_rate_spaces_the_messages(serve_acks: StartServer) -> None:
    server = await serve_acks(AckServer())
    loop = asyncio.get_running_loop()
    started = loop.time()
    await send_admissions("127.0.0.1", server.port, count=5, rate_per_s=20, seed=5)
    assert loop.time() - started >= 0.19


async def test_continuous_mode_sends_until_cancelled(serve_acks: StartServer) -> None:
    server = await serve_acks(AckServer())
    sent: list[SentNotice] = []
    ten_sent = asyncio.Event()

    def record(notice: SentNotice) -> None:
        sent.append(notice)
        if len(sent) >= 10:
            ten_sent.set()

    options = SendOptions(port=server.port)
    task = asyncio.create_task(run(options, rate_per_s=200, seed=5, on_sent=record))
    await asyncio.wait_for(ten_sent.wait(), timeout=10)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert all(n.ack_code == "AA" for n in sent)


async def test_send_log_lines_mask_the_personnummer(
    serve_acks: StartServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="takecare_sim")
    server = await serve_acks(AckServer())
    [notice] = await send_admissions("127.0.0.1", server.port, count=1, seed=5)
    assert notice.patient_identifier not in caplog.text
    assert notice.patient_identifier[:8] + "-****" in caplog.text
