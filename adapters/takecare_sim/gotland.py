"""Made-up reference data for synthetic Gotland patients: names, places, units, routine texts.

Every HSA-id and street here is invented; street names say "test" in Swedish on purpose.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class CareUnit:
    """A ward or primary-care unit with its (made-up) HSA-id; ``code`` is the ward code."""

    name: str
    hsa_id: str
    code: str = ""


@dataclass(frozen=True)
class Town:
    name: str
    postal_code: str
    primary_care: CareUnit


HOSPITAL = "Visby lasarett"

WARDS = (
    CareUnit("Medicinavdelning 1", "SE2321000040-W001", "MED1"),
    CareUnit("Medicinavdelning 2", "SE2321000040-W002", "MED2"),
    CareUnit("Geriatrisk avdelning", "SE2321000040-W003", "GER"),
    CareUnit("Ortopedavdelning", "SE2321000040-W004", "ORT"),
    CareUnit("Kirurgavdelning", "SE2321000040-W005", "KIR"),
    CareUnit("Infektionsavdelning", "SE2321000040-W006", "INF"),
    CareUnit("Strokeenheten", "SE2321000040-W007", "STROKE"),
)

_VISBY_NORR = CareUnit("Vårdcentral Visby Norr", "SE2321000040-P001")
_VISBY_SODER = CareUnit("Vårdcentral Visby Söder", "SE2321000040-P002")

TOWNS = (
    Town("Visby", "621 41", _VISBY_NORR),
    Town("Visby", "621 52", _VISBY_SODER),
    Town("Visby", "621 46", _VISBY_NORR),
    Town("Slite", "624 48", CareUnit("Vårdcentralen Slite", "SE2321000040-P003")),
    Town("Hemse", "623 50", CareUnit("Vårdcentralen Hemse", "SE2321000040-P004")),
    Town("Klintehamn", "623 77", CareUnit("Vårdcentralen Klintehamn", "SE2321000040-P005")),
    Town("Roma", "622 54", CareUnit("Vårdcentralen Roma", "SE2321000040-P006")),
    Town("Fårösund", "624 65", CareUnit("Vårdcentralen Fårösund", "SE2321000040-P007")),
)

STREETS = ("Testgatan", "Provvägen", "Exempelgränd", "Övningsstigen", "Simulatorvägen")

GIVEN_FEMALE = (
    "Astrid", "Birgitta", "Elsa", "Gunhild", "Ingrid", "Karin", "Margareta", "Märta",
    "Signe", "Solveig", "Ulla", "Britt",
)  # fmt: skip
GIVEN_MALE = (
    "Arne", "Bertil", "Gösta", "Gunnar", "Holger", "Ingvar", "Lennart", "Sture",
    "Torsten", "Åke", "Valdemar", "Sven",
)  # fmt: skip
SURNAME_STEMS = ("Rauk", "Kalk", "Fårö", "Ting", "Hav", "Sand", "Lin", "Ängs", "Klint", "Myr")
SURNAME_ENDINGS = ("berg", "ström", "qvist", "lund", "holm", "vik", "gren", "dahl")

REASONS = (
    ("I50.9", "Hjärtsvikt, försämring"),
    ("J18.9", "Pneumoni"),
    ("S72.0", "Höftfraktur efter fall i hemmet"),
    ("N39.0", "Urinvägsinfektion med förvirring"),
    ("I63.9", "Hjärninfarkt"),
    ("J44.1", "KOL med akut försämring"),
    ("R29.6", "Upprepade fall, nedsatt allmäntillstånd"),
    ("A41.9", "Sepsis"),
)

HOUSING = (
    "Bor ensam i lägenhet med hiss",
    "Bor med make/maka i villa",
    "Bor ensam i hus på landsbygden, trappa till entrén",
    "Bor med vuxet barn i radhus",
    "Bor i särskilt boende (SÄBO)",
)

SOCIAL = (
    "Änka/änkling, dotter i Visby hjälper till",
    "Gift, make/maka har egen hemtjänst",
    "Har hemtjänst tre gånger dagligen",
    "Inga anhöriga på Gotland",
    "God man utsedd",
)

CARE_NEEDS = (
    "Behöver hjälp med personlig hygien och påklädning",
    "Ny syrgasbehandling, behöver tillsyn av hemsjukvården",
    "Sårvård dagligen, behöver hemsjukvård",
    "Går med rollator, hög fallrisk",
    "Läkemedelshanteringen behöver tas över av hemsjukvården",
    "Oförändrat behov jämfört med före inskrivningen",
)

# SIP meetings: where they are held, and who takes part (units and staff, all made up).
MEETING_PLACES = (
    "Visby lasarett, konferensrum 2",
    "Visby lasarett, avdelningens samtalsrum",
    "Videomöte",
    "Patientens hem",
)


@dataclass(frozen=True)
class SipParty:
    """A SIP participant: a unit (``given`` empty) or a person, with role and huvudman."""

    hsa_id: str
    name: str
    role: str
    party: str  # region | municipality | other
    given: str = ""


HOME_CARE_UNITS = (
    SipParty("SE2321000040-H001", "Hemsjukvården Visby", "Hemsjukvård", "municipality"),
    SipParty("SE2321000040-H002", "Hemsjukvården Södra Gotland", "Hemsjukvård", "municipality"),
    SipParty("SE2321000040-H003", "Hemsjukvården Norra Gotland", "Hemsjukvård", "municipality"),
)
NEEDS_ASSESSORS = (
    SipParty("SE2321000040-S101", "Kalkvik", "Biståndshandläggare", "municipality", "Signe"),
    SipParty("SE2321000040-S102", "Raukdahl", "Biståndshandläggare", "municipality", "Holger"),
)
CARE_CONTACTS = (
    SipParty("SE2321000040-S201", "Tinglund", "Fast vårdkontakt", "region", "Karin"),
    SipParty("SE2321000040-S202", "Havström", "Fast vårdkontakt", "region", "Arne"),
)
