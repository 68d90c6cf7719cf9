"""Issue 11, must-show 2 and 3, over real sockets: HL7 v2 answers as real senders expect them.

- database down → AR; once it is back, the resent message is accepted, and delivered, once;
- MSH-15=NE gets no accept ACK and the connection stays usable; MSH-15=ER answers only errors;
- MSH-16=AL gets an application ACK at the source's return address after Treserva's receipt;
- a Latin-1 sender declaring 8859/1 gets its ACK in 8859/1 with MSH-18 echoed, and Treserva
  receives "Åström".
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import hl7
import psycopg
import pytest
from conftest import Stack, mode_settings
from messages import admission, control_id, synthetic_personnummer
from services import _libpq, wait_until
from sqlalchemy import func, select
from sqlalchemy.engine import make_url
from test_admission_flow import inbox_for, settled

from bridge.bootstrap import Bridge
from bridge.contracts.er7_edit import edit_message
from bridge.domain.hl7.ack import parse_ack
from bridge.entrypoints.mllp import MllpServer, frame
from bridge.entrypoints.runner import running_bridge
from bridge.store.tables import ApplicationAckRow, MessageRow
from treserva_sim.server import RunningTreserva


def mllp_conversation(port: int, messages: list[bytes], replies: int) -> list[bytes]:
    """Send every message on one connection, then read exactly ``replies`` framed answers."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        for message in messages:
            sock.sendall(frame(message))
        return [_read_frame(sock) for _ in range(replies)]


def mllp_exchange(port: int, messages: list[bytes], replies: int) -> tuple[list[bytes], bool]:
    """As :func:`mllp_conversation`, and whether nothing more came within half a second on a
    connection still open (a second chance to answer a message that wanted no answer)."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(b"".join(frame(message) for message in messages))
        answers = [_read_frame(sock) for _ in range(replies)]
        sock.settimeout(0.5)
        try:
            sock.recv(1)  # a byte, or b"" for a closed connection: either is not silence
        except TimeoutError:
            return answers, True
        return answers, False


def _read_frame(sock: socket.socket) -> bytes:
    data = b""
    while not data.endswith(b"\x1c\r"):
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError("connection closed before a whole frame")
        data += chunk
    return data.strip(b"\x0b\x1c\r")


def with_msh(text: str, **fields: str) -> bytes:
    edits = {f"MSH-{name.removeprefix('msh')}": value for name, value in fields.items()}
    return edit_message(text, edits).encode()


# --- database down ------------------------------------------------------------------------


@contextlib.contextmanager
def database_closed(database_url: str) -> Iterator[None]:
    """This test's own database refuses connections (and loses the open ones) until exit."""
    url = make_url(database_url)
    name = url.database
    admin = _libpq(url.set(database="postgres").render_as_string(False))
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false')
        conn.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s", (name,)
        )
    try:
        yield
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true')


@pytest.mark.postgres
async def test_database_down_gives_ar_and_the_resent_message_is_accepted_once(
    tmp_path: Path, treserva: RunningTreserva
) -> None:
    with mode_settings("production", tmp_path, treserva) as settings:
        async with running_bridge(settings) as bridge:
            pnr, control = synthetic_personnummer(), control_id()
            message = admission(control, pnr).encode()
            stack = Stack(treserva, bridge, settings)

            # Given the bridge's database refusing connections
            with database_closed(settings.database_url):
                # When an admission arrives
                [ack] = await asyncio.to_thread(mllp_conversation, bridge.mllp_port, [message], 1)
                # Then the sender is told AR (resend later, not "fix the message"), naming 207
                answer = parse_ack(ack.decode())
                assert answer.code == "AR"
                assert answer.control_id == control
                assert b"|207^Application internal error^HL70357|" in ack

            # When the database is back and the sender resends the same message twice
            acks = await asyncio.to_thread(
                mllp_conversation, bridge.mllp_port, [message, message], 2
            )

            # Then both get AA, it is stored once and Treserva receives it once
            assert [parse_ack(a.decode()).code for a in acks] == ["AA", "AA"]
            await wait_until(lambda: inbox_for(stack, pnr), within=10, what="delivered")
            await wait_until(lambda: settled(stack), within=10, what="deliveries settled")
            async with bridge.bridge.db.session() as session:
                stored = await session.scalar(
                    select(func.count()).where(MessageRow.dedupe_key.like(f"%|{control}"))
                )
            assert stored == 1
            assert len(await inbox_for(stack, pnr)) == 1


# --- MSH-15 ------------------------------------------------------------------------------


async def test_msh_15_ne_gets_no_accept_ack_and_the_connection_stays_usable(stack: Stack) -> None:
    # Given a message asking for no accept ACK, then an ordinary one, on one connection
    quiet_pnr, loud = synthetic_personnummer(), control_id()
    quiet = with_msh(admission(control_id(), quiet_pnr), msh15="NE", msh16="NE")
    ordinary = admission(loud, synthetic_personnummer()).encode()

    # When both are sent and one answer is read
    [answer], silent = await asyncio.to_thread(
        mllp_exchange, stack.bridge.mllp_port, [quiet, ordinary], 1
    )

    # Then the only answer is the ordinary message's AA, on a connection still open
    assert parse_ack(answer.decode()) == ("AA", loud, "")
    assert silent

    # And the quiet one was accepted and delivered all the same
    await wait_until(lambda: inbox_for(stack, quiet_pnr), within=10, what="quiet one delivered")


async def test_msh_15_er_answers_only_the_error(stack: Stack) -> None:
    # Given two messages asking for an accept ACK on errors only: a good one, a v2.9 one
    bad = control_id()
    good = with_msh(admission(control_id(), synthetic_personnummer()), msh15="ER", msh16="NE")
    unsupported = with_msh(admission(bad, synthetic_personnummer()), msh15="ER", msh12="2.9")

    # When both are sent on one connection
    [answer], silent = await asyncio.to_thread(
        mllp_exchange, stack.bridge.mllp_port, [good, unsupported], 1
    )

    # Then only the error is answered: CR naming MSH-12
    assert parse_ack(answer.decode()).code == "CR"
    assert parse_ack(answer.decode()).control_id == bad
    assert b"MSH^1^12" in answer
    assert silent


# --- MSH-16: application ACK after the destination's receipt ---------------------------------


@contextlib.asynccontextmanager
async def return_address() -> AsyncIterator[tuple[MllpServer, list[bytes]]]:
    """The sender's own MLLP listener for application ACKs: records them, answers CA."""
    received: list[bytes] = []

    async def commit(raw: bytes) -> bytes:
        received.append(raw)
        header = hl7.parse(raw.decode("utf-8"))
        msh10 = str(header.segment("MSH")[10])
        return (
            f"MSH|^~\\&|TakeCare|SE2120000803|||20250101||ACK|R1|P|2.5\rMSA|CA|{msh10}\r".encode()
        )

    server = MllpServer(commit, "127.0.0.1", 0)
    async with server:
        yield server, received


def routing_file(tmp_path: Path, treserva: RunningTreserva, return_port: int) -> Path:
    path = tmp_path / "routing.yaml"
    path.write_text(
        f"""
sources:
  - name: takecare
    facilities: [SE2120000803]
    acknowledgements:
      return_address: mllp://127.0.0.1:{return_port}
destinations:
  - name: treserva
    address: {treserva.base_url}/fhir
    receipt_timeout_seconds: 30
routes:
  - events: [admission]
    destinations: [treserva]
""",
        encoding="utf-8",
    )
    return path


async def test_msh_16_al_gets_an_application_ack_after_the_destinations_receipt(
    tmp_path: Path, treserva: RunningTreserva
) -> None:
    async with return_address() as (listener, received):
        with mode_settings("embedded", tmp_path, treserva) as base:
            settings = base.model_copy(
                update={
                    "routing_file": routing_file(tmp_path, treserva, listener.port),
                    # Far longer than the test waits: the receipt itself must wake the sender.
                    "application_ack_interval_seconds": 60,
                }
            )
            async with running_bridge(settings) as bridge:
                # Given Treserva sending receipts to this bridge
                treserva.bridge_link.point_at(f"{bridge.base_url}/fhir")
                control = control_id()
                message = with_msh(
                    admission(control, synthetic_personnummer()), msh15="AL", msh16="AL"
                )

                # When an admission asking for both acknowledgements arrives
                [accept] = await asyncio.to_thread(
                    mllp_conversation, bridge.mllp_port, [message], 1
                )

                # Then the accept ACK is CA at once, and no application ACK before the receipt
                assert parse_ack(accept.decode()).code == "CA"
                await wait_until(
                    lambda: _application_ack_sent(bridge.bridge),
                    within=15,
                    what="application ACK sent",
                )

                # And the application ACK came to the return address: AA for the MSH-10 sent,
                # from the bridge, asking for an accept ACK (MSH-15 AL) of its own
                [app_ack] = received
                parsed = hl7.parse(app_ack.decode("utf-8"))
                assert str(parsed.segment("MSA")[1]) == "AA"
                assert str(parsed.segment("MSA")[2]) == control
                assert str(parsed.segment("MSH")[3]) == "BRIDGE"
                assert str(parsed.segment("MSH")[15]) == "AL"
                async with bridge.bridge.db.session() as session:
                    receipted = await session.scalar(
                        select(func.count()).select_from(ApplicationAckRow)
                    )
                assert receipted == 1


async def _application_ack_sent(bridge: Bridge) -> bool:
    async with bridge.db.session() as session:
        states = (await session.scalars(select(ApplicationAckRow.state))).all()
    return bool(states) and all(state == "sent" for state in states)


async def test_a_content_error_in_enhanced_mode_is_ca_then_application_ae(
    tmp_path: Path, treserva: RunningTreserva
) -> None:
    async with return_address() as (listener, received):
        with mode_settings("embedded", tmp_path, treserva) as base:
            settings = base.model_copy(
                update={
                    "routing_file": routing_file(tmp_path, treserva, listener.port),
                    "application_ack_interval_seconds": 0.1,
                }
            )
            async with running_bridge(settings) as bridge:
                # Given a message with a wrong check digit asking for error ACKs (MSH-16 ER)
                control = control_id()
                message = with_msh(admission(control, "191212121213"), msh15="AL", msh16="ER")

                # When it is sent
                [accept] = await asyncio.to_thread(
                    mllp_conversation, bridge.mllp_port, [message], 1
                )

                # Then it is committed (stored as rejected): CA; the error comes as application
                # ACK AE naming PID-3 at the return address
                assert parse_ack(accept.decode()).code == "CA"
                await wait_until(
                    lambda: _application_ack_sent(bridge.bridge), within=15, what="AE sent"
                )
                [app_ack] = received
                parsed = hl7.parse(app_ack.decode("utf-8"))
                assert str(parsed.segment("MSA")[1]) == "AE"
                assert str(parsed.segment("MSA")[2]) == control
                assert str(parsed.segment("ERR")[2]) == "PID^1^3"
                assert str(parsed.segment("ERR")[3][0][0]) == "102"
                assert "191212121213" not in app_ack.decode("utf-8")


# --- MSH-18 ------------------------------------------------------------------------------


async def test_a_latin1_sender_gets_a_latin1_ack_and_treserva_receives_the_name(
    stack: Stack,
) -> None:
    # Given a sender writing ISO 8859-1 and declaring 8859/1, with "Åström" in PID-5
    pnr, control = synthetic_personnummer(), control_id()
    text = edit_message(admission(control, pnr), {"MSH-18": "8859/1", "PID-5": "Åström^Märta"})
    message = text.encode("iso8859-1")
    assert "Å".encode("iso8859-1") in message and "Å".encode() not in message

    # When it is sent over MLLP
    [ack] = await asyncio.to_thread(mllp_conversation, stack.bridge.mllp_port, [message], 1)

    # Then the ACK is 8859/1 bytes echoing MSH-18, accepted
    parsed = hl7.parse(ack.decode("iso8859-1"))
    assert str(parsed.segment("MSA")[1]) == "AA"
    assert str(parsed.segment("MSH")[18]) == "8859/1"

    # And Treserva receives the patient as Åström, Märta
    await wait_until(lambda: inbox_for(stack, pnr), within=10, what="delivered")
    [item] = await inbox_for(stack, pnr)
    patients = [
        entry["resource"]
        for entry in item["bundle"]["entry"]
        if entry["resource"]["resourceType"] == "Patient"
    ]
    assert patients[0]["name"][0]["family"] == "Åström"
    assert patients[0]["name"][0]["given"] == ["Märta"]


async def test_a_latin1_content_error_is_answered_in_latin1(stack: Stack) -> None:
    text = edit_message(
        admission(control_id(), "191212121213"), {"MSH-18": "8859/1", "PID-5": "Åström"}
    )
    [ack] = await asyncio.to_thread(
        mllp_conversation, stack.bridge.mllp_port, [text.encode("iso8859-1")], 1
    )
    parsed = hl7.parse(ack.decode("iso8859-1"))
    assert str(parsed.segment("MSA")[1]) == "AE"
    assert str(parsed.segment("MSH")[18]) == "8859/1"
    assert str(parsed.segment("ERR")[3][0][0]) == "102"
