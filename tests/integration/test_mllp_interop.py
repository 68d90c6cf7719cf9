"""Our MLLP server against clients that are not ours (python-hl7), and against our own client."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import hl7
import hl7.client
import pytest

from bridge.connectors.mllp_client import MllpClient
from bridge.entrypoints.mllp import FrameDecoder, MllpServer, frame

MLLP_SEND = Path(sys.executable).parent / "mllp_send"


def adt(control_id: str) -> str:
    return (
        f"MSH|^~\\&|TAKECARE|SU|BRIDGE|KOMMUN|20250101120000||ADT^A01|{control_id}|P|2.5\r"
        "PID|||191212121212^^^SE^PN||Tolvansson^Tolvan\r"
    )


async def ack_handler(raw: bytes) -> bytes:
    """A real ACK: AA with MSA-2 echoing the message's MSH-10."""
    return str(hl7.parse(raw.decode("utf-8")).create_ack()).encode("utf-8")


def acked_control_ids(replies: list[bytes]) -> list[str]:
    return [str(hl7.parse(r.decode()).segment("MSA")[2]) for r in replies]


@pytest.fixture
async def server() -> AsyncIterator[MllpServer]:
    mllp = MllpServer(ack_handler, port=0)
    await mllp.start()
    yield mllp
    await mllp.close(grace=1.0)


def send_with_python_hl7(port: int, messages: list[str]) -> list[bytes]:
    with hl7.client.MLLPClient("127.0.0.1", port) as client:
        return [client.send_message(m) for m in messages]


async def test_python_hl7_client_gets_an_ack_per_message(server: MllpServer) -> None:
    ids = ["TC1", "TC2", "TC3"]
    raw_replies = await asyncio.to_thread(send_with_python_hl7, server.port, [adt(i) for i in ids])
    replies = [r for raw in raw_replies for r in FrameDecoder(1 << 20).feed(raw)]
    assert acked_control_ids(replies) == ids
    assert server.stats.connections_total == 1


async def run_mllp_send(port: int, *args: str) -> bytes:
    process = await asyncio.create_subprocess_exec(
        str(MLLP_SEND),
        "-p",
        str(port),
        *args,
        "127.0.0.1",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    stdout, stderr = await asyncio.wait_for(process.communicate(), timeout=30)
    assert process.returncode == 0, stderr.decode()
    return stdout


async def test_mllp_send_tool_sends_a_file_of_framed_messages(
    server: MllpServer, tmp_path: Path
) -> None:
    ids = ["F1", "F2", "F3"]
    batch = tmp_path / "batch.hl7"
    batch.write_bytes(b"".join(frame(adt(i).encode()) for i in ids))
    stdout = await run_mllp_send(server.port, "--file", str(batch))
    assert acked_control_ids(FrameDecoder(1 << 20).feed(stdout)) == ids


async def test_mllp_send_tool_sends_a_loose_text_file(server: MllpServer, tmp_path: Path) -> None:
    ids = ["L1", "L2"]
    batch = tmp_path / "loose.txt"
    batch.write_text("\n".join(adt(i).replace("\r", "\n") for i in ids))
    stdout = await run_mllp_send(server.port, "--loose", "--file", str(batch))
    assert acked_control_ids(FrameDecoder(1 << 20).feed(stdout)) == ids


async def test_our_client_against_our_server(server: MllpServer) -> None:
    async with MllpClient("127.0.0.1", server.port) as client:
        replies = [await client.send(adt(f"O{n}")) for n in range(5)]
    assert acked_control_ids(replies) == [f"O{n}" for n in range(5)]
    assert server.stats.connections_total == 1
