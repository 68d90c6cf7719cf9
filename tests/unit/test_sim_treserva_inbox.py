"""The inbox: dedupe on the idempotency key, newest first, survives a restart with a file."""

from __future__ import annotations

from pathlib import Path

from treserva_sim.inbox import Inbox


def test_the_same_key_is_filed_once() -> None:
    inbox = Inbox()
    assert inbox.file("k1", "admission", "194209179938", {"n": 1}) is True
    assert inbox.file("k1", "admission", "194209179938", {"n": 2}) is False
    assert [item.bundle for item in inbox.items()] == [{"n": 1}]


def test_items_come_newest_first_and_limit_cuts_the_list() -> None:
    inbox = Inbox()
    for n in range(5):
        inbox.file(f"k{n}", "admission", None, {"n": n})
    assert [item.idempotency_key for item in inbox.items()] == ["k4", "k3", "k2", "k1", "k0"]
    assert [item.idempotency_key for item in inbox.items(limit=2)] == ["k4", "k3"]
    assert inbox.items(limit=0) == []
    assert inbox.count() == 5


def test_a_file_backed_inbox_remembers_notices_and_keys_across_restarts(tmp_path: Path) -> None:
    path = tmp_path / "inbox.sqlite"
    first = Inbox(path)
    first.file("k1", "admission", "194209179938", {"n": 1})
    first.close()
    second = Inbox(path)
    assert second.file("k1", "admission", "194209179938", {"n": 1}) is False
    item = second.items()[0]
    assert (item.idempotency_key, item.patient_identifier) == ("k1", "194209179938")
    assert item.received_at.tzinfo is not None


def test_clear_forgets_notices_and_their_keys() -> None:
    inbox = Inbox()
    inbox.file("k1", "admission", None, {})
    inbox.clear()
    assert inbox.count() == 0
    assert inbox.file("k1", "admission", None, {}) is True
