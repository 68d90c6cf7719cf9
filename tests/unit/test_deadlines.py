"""Issue 6, must show 1: each legal deadline met, missed by a minute, withdrawn, cancelled, and
across a daylight-saving change — on a controllable clock (``now`` is a parameter; no sleeping).

Times are Europe/Stockholm wall-clock text (``support.stays.at``). Summer time 2025 began on
30 March (02:00 CET → 03:00 CEST) and ended on 26 October (03:00 CEST → 02:00 CET).
"""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest

from bridge.domain.deadlines import (
    DEFAULT_RULE_BOOK,
    Outcome,
    Responsible,
    Verdict,
    Within,
    evaluate,
)
from bridge.domain.episodes import EpisodeFacts, NoticeDelivery, Step
from bridge.domain.model import EventCode as E
from support.stays import MINUTE, VARDCENTRAL, WARD, at, notice, stay

BOTH = frozenset({"region", "municipality"})


def outcome(rule_id: str, facts: EpisodeFacts, now: str) -> Outcome:
    [found] = [o for o in evaluate(DEFAULT_RULE_BOOK, facts, at(now)) if o.rule.id == rule_id]
    return found


# --- admission notice delivered and receipted within 24 h of admission ------------------------


def admitted(admission_at: str, **kwargs: object) -> EpisodeFacts:
    """An admission at ``admission_at`` whose notice is sent/delivered/receipted per kwargs."""
    sent = kwargs.pop("sent", admission_at)
    when = at(sent) if isinstance(sent, str) else sent
    return stay(notice(E.ADMISSION, when, admitted=at(admission_at), **kwargs))  # type: ignore[arg-type]


def test_admission_notice_receipted_within_24_hours_is_met() -> None:
    # Given an admission at 10:00 whose notice is receipted 23 h 59 min later
    facts = admitted("2025-02-03 10:00", receipted=at("2025-02-04 09:59"))

    # When the rule is evaluated the day after
    result = outcome("admission-notice-24h", facts, "2025-02-05 12:00")

    # Then it is met, with the deadline exactly 24 h after admission
    assert result.verdict is Verdict.MET
    assert result.deadline_at == at("2025-02-04 10:00")
    assert not result.is_deviation


def test_admission_notice_receipted_a_minute_late_is_late_by_a_minute_for_the_receiver() -> None:
    # Given a notice sent and delivered at once but receipted at 24 h + 1 min
    facts = admitted("2025-02-03 10:00", receipted=at("2025-02-04 10:01"))

    # When evaluated
    result = outcome("admission-notice-24h", facts, "2025-02-04 10:01")

    # Then it is late by one minute, and the receiving side answers for it
    assert result.verdict is Verdict.LATE
    assert result.late_by == MINUTE
    assert result.failed_step is Step.RECEIPTED
    assert result.responsible is Responsible.RECEIVER
    assert result.receivers == ("treserva",)


def test_admission_notice_sent_a_minute_late_is_the_sending_wards_deviation() -> None:
    # Given a ward that sends the notice 24 h 1 min after admission
    facts = admitted("2025-02-03 10:00", sent="2025-02-04 10:01")

    result = outcome("admission-notice-24h", facts, "2025-02-05 00:00")

    # Then it is late by a minute and the sending unit answers for it
    assert result.verdict is Verdict.LATE
    assert result.late_by == MINUTE
    assert result.failed_step is Step.SENT
    assert result.responsible is Responsible.SENDER
    assert result.sending_unit == WARD


def test_admission_notice_never_sent_is_pending_until_the_deadline_then_missing() -> None:
    # Given a stay known only from its discharge-ready notice (no admission notice ever came)
    facts = stay(notice(E.DISCHARGE_READY, at("2025-02-04 09:00"), admitted=at("2025-02-03 10:00")))

    # When evaluated a minute before and a minute after the deadline
    before = outcome("admission-notice-24h", facts, "2025-02-04 09:59")
    after = outcome("admission-notice-24h", facts, "2025-02-04 10:01")

    # Then it is pending, then missing by a minute, the sender's
    assert before.verdict is Verdict.PENDING
    assert after.verdict is Verdict.MISSING
    assert after.late_by == MINUTE
    assert after.responsible is Responsible.SENDER


def test_admission_notice_delivered_but_never_receipted_is_missing_for_the_receiver() -> None:
    # Given the silent drop: delivered (2xx) at once, no receipt ever
    facts = admitted("2025-02-03 10:00", receipted=None)

    result = outcome("admission-notice-24h", facts, "2025-02-04 11:00")

    assert result.verdict is Verdict.MISSING
    assert result.late_by == timedelta(hours=1)
    assert result.failed_step is Step.RECEIPTED
    assert result.responsible is Responsible.RECEIVER


def test_admission_cancelled_before_the_deadline_cancels_it() -> None:
    # Given an admission whose notice is never receipted, cancelled 2 h after admission
    facts = stay(
        notice(
            E.ADMISSION, at("2025-02-03 10:00"), admitted=at("2025-02-03 10:00"), receipted=None
        ),
        notice(E.ADMISSION_CANCELLED, at("2025-02-03 12:00")),
    )

    result = outcome("admission-notice-24h", facts, "2025-02-10 00:00")

    # Then there is no deviation: the stay did not happen
    assert result.verdict is Verdict.CANCELLED
    assert not result.is_deviation


def test_admission_cancelled_after_the_deadline_leaves_the_miss_standing() -> None:
    # Given the deadline passed unreceipted before the cancellation arrived
    facts = stay(
        notice(
            E.ADMISSION, at("2025-02-03 10:00"), admitted=at("2025-02-03 10:00"), receipted=None
        ),
        notice(E.ADMISSION_CANCELLED, at("2025-02-04 10:30")),
    )

    result = outcome("admission-notice-24h", facts, "2025-02-10 00:00")

    # Then it stays missing, by as long as it was open (30 min)
    assert result.verdict is Verdict.MISSING
    assert result.late_by == timedelta(minutes=30)


@pytest.mark.parametrize(
    ("admission", "receipt", "verdict", "deadline"),
    [
        # spring: 24 elapsed hours from 12:00 CET end at 13:00 CEST the next day
        ("2025-03-29 12:00", "2025-03-30 12:30", Verdict.MET, "2025-03-30 13:00"),
        ("2025-03-29 12:00", "2025-03-30 13:01", Verdict.LATE, "2025-03-30 13:00"),
        # autumn: 24 elapsed hours from 12:00 CEST end at 11:00 CET the next day
        ("2025-10-25 12:00", "2025-10-26 11:00", Verdict.MET, "2025-10-26 11:00"),
        ("2025-10-25 12:00", "2025-10-26 11:01", Verdict.LATE, "2025-10-26 11:00"),
    ],
)
def test_24_hours_are_elapsed_hours_across_a_daylight_saving_change(
    admission: str, receipt: str, verdict: Verdict, deadline: str
) -> None:
    facts = admitted(admission, receipted=at(receipt))

    result = outcome("admission-notice-24h", facts, "2025-11-01 00:00")

    assert result.verdict is verdict
    assert result.deadline_at == at(deadline)
    assert result.deadline_at is not None and result.anchor_at is not None
    assert result.deadline_at - result.anchor_at == timedelta(hours=24)
    if verdict is Verdict.LATE:
        assert result.late_by == MINUTE


# --- discharge-ready notice before discharge --------------------------------------------------


def discharged_after(*notices_before: object, discharge: str = "2025-02-10 14:00") -> EpisodeFacts:
    return stay(
        notice(E.ADMISSION, at("2025-02-03 10:00"), admitted=at("2025-02-03 10:00")),
        *notices_before,  # type: ignore[arg-type]
        notice(E.DISCHARGE, at(discharge), discharged=at(discharge)),
    )


def test_discharge_ready_notice_before_discharge_is_met() -> None:
    facts = discharged_after(notice(E.DISCHARGE_READY, at("2025-02-09 09:00")))

    assert outcome("discharge-ready-before-discharge", facts, "2025-02-11 00:00").verdict is (
        Verdict.MET
    )


def test_discharge_ready_notice_a_minute_after_discharge_is_late_by_a_minute() -> None:
    facts = discharged_after(notice(E.DISCHARGE_READY, at("2025-02-10 14:01")))

    result = outcome("discharge-ready-before-discharge", facts, "2025-02-11 00:00")

    assert result.verdict is Verdict.LATE
    assert result.late_by == MINUTE
    assert result.responsible is Responsible.SENDER


def test_a_withdrawn_discharge_ready_notice_does_not_count_unless_sent_again() -> None:
    # Given discharge-ready, withdrawn, and (second stay) sent again before discharge
    withdrawn_only = discharged_after(
        notice(E.DISCHARGE_READY, at("2025-02-08 09:00")),
        notice(E.DISCHARGE_READY_WITHDRAWN, at("2025-02-08 15:00")),
    )
    sent_again = discharged_after(
        notice(E.DISCHARGE_READY, at("2025-02-08 09:00")),
        notice(E.DISCHARGE_READY_WITHDRAWN, at("2025-02-08 15:00")),
        notice(E.DISCHARGE_READY, at("2025-02-10 08:00")),
    )

    # Then a discharge with the notice withdrawn lacks it; sent again, it is met
    missing = outcome("discharge-ready-before-discharge", withdrawn_only, "2025-02-10 14:01")
    assert missing.verdict is Verdict.MISSING
    assert missing.late_by == MINUTE
    met = outcome("discharge-ready-before-discharge", sent_again, "2025-02-11 00:00")
    assert met.verdict is Verdict.MET


def test_discharge_cancelled_puts_the_deadline_back_to_pending() -> None:
    facts = stay(
        notice(E.ADMISSION, at("2025-02-03 10:00"), admitted=at("2025-02-03 10:00")),
        notice(E.DISCHARGE, at("2025-02-10 14:00"), discharged=at("2025-02-10 14:00")),
        notice(E.DISCHARGE_CANCELLED, at("2025-02-10 15:00")),
    )

    result = outcome("discharge-ready-before-discharge", facts, "2025-02-12 00:00")

    assert result.verdict is Verdict.PENDING


def test_admission_cancelled_cancels_the_discharge_deadlines() -> None:
    facts = stay(
        notice(E.ADMISSION, at("2025-02-03 10:00"), admitted=at("2025-02-03 10:00")),
        notice(E.ADMISSION_CANCELLED, at("2025-02-03 11:00")),
    )

    for rule in ("discharge-ready-before-discharge", "discharge-notice-same-day"):
        assert outcome(rule, facts, "2025-03-01 00:00").verdict is Verdict.CANCELLED


def test_in_the_repeated_autumn_hour_order_is_by_the_instant_not_the_wall_clock() -> None:
    # Given a discharge at 02:30 CET on 26 October and a discharge-ready notice at 02:45 CEST,
    # which is 45 minutes *earlier* although its wall-clock time is later
    facts = discharged_after(
        notice(E.DISCHARGE_READY, at("2025-10-26 02:45+02:00")),
        discharge="2025-10-26 02:30+01:00",
    )

    result = outcome("discharge-ready-before-discharge", facts, "2025-10-27 00:00")

    assert result.verdict is Verdict.MET


# --- SIP invitation within 3 days of the discharge-ready notice --------------------------------


def ready_then(
    *later: object, ready: str = "2025-02-10 10:00", home_care: bool = True
) -> EpisodeFacts:
    return stay(
        notice(E.ADMISSION, at("2025-02-03 10:00"), admitted=at("2025-02-03 10:00")),
        notice(E.DISCHARGE_READY, at(ready)),
        *later,  # type: ignore[arg-type]
        home_care=home_care,
    )


def sip(sent: str, parties: frozenset[str] = BOTH) -> object:
    return notice(E.SIP_MEETING_BOOKED, at(sent), parties=parties, unit=VARDCENTRAL)


def test_sip_invitation_within_3_days_is_met() -> None:
    facts = ready_then(sip("2025-02-13 09:59"))

    result = outcome("sip-invitation-3d", facts, "2025-02-20 00:00")

    assert result.verdict is Verdict.MET
    assert result.deadline_at == at("2025-02-13 10:00")


def test_sip_invitation_a_minute_late_is_the_primary_care_units_deviation() -> None:
    facts = ready_then(sip("2025-02-13 10:01"))

    result = outcome("sip-invitation-3d", facts, "2025-02-20 00:00")

    assert result.verdict is Verdict.LATE
    assert result.late_by == MINUTE
    assert result.responsible is Responsible.SENDER
    assert result.sending_unit == VARDCENTRAL


def test_no_sip_invitation_for_a_home_care_patient_is_missing_after_3_days() -> None:
    facts = ready_then()

    assert outcome("sip-invitation-3d", facts, "2025-02-13 10:00").verdict is Verdict.PENDING
    result = outcome("sip-invitation-3d", facts, "2025-02-13 10:01")
    assert result.verdict is Verdict.MISSING
    assert result.late_by == MINUTE
    assert result.sending_unit == VARDCENTRAL


def test_discharge_ready_withdrawn_before_the_deadline_withdraws_it() -> None:
    facts = ready_then(notice(E.DISCHARGE_READY_WITHDRAWN, at("2025-02-11 12:00")))

    result = outcome("sip-invitation-3d", facts, "2025-03-01 00:00")

    assert result.verdict is Verdict.WITHDRAWN
    assert not result.is_deviation


def test_discharge_ready_withdrawn_after_the_deadline_leaves_the_miss_standing() -> None:
    facts = ready_then(notice(E.DISCHARGE_READY_WITHDRAWN, at("2025-02-13 10:01")))

    result = outcome("sip-invitation-3d", facts, "2025-03-01 00:00")

    assert result.verdict is Verdict.MISSING
    assert result.late_by == MINUTE


def test_a_discharge_ready_notice_sent_again_starts_its_own_clock() -> None:
    # Given ready, withdrawn in time, ready again three days later, SIP within 3 days of that
    facts = ready_then(
        notice(E.DISCHARGE_READY_WITHDRAWN, at("2025-02-11 12:00")),
        notice(E.DISCHARGE_READY, at("2025-02-14 10:00")),
        sip("2025-02-17 09:00"),
    )

    results = [o for o in evaluate(DEFAULT_RULE_BOOK, facts, at("2025-03-01 00:00"))]
    verdicts = [o.verdict for o in results if o.rule.id == "sip-invitation-3d"]

    assert verdicts == [Verdict.WITHDRAWN, Verdict.MET]


def test_admission_cancelled_before_the_sip_deadline_cancels_it() -> None:
    facts = ready_then(notice(E.ADMISSION_CANCELLED, at("2025-02-11 12:00")))

    assert outcome("sip-invitation-3d", facts, "2025-03-01 00:00").verdict is Verdict.CANCELLED


def test_sip_rule_applies_only_when_both_region_and_municipality_give_services() -> None:
    # Given no home care and no SIP with both parties: not applicable
    alone = ready_then(home_care=False)
    assert outcome("sip-invitation-3d", alone, "2025-03-01 00:00").verdict is (
        Verdict.NOT_APPLICABLE
    )

    # Given a SIP meeting with region and municipality, booked too late: it applies, and is late
    late = ready_then(sip("2025-02-14 10:00"), home_care=False)
    result = outcome("sip-invitation-3d", late, "2025-03-01 00:00")
    assert result.verdict is Verdict.LATE
    assert result.late_by == timedelta(days=1)


@pytest.mark.parametrize(
    ("care_needs", "home_care", "verdict"),
    [
        (True, False, Verdict.MISSING),  # not enrolled, but the admission notice states needs
        (False, False, Verdict.NOT_APPLICABLE),  # no known municipal need
        (False, True, Verdict.MISSING),  # enrolled in home care
    ],
)
def test_a_missing_sip_call_is_a_deviation_for_anyone_with_a_municipal_need(
    care_needs: bool, home_care: bool, verdict: Verdict
) -> None:
    facts = stay(
        notice(
            E.ADMISSION,
            at("2025-02-03 10:00"),
            admitted=at("2025-02-03 10:00"),
            care_needs=care_needs,
        ),
        notice(E.DISCHARGE_READY, at("2025-02-10 10:00")),
        home_care=home_care,
    )

    result = outcome("sip-invitation-3d", facts, "2025-03-01 00:00")

    assert result.verdict is verdict


def test_care_needs_stated_only_after_the_discharge_ready_notice_do_not_count() -> None:
    facts = stay(
        notice(E.ADMISSION, at("2025-02-03 10:00"), admitted=at("2025-02-03 10:00")),
        notice(E.DISCHARGE_READY, at("2025-02-10 10:00")),
        notice(E.TRANSFER, at("2025-02-11 10:00"), care_needs=True),
        home_care=False,
    )

    result = outcome("sip-invitation-3d", facts, "2025-03-01 00:00")

    assert result.verdict is Verdict.NOT_APPLICABLE


@pytest.mark.parametrize(
    ("ready", "invitation", "verdict", "deadline", "elapsed_hours"),
    [
        # autumn: 3 calendar days from Friday 10:00 CEST end Monday 10:00 CET (73 h)
        ("2025-10-24 10:00", "2025-10-27 09:59", Verdict.MET, "2025-10-27 10:00", 73),
        ("2025-10-24 10:00", "2025-10-27 10:01", Verdict.LATE, "2025-10-27 10:00", 73),
        # spring: from Friday 10:00 CET to Monday 10:00 CEST (71 h)
        ("2025-03-28 10:00", "2025-03-31 09:59", Verdict.MET, "2025-03-31 10:00", 71),
        ("2025-03-28 10:00", "2025-03-31 10:01", Verdict.LATE, "2025-03-31 10:00", 71),
    ],
)
def test_3_days_are_calendar_days_across_a_daylight_saving_change(
    ready: str, invitation: str, verdict: Verdict, deadline: str, elapsed_hours: int
) -> None:
    facts = ready_then(sip(invitation), ready=ready)

    result = outcome("sip-invitation-3d", facts, "2025-12-01 00:00")

    assert result.verdict is verdict
    assert result.deadline_at == at(deadline)
    assert result.deadline_at is not None and result.anchor_at is not None
    assert result.deadline_at - result.anchor_at == timedelta(hours=elapsed_hours)
    if verdict is Verdict.LATE:
        assert result.late_by == MINUTE


# --- discharge notice no later than the day of discharge --------------------------------------


def discharge_delivered(discharged: str, delivered: str, sent: str | None = None) -> EpisodeFacts:
    return stay(
        notice(E.ADMISSION, at("2025-02-03 10:00"), admitted=at("2025-02-03 10:00")),
        notice(
            E.DISCHARGE,
            at(sent or discharged),
            discharged=at(discharged),
            delivered=at(delivered),
        ),
    )


def test_discharge_notice_delivered_on_the_day_of_discharge_is_met() -> None:
    facts = discharge_delivered("2025-02-10 14:00", "2025-02-10 23:59")

    result = outcome("discharge-notice-same-day", facts, "2025-02-12 00:00")

    assert result.verdict is Verdict.MET
    assert result.deadline_at == at("2025-02-11 00:00")


def test_discharge_notice_delivered_a_minute_into_the_next_day_is_late_by_a_minute() -> None:
    facts = discharge_delivered("2025-02-10 14:00", "2025-02-11 00:01", sent="2025-02-10 14:00")

    result = outcome("discharge-notice-same-day", facts, "2025-02-12 00:00")

    assert result.verdict is Verdict.LATE
    assert result.late_by == MINUTE
    assert result.failed_step is Step.DELIVERED
    assert result.responsible is Responsible.RECEIVER


def test_discharge_notice_sent_the_next_day_is_the_wards_deviation() -> None:
    facts = discharge_delivered("2025-02-10 14:00", "2025-02-11 08:00", sent="2025-02-11 08:00")

    result = outcome("discharge-notice-same-day", facts, "2025-02-12 00:00")

    assert result.verdict is Verdict.LATE
    assert result.responsible is Responsible.SENDER
    assert result.late_by == timedelta(hours=8)


def test_a_cancelled_discharge_has_no_discharge_notice_deadline() -> None:
    facts = stay(
        notice(E.ADMISSION, at("2025-02-03 10:00"), admitted=at("2025-02-03 10:00")),
        notice(
            E.DISCHARGE, at("2025-02-10 14:00"), discharged=at("2025-02-10 14:00"), delivered=None
        ),
        notice(E.DISCHARGE_CANCELLED, at("2025-02-10 16:00")),
    )

    assert outcome("discharge-notice-same-day", facts, "2025-02-12 00:00").verdict is (
        Verdict.PENDING
    )


@pytest.mark.parametrize(
    ("discharged", "delivered", "verdict", "day_hours"),
    [
        # 26 October 2025 has 25 hours: a discharge at 01:30 CEST has until midnight CET
        ("2025-10-26 01:30", "2025-10-26 23:59", Verdict.MET, 25),
        ("2025-10-26 01:30", "2025-10-27 00:01", Verdict.LATE, 25),
        # 30 March 2025 has 23 hours
        ("2025-03-30 00:30", "2025-03-30 23:59", Verdict.MET, 23),
        ("2025-03-30 00:30", "2025-03-31 00:01", Verdict.LATE, 23),
    ],
)
def test_the_day_of_discharge_is_the_local_day_across_a_daylight_saving_change(
    discharged: str, delivered: str, verdict: Verdict, day_hours: int
) -> None:
    facts = discharge_delivered(discharged, delivered)

    result = outcome("discharge-notice-same-day", facts, "2025-12-01 00:00")

    assert result.verdict is verdict
    day = at(discharged).date()
    start_of_day = at(f"{day} 00:00")
    assert result.deadline_at is not None
    assert result.deadline_at - start_of_day == timedelta(hours=day_hours)
    if verdict is Verdict.LATE:
        assert result.late_by == MINUTE


# --- every notice receipted within the configured time ----------------------------------------


def receipts(facts: EpisodeFacts, now: str) -> list[Outcome]:
    results = evaluate(DEFAULT_RULE_BOOK, facts, at(now))
    return [o for o in results if o.rule.id == "notice-receipted"]


def test_every_notice_and_recipient_is_receipted_within_4_hours() -> None:
    # Given one notice to two recipients: one receipts in time, one a minute late
    sent = at("2025-02-03 10:00")
    first = replace(
        notice(E.ADMISSION, sent, admitted=sent),
        deliveries=(
            NoticeDelivery("treserva", sent, at("2025-02-03 14:00")),
            NoticeDelivery("vardcentral", sent, at("2025-02-03 14:01")),
        ),
    )

    results = receipts(stay(first), "2025-02-04 00:00")

    # Then one outcome per recipient, each named by notice and destination
    assert [(o.subject, o.verdict) for o in results] == [
        (f"{first.message_id}/treserva", Verdict.MET),
        (f"{first.message_id}/vardcentral", Verdict.LATE),
    ]
    assert results[1].late_by == MINUTE
    assert results[1].receivers == ("vardcentral",)


def test_cancelling_the_admission_does_not_cancel_the_receipts_its_notices_owe() -> None:
    # Given an admission and its cancellation, the cancellation never receipted
    facts = stay(
        notice(E.ADMISSION, at("2025-02-03 10:00"), admitted=at("2025-02-03 10:00")),
        notice(E.ADMISSION_CANCELLED, at("2025-02-03 11:00"), receipted=None),
    )

    # Then the receipt of the cancellation is still missing: Treserva must know it too
    verdicts = [o.verdict for o in receipts(facts, "2025-02-03 15:01")]
    assert verdicts == [Verdict.MET, Verdict.MISSING]


def test_a_notice_never_delivered_misses_its_receipt_at_the_delivery_step() -> None:
    facts = stay(notice(E.DISCHARGE, at("2025-02-10 14:00"), delivered=None))

    [result] = receipts(facts, "2025-02-10 18:01")

    assert result.verdict is Verdict.MISSING
    assert result.failed_step is Step.DELIVERED
    assert result.late_by == MINUTE


def test_a_recipient_that_sends_no_receipts_is_done_on_delivery() -> None:
    facts = stay(
        notice(E.DISCHARGE, at("2025-02-10 14:00"), receipted=None, receipt_expected=False)
    )

    [result] = receipts(facts, "2025-02-11 00:00")

    assert result.verdict is Verdict.MET


def test_4_hours_across_the_spring_change_end_5_wall_clock_hours_later() -> None:
    # Given a notice at 01:30 CET on 30 March: 4 elapsed hours end at 06:30 CEST
    facts = stay(notice(E.TRANSFER, at("2025-03-30 01:30"), receipted=at("2025-03-30 06:30")))

    [result] = receipts(facts, "2025-04-01 00:00")

    assert result.verdict is Verdict.MET
    assert result.deadline_at == at("2025-03-30 06:30")


# --- the Within arithmetic itself -------------------------------------------------------------


def test_within_adds_days_on_the_local_calendar_then_hours_elapsed() -> None:
    start = at("2025-10-25 12:00")  # CEST, the day before the change

    assert Within(days=1).deadline(start) == at("2025-10-26 12:00")
    assert Within(hours=24).deadline(start) == at("2025-10-26 11:00")
    assert Within(days=1, hours=1).deadline(start) == at("2025-10-26 13:00")
    assert Within(days=0, end_of_day=True).deadline(start) == at("2025-10-26 00:00")


def test_a_calendar_deadline_in_the_spring_gap_is_read_as_winter_time() -> None:
    # 02:30 on 30 March 2025 does not exist in Sweden (02:00 CET → 03:00 CEST): 02:30 CET
    # is 03:30 CEST
    assert Within(days=3).deadline(at("2025-03-27 02:30")) == at("2025-03-30 03:30")


def test_within_needs_some_amount() -> None:
    with pytest.raises(ValueError, match="give hours, days or end_of_day"):
        Within()
