"""Which care units belong to which organisation, and each unit's deviation inbox. Pure.

Read from the file ``BRIDGE_CARE_ORGANISATIONS_FILE`` (YAML or JSON; docs/coordinators.md). A
coordinator is bound to one organisation (and optionally some of its units) and sees the open
stays of those units only; a deviation reported against a unit is routed to that unit's inbox
(a destination of the routing file). Without the file no organisation exists, so a coordinator
sees nothing: the scope fails closed.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, model_validator


class OrganisationUnit(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    hsa_id: str = Field(min_length=1, max_length=64)
    name: str = ""
    inbox: str | None = Field(
        default=None,
        description="Destination (routing file) that receives this unit's deviations.",
    )


class Organisation(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str = Field(pattern=r"^[a-z0-9][a-z0-9-]{0,62}$")
    name: str
    units: tuple[OrganisationUnit, ...] = ()

    @property
    def unit_ids(self) -> frozenset[str]:
        return frozenset(unit.hsa_id for unit in self.units)


class Organisations(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    organisations: tuple[Organisation, ...] = ()

    @model_validator(mode="after")
    def _unique(self) -> Organisations:
        ids = [organisation.id for organisation in self.organisations]
        if len(ids) != len(set(ids)):
            raise ValueError("organisation ids must be unique")
        return self

    def get(self, organisation_id: str) -> Organisation | None:
        for organisation in self.organisations:
            if organisation.id == organisation_id:
                return organisation
        return None

    def unit(self, hsa_id: str) -> OrganisationUnit | None:
        for organisation in self.organisations:
            for unit in organisation.units:
                if unit.hsa_id == hsa_id:
                    return unit
        return None

    def inboxes(self) -> set[str]:
        return {unit.inbox for o in self.organisations for unit in o.units if unit.inbox}


def scope_units(
    organisations: Organisations, organisation_id: str, units: tuple[str, ...] = ()
) -> frozenset[str]:
    """The HSA-ids a coordinator of ``organisation_id`` (limited to ``units`` when given) may
    see: never a unit outside the organisation, nothing for an unknown organisation."""
    organisation = organisations.get(organisation_id)
    if organisation is None:
        return frozenset()
    allowed = organisation.unit_ids
    return allowed & frozenset(units) if units else allowed
