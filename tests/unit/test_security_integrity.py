"""Issue 12 (integrity part), pure and small: masking forms, SQL logger caps, secrets in
settings, the pseudonymous key against brute force, and unknown restriction codes."""

from __future__ import annotations

import io
import logging
from datetime import date
from pathlib import Path

import pytest
from pydantic import SecretStr, ValidationError

from bridge.config import Settings
from bridge.domain.hl7.decode import decode_hl7
from bridge.domain.identifiers import (
    IdentifierKind,
    luhn_check_digit,
    mask,
    mask_in_text,
    normalise_person_number,
)
from bridge.domain.model import PatientIdentifier, SecurityLabel
from bridge.logging_setup import configure_logging
from bridge.service.patient_key import patient_key

FIXTURE = Path(__file__).parent.parent / "fixtures" / "hl7" / "adt_a01_v25.hl7"
PNR = "194005129871"  # synthetic, valid check digit
SAMORDNING = "194005729878"  # synthetic samordningsnummer: day 12 + 60


@pytest.mark.parametrize(
    ("text", "masked"),
    [
        (PNR, "19400512-****"),
        ("19400512-9871", "19400512-****"),
        ("19400512 9871", "19400512-****"),
        ("4005129871", "400512-****"),
        ("400512-9871", "400512-****"),
        ("400512+9871", "400512-****"),
        ("400512 9871", "400512-****"),
        (SAMORDNING, f"{SAMORDNING[:8]}-****"),
    ],
)
def test_every_accepted_form_is_masked_to_the_birth_date(text: str, masked: str) -> None:
    # Given a form the parser accepts
    normalise_person_number(text, date(2026, 1, 1))
    # When it appears in free text, it is masked to the birth date only
    assert mask_in_text(f"patient {text}|x") == f"patient {masked}|x"


@pytest.mark.parametrize(
    "hsa_id", ["SE2321000188-1234", "SE2321000188-E000000000001", "SE2120000803-T2001"]
)
def test_hsa_ids_stay_readable(hsa_id: str) -> None:
    assert mask_in_text(f"unit {hsa_id} sent it") == f"unit {hsa_id} sent it"


def test_the_masked_identifier_keeps_only_the_birth_date() -> None:
    assert mask(PNR) == "19400512-****"
    assert mask("400512-9871") == "400512-****"


def test_sql_loggers_are_capped_even_when_turned_up() -> None:
    # Given the bridge's logging at DEBUG, and libraries turning their SQL logs up afterwards
    stream = io.StringIO()
    configure_logging("DEBUG", json_lines=False, stream=stream)
    for name in ("sqlalchemy.engine.Engine", "aiosqlite", "psycopg", "asyncpg"):
        logging.getLogger(name).setLevel(logging.DEBUG)
        # When they log statements with parameters
        logging.getLogger(name).info("INSERT INTO messages VALUES (?) [%s]", "Tolvansson")
        logging.getLogger(name).debug("executing %s", "Testgatan 12")
    logging.getLogger("bridge.x").debug("an ordinary debug line")
    # Then none of it is written, while the bridge's own DEBUG lines are
    written = stream.getvalue()
    assert "Tolvansson" not in written and "Testgatan" not in written
    assert "an ordinary debug line" in written


async def test_engine_errors_carry_no_parameters(tmp_path: Path) -> None:
    from sqlalchemy import text
    from sqlalchemy.exc import OperationalError

    from bridge.store.db import Database

    db = Database(f"sqlite:///{tmp_path / 'x.db'}", audit_key=b"k")
    try:
        async with db.session() as session:
            with pytest.raises(OperationalError) as raised:
                await session.execute(text("SELECT * FROM nowhere WHERE x = :x"), {"x": "Hemlig"})
    finally:
        await db.close()
    assert "Hemlig" not in str(raised.value)
    assert "hidden" in str(raised.value)


def test_production_settings_without_secrets_refuse_naming_them(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("BRIDGE_PATIENT_KEY_SECRET", raising=False)
    monkeypatch.delenv("BRIDGE_AUDIT_KEY", raising=False)
    with pytest.raises(ValidationError) as refused:
        Settings(database_url="postgresql://bridge@db/bridge", _env_file=None)  # type: ignore[call-arg]
    assert "BRIDGE_PATIENT_KEY_SECRET" in str(refused.value)
    assert "BRIDGE_AUDIT_KEY" in str(refused.value)
    # The embedded demo still runs with no setting at all
    demo = Settings(database_url="sqlite:///var/x.db", _env_file=None)  # type: ignore[call-arg]
    assert demo.patient_key and demo.audit_key_bytes


def test_secrets_are_typed_as_secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BRIDGE_PATIENT_KEY_SECRET", "pseudonym-secret-value")
    monkeypatch.setenv("BRIDGE_AUDIT_KEY", "audit-secret-value")
    monkeypatch.setenv("BRIDGE_ALERT_SMTP_PASSWORD", "smtp-secret-value")
    monkeypatch.setenv("BRIDGE_AUDIT_WITNESS_WEBHOOK_SECRET", "hook-secret-value")
    settings = Settings(database_url="postgresql://bridge@db/bridge", _env_file=None)  # type: ignore[call-arg]
    for field in (
        "patient_key_secret",
        "audit_key",
        "alert_smtp_password",
        "audit_witness_webhook_secret",
    ):
        assert isinstance(getattr(settings, field), SecretStr), field
    shown = repr(settings) + str(settings.model_dump())
    assert "secret-value" not in shown
    assert settings.patient_key == "pseudonym-secret-value"


def completions(masked_birth: str) -> list[str]:
    """Every personnummer the masked form ``YYYYMMDD-****`` could stand for."""
    born = masked_birth[:8]
    return [
        f"{born}{serial:03d}{luhn_check_digit(born[2:] + f'{serial:03d}')}"
        for serial in range(1000)
    ]


def test_masked_form_and_patient_key_do_not_give_the_number_back() -> None:
    # Given a patient key made with a secret, and the masked form an operator sees
    secret = "a-long-random-secret-the-attacker-does-not-have"
    ident = PatientIdentifier(kind=IdentifierKind.PERSONNUMMER, value=PNR)
    key = patient_key(ident, secret)
    candidates = completions(mask(PNR))
    assert PNR in candidates  # the brute force covers the real number

    def hits(guess_secret: str) -> list[str]:
        return [
            c
            for c in candidates
            if patient_key(
                PatientIdentifier(kind=IdentifierKind.PERSONNUMMER, value=c), guess_secret
            )
            == key
        ]

    # When an attacker tries every completion with the old public default and the demo key
    # Then nothing matches; only the real secret would find it
    assert hits("bridge-default-pseudonym-key") == []
    assert hits(Settings(_env_file=None).patient_key) == []  # type: ignore[call-arg]
    assert hits(secret) == [PNR]


def _hl7(extra: str = "", pd1_12: str = "") -> str:
    text = FIXTURE.read_text(encoding="utf-8").replace("\r\n", "\r").replace("\n", "\r")
    lines = text.split("\r")
    out = []
    for line in lines:
        if line.startswith("PD1|") and pd1_12:
            fields = line.split("|") + [""] * 13
            fields[12] = pd1_12
            line = "|".join(fields[:13])
        out.append(line)
        if line.startswith("PD1|") and extra:
            out.append(extra)
    return "\r".join(out)


@pytest.mark.parametrize(
    ("extra", "pd1_12", "labels", "unknown"),
    [
        ("ARV|1|A|DEM^Demographics^HL70717", "", set(), ("ARV-3 DEM",)),
        ("ARV|1|A|Skyddad Folkbokföring", "", set(), ("ARV-3 Skyddad Folkbokföring",)),
        ("ARV|1|A|", "", set(), ("ARV-3 (empty)",)),
        ("", "R", set(), ("PD1-12 R",)),
        ("ARV|1|D|DEM", "", set(), ()),  # a delete restricts nothing
        ("ARV|1|A|skyddadFolkbokforing", "", {SecurityLabel.SKYDDAD_FOLKBOKFORING}, ()),
        ("", "Y", {SecurityLabel.SEKRETESSMARKERING}, ()),
        ("", "N", set(), ()),
    ],
)
def test_hl7_restriction_codes(
    extra: str, pd1_12: str, labels: set[SecurityLabel], unknown: tuple[str, ...]
) -> None:
    event = decode_hl7(_hl7(extra, pd1_12))
    assert event.patient is not None
    assert set(event.patient.security_labels) == labels
    assert event.patient.unrecognised_restrictions == unknown
    assert event.patient.is_protected == bool(labels or unknown)
    sent = event.for_destination().patient
    assert sent is not None
    if labels or unknown:
        assert sent.address is None and sent.telecom == ()
        assert sent.security_labels == (labels or {SecurityLabel.SEKRETESSMARKERING})
    else:
        assert sent.address is not None
