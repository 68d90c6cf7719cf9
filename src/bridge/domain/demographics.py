"""Whether a demographic update (ADT^A08 without PV2-9) is worth forwarding. Pure code.

Home care needs to know when a patient it looks after changes name, moves, gets a new telephone
number or e-mail address, or gains or loses a protected identity; it does not need the many
A08s that change nothing it keeps. So an update is compared with the patient's previous
demographics (what the bridge last stored for that patient), and a route forwards it according
to its :class:`DemographicsRule` (docs/routing.md, "Demographic updates").
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from bridge.domain.model import Patient


class DemographicsRule(StrEnum):
    """A route's rule for demographic updates."""

    CHANGED_FOR_ACTIVE_PATIENTS = "changed-for-active-patients"
    """Forward an update that changes a relevant field of a patient with an open hospital stay
    or an ongoing home-care enrolment (the default)."""
    ALL = "all"
    NONE = "none"


class DemographicField(StrEnum):
    """The fields whose change home care must hear about."""

    PROTECTED_IDENTITY = "protected-identity"
    NAME = "name"
    ADDRESS = "address"
    CONTACT = "contact"


def changed_fields(previous: Patient | None, current: Patient) -> frozenset[DemographicField]:
    """The relevant fields that differ; every field the update carries when nothing is known
    of the patient before (the bridge cannot tell it is not news)."""
    if previous is None:
        previous = Patient(identifiers=current.identifiers)
    changed: set[DemographicField] = set()
    if (previous.security_labels, set(previous.unrecognised_restrictions)) != (
        current.security_labels,
        set(current.unrecognised_restrictions),
    ):
        changed.add(DemographicField.PROTECTED_IDENTITY)
    if previous.name != current.name:
        changed.add(DemographicField.NAME)
    if previous.address != current.address:
        changed.add(DemographicField.ADDRESS)
    if set(previous.telecom) != set(current.telecom):
        changed.add(DemographicField.CONTACT)
    return frozenset(changed)


@dataclass(frozen=True)
class DemographicsFacts:
    """What the store knows that the rule needs: the fields changed, and whether the patient
    has an open hospital stay or an ongoing home-care enrolment."""

    changed: frozenset[DemographicField]
    active: bool


FILTERED_UNCHANGED = "demographics-nothing-relevant-changed"
FILTERED_INACTIVE = "demographics-patient-without-open-episode-or-enrolment"
FILTERED_NOT_ROUTED = "demographics-not-routed"
"""The rules a filtered demographic update is stored with (``message_outcomes.rule``)."""


def forwards(rule: DemographicsRule, facts: DemographicsFacts) -> bool:
    """Whether a route with ``rule`` forwards an update with these facts."""
    if rule is DemographicsRule.ALL:
        return True
    if rule is DemographicsRule.NONE:
        return False
    return bool(facts.changed) and facts.active
