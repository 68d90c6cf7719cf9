"""Run the ``bridge`` command as a real process, as an operator would, with free local ports."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

BRIDGE = [sys.executable, "-m", "bridge.entrypoints.cli"]
# The session signing key of test bridges (a bridge on PostgreSQL refuses to start without one).
TEST_SESSION_SECRET = "test-only-session-key-not-for-any-real-bridge"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def bridge_env(**settings: object) -> dict[str, str]:
    """This environment without BRIDGE_* settings, plus free ports and ``settings``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("BRIDGE_")}
    env.update(
        # Production-mode tests send without credentials; tests of inbound identity set it false.
        BRIDGE_ALLOW_UNAUTHENTICATED_INGESTION="true",
        BRIDGE_HTTP_PORT=str(free_port()),
        BRIDGE_MLLP_PORT=str(free_port()),
        BRIDGE_TRESERVA_URL=f"http://127.0.0.1:{free_port()}/fhir",
        BRIDGE_SESSION_SECRET=TEST_SESSION_SECRET,
        # Outside the embedded demo the bridge needs these (docs/security.md); a test of the
        # refusal removes them.
        BRIDGE_PATIENT_KEY_SECRET="test-only-pseudonym-key-not-for-production",
        BRIDGE_AUDIT_KEY="test-only-audit-key-not-for-production",
    )
    env.update({key: str(value) for key, value in settings.items()})
    return env


def run_bridge(
    args: list[str], cwd: Path, env: Mapping[str, str], timeout: float = 90
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*BRIDGE, *args],
        cwd=cwd,
        env=dict(env),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def start_bridge(args: list[str], cwd: Path, env: Mapping[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [*BRIDGE, *args],
        cwd=cwd,
        env=dict(env),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
