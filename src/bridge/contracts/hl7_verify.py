"""Run the HL7 v2 example contracts against a provider over any transport.

Each example gets a fresh MSH-10 per run (unless it keeps its own), so a second verification
run is not answered as a repeat of the first; an example sent more than once repeats the same
MSH-10 (and AMQP ``message_id``) on purpose: that is the repeat being tested.
"""

from __future__ import annotations

import uuid

from bridge.contracts.ack_rules import ack_mismatches, read_ack
from bridge.contracts.er7_edit import edit_message, field_value
from bridge.contracts.loader import hl7_base_message
from bridge.contracts.model import Hl7Contract, Hl7Example
from bridge.contracts.report import Check, Outcome
from bridge.contracts.transports import HL7_V2, NoAnswer, Transport
from bridge.domain.errors import MessageRejected


def example_message(contract: Hl7Contract, example: Hl7Example) -> str:
    """The ER7 an example sends: the base message with its edits and a fresh MSH-10."""
    values = dict(example.set)
    if not example.keep_control_id and "MSH-10" not in values:
        values["MSH-10"] = f"CT{uuid.uuid4().hex[:18].upper()}"
    return edit_message(hl7_base_message(contract), values, example.remove)


async def verify_hl7(contracts: list[Hl7Contract], transport: Transport) -> list[Check]:
    checks: list[Check] = []
    for contract in contracts:
        for example in contract.examples:
            problems = await _run(contract, example, transport)
            outcome = Outcome.PASSED
            if problems:
                outcome = Outcome.PENDING if contract.pending else Outcome.FAILED
            checks.append(Check(contract.contract, example.name, outcome, tuple(problems)))
    return checks


async def _run(contract: Hl7Contract, example: Hl7Example, transport: Transport) -> list[str]:
    text = example_message(contract, example)
    control_id = field_value(text, "MSH-10")
    message_id = control_id or uuid.uuid4().hex
    problems: list[str] = []
    for attempt in range(1, example.sends + 1):
        prefix = f"answer {attempt} of {example.sends}: " if example.sends > 1 else ""
        try:
            answer = await transport.send(text.encode(), HL7_V2, message_id=message_id)
        except NoAnswer as error:
            return [f"{prefix}no answer: {error}"]
        if answer.status is not None and answer.status != 200:
            problems.append(f"{prefix}HTTP status: expected 200, got {answer.status}")
        try:
            facts = read_ack(answer.body.decode("utf-8", errors="replace"))
        except MessageRejected as error:
            problems.append(f"{prefix}the answer is not an HL7 ACK: {error}")
            continue
        problems += [prefix + p for p in ack_mismatches(example.expect, facts, control_id)]
    return problems
