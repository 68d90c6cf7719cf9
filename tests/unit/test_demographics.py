"""Which demographic changes matter to home care: plain values, no I/O."""

from __future__ import annotations

from bridge.domain.demographics import (
    DemographicField,
    DemographicsFacts,
    DemographicsRule,
    changed_fields,
    forwards,
)
from bridge.domain.identifiers import IdentifierKind
from bridge.domain.model import (
    Address,
    CareUnit,
    ContactPoint,
    HumanName,
    Patient,
    PatientIdentifier,
    SecurityLabel,
)

TOLVAN = PatientIdentifier(kind=IdentifierKind.PERSONNUMMER, value="191212121212")
HOME = Address(lines=("Storgatan 1",), postal_code="62155", city="Visby")


def patient(**changes: object) -> Patient:
    base = Patient(
        identifiers=(TOLVAN,),
        name=HumanName(family="Tolvansson", given=("Tolvan",)),
        address=HOME,
        gender="male",
    )
    return base.model_copy(update=changes)


def test_the_same_demographics_change_nothing() -> None:
    assert changed_fields(patient(), patient()) == frozenset()


def test_a_new_address_a_new_name_and_a_protected_identity_are_each_a_change() -> None:
    moved = Address(lines=("Norra Murgatan 12",), postal_code="62155", city="Visby")
    assert changed_fields(patient(), patient(address=moved)) == {DemographicField.ADDRESS}
    renamed = HumanName(family="Tolvesson", given=("Tolvan",))
    assert changed_fields(patient(), patient(name=renamed)) == {DemographicField.NAME}
    labels = frozenset({SecurityLabel.SKYDDAD_FOLKBOKFORING})
    protected = patient(security_labels=labels)
    assert changed_fields(patient(), protected) == {DemographicField.PROTECTED_IDENTITY}
    # one protection replaced by the other is a change too: the two are kept distinct
    other = patient(security_labels=frozenset({SecurityLabel.SEKRETESSMARKERING}))
    assert changed_fields(protected, other) == {DemographicField.PROTECTED_IDENTITY}
    # and so is a restriction code the bridge does not recognise (it protects: fails closed)
    unknown = patient(unrecognised_restrictions=("ARV-3 DEM",))
    assert changed_fields(patient(), unknown) == {DemographicField.PROTECTED_IDENTITY}


def test_a_new_telephone_number_or_e_mail_address_is_a_change_of_contact() -> None:
    phone = ContactPoint(system="phone", value="0498-123456")
    mail = ContactPoint(system="email", value="tolvan@example.se")
    before = patient(telecom=(phone, mail))
    new_number = patient(telecom=(phone.model_copy(update={"value": "070-1234567"}), mail))
    assert changed_fields(before, new_number) == {DemographicField.CONTACT}
    assert changed_fields(before, patient(telecom=(phone,))) == {DemographicField.CONTACT}
    # the same contacts in another order are no change
    assert changed_fields(before, patient(telecom=(mail, phone))) == frozenset()


def test_fields_home_care_does_not_keep_are_not_a_change() -> None:
    # Given an update that changes only the gender and the primary-care unit
    unit = CareUnit(hsa_id="SE2321000230-VC01", name="Visby vårdcentral")
    update = patient(gender="unknown", primary_care_unit=unit)
    # Then nothing relevant changed
    assert changed_fields(patient(), update) == frozenset()


def test_an_address_removed_is_a_change() -> None:
    assert changed_fields(patient(), patient(address=None)) == {DemographicField.ADDRESS}


def test_with_nothing_known_before_every_field_the_update_carries_is_news() -> None:
    assert changed_fields(None, patient()) == {DemographicField.NAME, DemographicField.ADDRESS}
    assert changed_fields(None, Patient(identifiers=(TOLVAN,))) == frozenset()


def test_the_rules() -> None:
    moved = frozenset({DemographicField.ADDRESS})
    for changed in (frozenset(), moved):
        for active in (False, True):
            facts = DemographicsFacts(changed, active)
            assert forwards(DemographicsRule.ALL, facts)
            assert not forwards(DemographicsRule.NONE, facts)
            expected = bool(changed) and active
            assert forwards(DemographicsRule.CHANGED_FOR_ACTIVE_PATIENTS, facts) is expected
