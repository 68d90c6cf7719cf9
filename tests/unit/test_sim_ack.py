"""Reading ACKs: MSA-1 and MSA-2 whatever the delimiters and line endings."""

from __future__ import annotations

import pytest

from takecare_sim.ack import AckUnreadableError, parse_ack


def test_reads_code_control_id_and_text() -> None:
    ack = parse_ack(
        "MSH|^~\\&|BRIDGE|RG|TAKECARE|VISBY_LAS|20300101||ACK^A01|A1|P|2.5\rMSA|AA|TC1\r"
    )
    assert (ack.code, ack.control_id, ack.text, ack.accepted) == ("AA", "TC1", "", True)


def test_reads_a_rejection_with_its_reason_and_newline_endings() -> None:
    ack = parse_ack("MSH|^~\\&|B|R|T|V|2030||ACK|A2|P|2.5\nMSA|AR|TC2|PID-3: check digit\nERR|||\n")
    assert (ack.code, ack.control_id, ack.text, ack.accepted) == (
        "AR", "TC2", "PID-3: check digit", False
    )  # fmt: skip


def test_honours_the_field_separator_the_msh_declares() -> None:
    ack = parse_ack("MSH#^~\\&#B#R\rMSA#CA#TC3")
    assert (ack.code, ack.control_id, ack.accepted) == ("CA", "TC3", True)


@pytest.mark.parametrize("text", ["", "hello", "MSH|^~\\&|B|R|T\rPID|1", "MSH|^~\\&|B\rMSA||TC1"])
def test_rejects_answers_that_are_not_acks(text: str) -> None:
    with pytest.raises(AckUnreadableError):
        parse_ack(text)
