"""Issue 2: no personnummer appears unmasked in any log line of a whole scenario."""

from __future__ import annotations

import asyncio
import io
import re

from conftest import Stack
from messages import admission, control_id, synthetic_personnummer
from services import wait_until
from test_admission_flow import inbox_for, mllp_send_foreign

from bridge.logging_setup import configure_logging


def forms(pnr: str) -> list[str]:
    """Every way a personnummer can be written: 12 digits, 10 digits, with separators."""
    return [pnr, pnr[2:], f"{pnr[:8]}-{pnr[8:]}", f"{pnr[2:8]}-{pnr[8:]}"]


async def test_no_personnummer_unmasked_in_any_log_line(stack: Stack) -> None:
    # Given the bridge logging at DEBUG, as JSON lines, from every library
    stream = io.StringIO()
    configure_logging("DEBUG", json_lines=True, stream=stream)
    good, protected_like, bad = synthetic_personnummer(), synthetic_personnummer(), "191212121213"
    messages = [
        admission(control_id(), good),
        admission(control_id(), protected_like),
        admission(control_id(), bad),  # rejected: wrong check digit
        "MSH|^~\\&|X|Y|||20240101||ADT^A01|1|P|2.5\rPID|1||" + good + "\r",  # malformed
    ]

    # When a scenario with accepted, duplicate and rejected messages runs end to end
    await asyncio.to_thread(mllp_send_foreign, stack.bridge.mllp_port, [*messages, messages[0]])
    await wait_until(lambda: inbox_for(stack, good), within=5, what="delivered")
    await wait_until(lambda: inbox_for(stack, protected_like), within=5, what="delivered")

    # Then the logs are not empty, and no form of any personnummer is in them
    logs = stream.getvalue()
    assert len(logs.splitlines()) > 5
    for pnr in (good, protected_like, bad):
        for form in forms(pnr):
            assert form not in logs, f"unmasked personnummer in logs: {form[:6]}…"
    assert re.search(r"\d{6,8}-\*\*\*\*", logs), "expected masked identifiers in the logs"
