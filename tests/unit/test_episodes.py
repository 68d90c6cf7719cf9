"""Care episodes as plain values: the fold of a stay's notices, and the rule book's file format."""

from __future__ import annotations

from datetime import UTC, timedelta

import pytest
from pydantic import ValidationError

from bridge.domain.deadlines import DEFAULT_RULE_BOOK, Anchor, Verdict, evaluate, merge_rule_book
from bridge.domain.episodes import EpisodeStatus, Notice, NoticeDelivery, Step, age_on, fold
from bridge.domain.model import EventCode as E
from support.stays import WARD, at, notice, stay


def test_fold_reads_a_whole_stay_in_the_order_its_notices_were_sent() -> None:
    # Given the notices of one stay, handed over out of order
    admitted = at("2025-02-03 10:00")
    notices = [
        notice(E.DISCHARGE, at("2025-02-10 14:00"), discharged=at("2025-02-10 13:30")),
        notice(E.ADMISSION, at("2025-02-03 10:20"), admitted=admitted),
        notice(E.DISCHARGE_READY, at("2025-02-08 09:00")),
        notice(E.DISCHARGE_READY_WITHDRAWN, at("2025-02-08 15:00")),
        notice(E.DISCHARGE_READY, at("2025-02-09 09:00")),
    ]

    # When they are folded
    state = fold(notices)

    # Then the stay is discharged, with the second discharge-ready notice in force
    assert state.status is EpisodeStatus.DISCHARGED
    assert state.admitted_at == admitted
    assert state.discharged_at == at("2025-02-10 13:30")
    assert state.admitting_unit == WARD
    assert [ready.withdrawn_at for ready in state.discharge_ready] == [
        at("2025-02-08 15:00"),
        None,
    ]
    ready = state.ready_in_effect
    assert ready is not None and ready.notice.sent_at == at("2025-02-09 09:00")


def test_a_cancelled_discharge_reopens_the_stay_and_a_cancelled_admission_cancels_it() -> None:
    base = [notice(E.ADMISSION, at("2025-02-03 10:00"), admitted=at("2025-02-03 10:00"))]
    discharged = [*base, notice(E.DISCHARGE, at("2025-02-05 10:00"))]

    assert fold(discharged).status is EpisodeStatus.DISCHARGED
    reopened = fold([*discharged, notice(E.DISCHARGE_CANCELLED, at("2025-02-05 11:00"))])
    assert reopened.status is EpisodeStatus.OPEN and reopened.discharged_at is None
    cancelled = fold([*base, notice(E.ADMISSION_CANCELLED, at("2025-02-03 11:00"))])
    assert cancelled.status is EpisodeStatus.CANCELLED
    assert cancelled.cancelled_at == at("2025-02-03 11:00")


def test_a_stay_first_seen_without_its_admission_notice_takes_the_admission_time_it_names() -> None:
    state = fold([notice(E.DISCHARGE_READY, at("2025-02-05 09:00"), admitted=at("2025-02-03"))])

    assert state.admitted_at == at("2025-02-03 00:00")
    assert state.admission is None


def test_notice_times_are_kept_in_utc_and_done_means_every_recipient() -> None:
    # Given a notice to two recipients, one delivered later, one never receipted
    sent = at("2025-10-26 01:30")
    both = Notice(
        message_id="m",
        event=E.ADMISSION,
        sent_at=sent,
        deliveries=(
            NoticeDelivery("treserva", sent, sent + timedelta(minutes=5)),
            NoticeDelivery("vardcentral", sent + timedelta(hours=2), None),
        ),
    )

    # Then its times are UTC, it is delivered when the last recipient has it, never receipted
    assert both.sent_at.tzinfo is UTC
    assert both.done_at(Step.DELIVERED) == sent + timedelta(hours=2)
    assert both.done_at(Step.RECEIPTED) is None
    assert both.delivery("vardcentral") is not None


def test_age_counts_whole_years() -> None:
    born = at("1960-03-15 00:00").date()
    assert age_on(born, at("2025-03-14 12:00").date()) == 64
    assert age_on(born, at("2025-03-15 12:00").date()) == 65


# --- the rules file -------------------------------------------------------------------------


def test_the_defaults_hold_the_laws_deadlines() -> None:
    rules = {rule.id: rule for rule in DEFAULT_RULE_BOOK.rules}

    assert rules["admission-notice-24h"].within.hours == 24
    assert rules["admission-notice-24h"].step is Step.RECEIPTED
    assert rules["sip-invitation-3d"].within.days == 3
    assert rules["sip-invitation-3d"].anchor is Anchor.DISCHARGE_READY
    assert rules["discharge-notice-same-day"].within.end_of_day
    assert rules["discharge-ready-before-discharge"].anchor is Anchor.DISCHARGED
    assert rules["notice-receipted"].anchor is Anchor.NOTICE_SENT


def test_a_rules_file_overrides_disables_and_adds_rules() -> None:
    # Given a file that shortens the receipt time, switches the SIP rule off and adds a rule
    book = merge_rule_book(
        {
            "rules": [
                {"id": "notice-receipted", "within": {"hours": 1}},
                {"id": "sip-invitation-3d", "enabled": False},
                {
                    "id": "estimate-within-48h",
                    "title": "Estimated discharge date within 48 h of admission",
                    "anchor": "admitted",
                    "notices": ["estimated-discharge-changed"],
                    "step": "sent",
                    "within": {"hours": 48},
                },
            ],
            "indicators": {"payment_after_days": 5},
        }
    )

    # Then the rest stays as the law has it
    assert book.rule("notice-receipted").within.hours == 1
    assert book.rule("notice-receipted").step is Step.RECEIPTED
    assert "sip-invitation-3d" not in {rule.id for rule in book.enabled}
    assert book.rule("estimate-within-48h").within.hours == 48
    assert book.indicators.payment_after_days == 5
    assert book.indicators.readmission_days == 30

    # And the added rule is evaluated like the others
    facts = stay(notice(E.ADMISSION, at("2025-02-03 10:00"), admitted=at("2025-02-03 10:00")))
    [added] = [
        o for o in evaluate(book, facts, at("2025-02-05 10:01")) if o.rule.id.startswith("e")
    ]
    assert added.verdict is Verdict.MISSING


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        ({"rules": [{"id": "notice-receipted", "within": {}}]}, "give hours, days or end_of_day"),
        ({"rules": [{"id": "x-rule", "title": "t", "anchor": "admitted"}]}, "Field required"),
        ({"rules": [{"id": "notice-receipted", "step": "teleported"}]}, "step"),
        ({"rules": [{"title": "no id"}]}, "every rule needs an id"),
        ({"deadlines": []}, "unknown section"),
        (
            {"rules": [{"id": "notice-receipted", "anchor": "admitted"}]},
            "name the notices",
        ),
    ],
)
def test_a_wrong_rules_file_is_refused_with_a_reason(content: object, problem: str) -> None:
    with pytest.raises((ValidationError, ValueError), match=problem):
        merge_rule_book(content)  # type: ignore[arg-type]
