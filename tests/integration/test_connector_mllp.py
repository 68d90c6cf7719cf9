"""The MLLP destination connector over real sockets: the ACK decides the delivery's outcome.

Receivers: a small in-test MLLP server that answers as told, the bridge's own MLLP server
(``entrypoints/mllp.py``) with the bridge's ACK builder, and a whole running bridge.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from bridge.config import Settings
from bridge.connectors.hl7_ack import classify_ack
from bridge.connectors.mllp import MllpConnector
from bridge.connectors.port import OutboundMessage, Outcome
from bridge.domain.hl7.ack import build_ack
from bridge.domain.hl7.header import peek_header
from bridge.domain.routing import AckConvention, Destination, PayloadFormat, TransportKind
from bridge.entrypoints.mllp import MllpServer
from bridge.entrypoints.runner import running_bridge
from bridge.service.delivery.outbound import HL7_V2
from takecare_sim import build_admission, generate_admissions

ADMISSIONS = generate_admissions(5, seed=21)
END = b"\x1c\r"


def a01(control_id: str, number: int = 0) -> str:
    return build_admission(ADMISSIONS[number], control_id)


def outbound(port: int, body: str) -> OutboundMessage:
    destination = Destination(
        name="primary-care",
        address=f"mllp://127.0.0.1:{port}",
        format=PayloadFormat.HL7V2,
        transport=TransportKind.MLLP,
    )
    return OutboundMessage(destination, HL7_V2, body, "key-1", "corr-1")


def ack_text(message: bytes, code: str, control_id: str | None = None) -> bytes:
    header = peek_header(message.decode())
    ack = build_ack(header, code, text="" if code in ("AA", "CA") else "says no")  # type: ignore[arg-type]
    if control_id is not None and header is not None:
        ack = ack.replace(f"|{header.control_id}", f"|{control_id}")
    return ack.encode()


@dataclass
class Receiver:
    """Answers every framed message with ``reply(message)``; None: no answer at all."""

    reply: Callable[[bytes], bytes | None]
    close_after_reply: bool = False
    received: list[bytes] = field(default_factory=list)
    connections: int = 0

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            while True:
                block = await reader.readuntil(END)
                message = block[block.index(b"\x0b") + 1 : -2]
                self.received.append(message)
                answer = self.reply(message)
                if answer is not None:
                    writer.write(b"\x0b" + answer + END)
                    await writer.drain()
                if self.close_after_reply:
                    break
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()


@asynccontextmanager
async def serving(receiver: Receiver) -> AsyncIterator[int]:
    server = await asyncio.start_server(receiver.handle, "127.0.0.1", 0)
    try:
        yield server.sockets[0].getsockname()[1]
    finally:
        server.close()


@pytest.fixture
async def connector() -> AsyncIterator[MllpConnector]:
    connector = MllpConnector(timeout=2.0, connect_timeout=1.0)
    yield connector
    await connector.close()


@pytest.mark.parametrize(
    ("code", "outcome"),
    [
        ("AA", Outcome.DELIVERED),
        ("CA", Outcome.DELIVERED),
        ("AE", Outcome.PERMANENT),  # an error in the content: the same message never goes in
        ("CE", Outcome.TRANSIENT),
        ("AR", Outcome.TRANSIENT),  # refused for reasons unrelated to content: send again later
        ("CR", Outcome.PERMANENT),
    ],
)
async def test_the_ack_code_decides_the_outcome(
    connector: MllpConnector, code: str, outcome: Outcome
) -> None:
    # Given a receiver answering every message with this ACK code
    receiver = Receiver(lambda message: ack_text(message, code))
    async with serving(receiver) as port:
        # When a message is delivered
        result = await connector.send(outbound(port, a01("TC0001")))
    # Then the ACK code classifies it, and a refusal carries the receiver's reason
    assert result.outcome is outcome
    assert receiver.received[0].decode() == a01("TC0001")
    if outcome is not Outcome.DELIVERED:
        assert result.error == f"receiver answered {code}: says no"


async def test_an_ack_naming_another_message_is_not_a_delivery(connector: MllpConnector) -> None:
    # Given a receiver whose ACK echoes a wrong MSA-2
    receiver = Receiver(lambda message: ack_text(message, "AA", control_id="SOMEONE-ELSE"))
    async with serving(receiver) as port:
        # When two messages are delivered
        first = await connector.send(outbound(port, a01("TC0001")))
        second = await connector.send(outbound(port, a01("TC0002")))
    # Then neither counts as delivered, and each went out on a fresh connection
    assert first.outcome is second.outcome is Outcome.TRANSIENT
    assert first.error == "ACK names message 'SOMEONE-ELSE', not the 'TC0001' sent"
    assert receiver.connections == 2


async def test_an_unreadable_answer_is_transient(connector: MllpConnector) -> None:
    async with serving(Receiver(lambda _: b"this is no ACK")) as port:
        result = await connector.send(outbound(port, a01("TC0001")))
    assert result.outcome is Outcome.TRANSIENT
    assert result.error is not None and result.error.startswith("no readable ACK in the answer")


async def test_no_answer_in_time_is_transient() -> None:
    connector = MllpConnector(timeout=0.3)
    async with serving(Receiver(lambda _: None)) as port:
        result = await connector.send(outbound(port, a01("TC0001")))
    await connector.close()
    assert result.outcome is Outcome.TRANSIENT
    assert result.error is not None and "sent no reply within 0.3s" in result.error


async def test_a_receiver_that_hangs_up_without_answering_is_transient(
    connector: MllpConnector,
) -> None:
    async with serving(Receiver(lambda _: None, close_after_reply=True)) as port:
        result = await connector.send(outbound(port, a01("TC0001")))
    assert result.outcome is Outcome.TRANSIENT
    assert result.error is not None and "closed before replying" in result.error


async def test_nobody_listening_is_transient(connector: MllpConnector) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    result = await connector.send(outbound(port, a01("TC0001")))
    assert result.outcome is Outcome.TRANSIENT
    assert result.error is not None and "unreachable" in result.error


async def test_a_payload_without_a_control_id_is_permanent(connector: MllpConnector) -> None:
    result = await connector.send(outbound(1, "PID|1||194209179938"))
    assert result.outcome is Outcome.PERMANENT


async def test_messages_share_one_connection_and_keep_their_order(
    connector: MllpConnector,
) -> None:
    # Given a receiver answering AA
    receiver = Receiver(lambda message: ack_text(message, "AA"))
    async with serving(receiver) as port:
        # When ten messages are delivered at once
        results = await asyncio.gather(
            *(connector.send(outbound(port, a01(f"TC{n:04d}", n % 5))) for n in range(10))
        )
    # Then all are delivered over one connection, one at a time, each ACK matched to its message
    assert [r.outcome for r in results] == [Outcome.DELIVERED] * 10
    assert receiver.connections == 1
    assert len(receiver.received) == 10


async def test_the_bridges_own_mllp_server_and_ack_builder_interoperate(
    connector: MllpConnector,
) -> None:
    # Given the bridge's MLLP server answering with the bridge's own ACK builder
    async def handle(raw: bytes) -> bytes:
        return build_ack(peek_header(raw.decode()), "AA").encode()

    server = MllpServer(handle, port=0)
    await server.start()
    try:
        # When a message is delivered to it
        result = await connector.send(outbound(server.port, a01("TC0001")))
    finally:
        await server.close(grace=1.0)
    # Then it is delivered
    assert result.outcome is Outcome.DELIVERED


async def test_delivering_to_a_running_bridge_over_mllp(
    connector: MllpConnector, tmp_path: Path
) -> None:
    # Given a whole bridge listening on MLLP (the receiving side of another bridge)
    settings = Settings(
        database_url=f"sqlite:///{tmp_path / 'receiver.db'}",
        http_port=0,
        mllp_port=0,
        treserva_url="http://127.0.0.1:9/fhir",
    )
    async with running_bridge(settings) as receiver:
        # When a valid admission and a broken one are delivered
        accepted = await connector.send(outbound(receiver.mllp_port, a01("TC0001")))
        broken = a01("TC0002").replace("^^^&1.2.752.129.2.1.3.1&ISO^NNSWE", "")
        refused = await connector.send(outbound(receiver.mllp_port, broken))
    # Then the first is delivered (AA after commit) and the second refused for good (AE: its
    # content is wrong)
    assert accepted.outcome is Outcome.DELIVERED
    assert refused.outcome is Outcome.PERMANENT
    assert refused.error is not None and refused.error.startswith("receiver answered AE:")
    assert ADMISSIONS[0].patient.identifier not in refused.error


@pytest.mark.parametrize(
    ("code", "outcome"),
    [("AE", Outcome.TRANSIENT), ("AR", Outcome.PERMANENT), ("CR", Outcome.PERMANENT)],
)
async def test_a_legacy_destination_reads_ae_and_ar_the_old_way(
    code: str, outcome: Outcome
) -> None:
    # Given a receiver declared ack_convention: legacy (AE try again, AR never)
    reply = (
        "MSH|^~\\&|R|F|B|S|20250101||ACK|A1|P|2.5\r"
        f"MSA|{code}|TC0001\rERR||PID^1^3|102^Data type error^HL70357|E\r"
    )
    # When its ACK is classified
    result = classify_ack(reply, "TC0001", convention=AckConvention.LEGACY)
    # Then the old reading applies
    assert result.outcome is outcome
