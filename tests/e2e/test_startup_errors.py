"""The common start-up failures end in one line naming what to change, and exit code 2.

Each test starts ``bridge serve`` (or ``bridge demo``) as a real process against a real busy
port or an unreachable address.
"""

from __future__ import annotations

import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from support.cli_process import bridge_env, free_port, run_bridge


@pytest.fixture
def busy_port() -> Iterator[int]:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        yield holder.getsockname()[1]


def assert_one_line_failure(result: subprocess.CompletedProcess[str], *expected: str) -> str:
    """Exit 2, no traceback, and the last line of stderr is the explanation."""
    assert result.returncode == 2, result.stderr[-3000:]
    assert "Traceback" not in result.stderr, result.stderr[-3000:]
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("bridge: cannot start: "), last
    for text in expected:
        assert text in last, last
    return last


def test_http_port_in_use_names_the_variable(tmp_path: Path, busy_port: int) -> None:
    # Given a process holding the bridge's HTTP port
    env = bridge_env(BRIDGE_HTTP_PORT=busy_port)
    # When the bridge starts
    result = run_bridge(["serve"], tmp_path, env)
    # Then it says which port is taken and which variable moves it
    assert_one_line_failure(result, f"127.0.0.1:{busy_port}", "in use", "BRIDGE_HTTP_PORT")


def test_mllp_port_in_use_names_the_variable(tmp_path: Path, busy_port: int) -> None:
    env = bridge_env(BRIDGE_MLLP_PORT=busy_port)
    result = run_bridge(["serve"], tmp_path, env)
    assert_one_line_failure(result, f"127.0.0.1:{busy_port}", "MLLP", "BRIDGE_MLLP_PORT")


def test_demo_treserva_port_in_use_names_the_variable(tmp_path: Path, busy_port: int) -> None:
    env = bridge_env(BRIDGE_TRESERVA_URL=f"http://127.0.0.1:{busy_port}/fhir")
    result = run_bridge(["demo", "--once", "--count", "1"], tmp_path, env)
    assert_one_line_failure(result, "Treserva simulator", "BRIDGE_TRESERVA_URL")


def test_database_unreachable_names_the_url_without_its_password(tmp_path: Path) -> None:
    # Given a PostgreSQL URL where nothing listens, with a password in it
    closed = free_port()
    env = bridge_env(
        BRIDGE_DATABASE_URL=f"postgresql://bridge:s3cret@127.0.0.1:{closed}/bridge",
        BRIDGE_PATIENT_KEY_SECRET="test-only-pseudonym-key",
        BRIDGE_AUDIT_KEY="test-only-audit-key",
    )
    # When the bridge starts
    result = run_bridge(["serve"], tmp_path, env)
    # Then one line names the URL, masks the password and names the variable
    last = assert_one_line_failure(
        result, f"postgresql://bridge:***@127.0.0.1:{closed}/bridge", "BRIDGE_DATABASE_URL"
    )
    assert "s3cret" not in result.stderr + result.stdout
    assert "unreachable" in last


def test_production_without_secrets_refuses_to_start_naming_them(tmp_path: Path) -> None:
    # Given a PostgreSQL database and no pseudonym or audit key (issue 12: no public default)
    env = bridge_env(BRIDGE_DATABASE_URL=f"postgresql://bridge@127.0.0.1:{free_port()}/bridge")
    del env["BRIDGE_PATIENT_KEY_SECRET"], env["BRIDGE_AUDIT_KEY"]
    # When the bridge starts
    result = run_bridge(["serve"], tmp_path, env)
    # Then one line names both variables, before any connection is tried
    last = assert_one_line_failure(result, "BRIDGE_PATIENT_KEY_SECRET", "BRIDGE_AUDIT_KEY")
    assert "unreachable" not in last
    # And with only the audit key missing, only that one is named
    env["BRIDGE_PATIENT_KEY_SECRET"] = "test-only-pseudonym-key"
    last = assert_one_line_failure(run_bridge(["serve"], tmp_path, env), "BRIDGE_AUDIT_KEY")
    assert "BRIDGE_PATIENT_KEY_SECRET" not in last


@pytest.mark.parametrize(
    ("secret", "expected"), [("", "is not set"), ("too-short,also-short", "32 characters")]
)
def test_production_without_a_session_secret_names_the_setting(
    tmp_path: Path, secret: str, expected: str
) -> None:
    # Given a production bridge (PostgreSQL) without a usable session signing key
    env = bridge_env(
        BRIDGE_DATABASE_URL=f"postgresql://bridge:s3cret@127.0.0.1:{free_port()}/bridge",
        BRIDGE_SESSION_SECRET=secret,
    )
    # When it starts, then it refuses before connecting, naming the setting
    result = run_bridge(["serve"], tmp_path, env)
    last = assert_one_line_failure(result, "BRIDGE_SESSION_SECRET", expected)
    assert "too-short" not in result.stderr + result.stdout and "s3cret" not in last


def test_broker_unreachable_names_the_url_without_its_password(tmp_path: Path) -> None:
    # The bridge retries the broker for 30 s at start-up before it gives up.
    closed = free_port()
    env = bridge_env(
        BRIDGE_DATABASE_URL=f"sqlite:///{tmp_path / 'bridge.db'}",
        BRIDGE_BROKER_URL=f"amqp://bridge:s3cret@127.0.0.1:{closed}/",
    )
    result = run_bridge(["serve"], tmp_path, env, timeout=110)
    assert_one_line_failure(result, f"amqp://bridge:***@127.0.0.1:{closed}/", "BRIDGE_BROKER_URL")
    assert "s3cret" not in result.stderr + result.stdout


def test_a_setting_that_does_not_parse_is_named(tmp_path: Path) -> None:
    result = run_bridge(["serve"], tmp_path, bridge_env(BRIDGE_HTTP_PORT="eighty"))
    assert_one_line_failure(result, "BRIDGE_HTTP_PORT")
