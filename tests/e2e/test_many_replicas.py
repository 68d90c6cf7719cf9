"""Issue 13, must-show 5: replicas started at the same instant on an empty PostgreSQL database
all come up (the schema migration runs under an advisory lock), and a bridge refuses a schema
migrated by a newer version of itself."""

from __future__ import annotations

import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from services import require_postgres
from sqlalchemy import create_engine, text

from bridge.store.db import sync_url
from bridge.store.migrate import code_head, upgrade
from support.cli_process import bridge_env, run_bridge, start_bridge

pytestmark = [pytest.mark.postgres, pytest.mark.timeout(1200)]

ROUNDS = 10
READY_WITHIN_SECONDS = 90.0  # generous: a busy shared 2-core machine starts a bridge in 5-30 s


def _ready(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=2) as answer:
            return bool(answer.status == 200)
    except (urllib.error.URLError, OSError):
        return False


def _wait_ready(processes: list[tuple[subprocess.Popen[str], int]]) -> list[str]:
    """Poll every replica's /readyz until all answer 200; the failures, with stderr, if not."""
    deadline = time.monotonic() + READY_WITHIN_SECONDS
    waiting = dict(enumerate(processes))
    while waiting and time.monotonic() < deadline:
        for index, (process, port) in list(waiting.items()):
            if process.poll() is not None:
                return [f"replica {index} exited {process.returncode}: {_stderr(process)}"]
            if _ready(port):
                del waiting[index]
        time.sleep(0.1)
    return [f"replica {index} not ready in time" for index in waiting]


def _stderr(process: subprocess.Popen[str]) -> str:
    assert process.stderr is not None
    return process.stderr.read()[-2000:]


def _stop(processes: list[tuple[subprocess.Popen[str], int]]) -> None:
    for process, _ in processes:
        if process.poll() is None:
            process.terminate()
    for process, _ in processes:
        try:
            process.communicate(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.communicate()


def test_two_serves_started_together_on_an_empty_database_both_come_up(tmp_path: Path) -> None:
    for round_ in range(ROUNDS):
        with require_postgres() as database_url:
            # Given a fresh, empty database (no alembic_version, no tables)
            envs = [bridge_env(BRIDGE_DATABASE_URL=database_url) for _ in range(2)]
            # When two bridges are started at the same instant
            processes = [
                (start_bridge(["serve"], tmp_path, env), int(env["BRIDGE_HTTP_PORT"]))
                for env in envs
            ]
            try:
                failures = _wait_ready(processes)
            finally:
                _stop(processes)
            # Then both answer /readyz 200, every round
            assert failures == [], f"round {round_ + 1}: {failures}"
            engine = create_engine(sync_url(database_url))
            try:
                with engine.connect() as connection:
                    versions = connection.execute(
                        text("SELECT version_num FROM alembic_version")
                    ).all()
            finally:
                engine.dispose()
            assert [row[0] for row in versions] == [code_head()]


def test_serve_refuses_a_schema_newer_than_its_code(tmp_path: Path) -> None:
    with require_postgres() as database_url:
        # Given a database a newer bridge migrated (a revision this code does not know)
        upgrade(database_url)
        engine = create_engine(sync_url(database_url))
        try:
            with engine.begin() as connection:
                connection.execute(text("UPDATE alembic_version SET version_num = '9999'"))
        finally:
            engine.dispose()

        # When this bridge is started on it
        result = run_bridge(["serve"], tmp_path, bridge_env(BRIDGE_DATABASE_URL=database_url))

        # Then it refuses, naming both revisions, and leaves the schema alone
        assert result.returncode == 2
        assert "9999" in result.stderr
        assert code_head() in result.stderr
        assert "newer" in result.stderr
        upgrade_result = run_bridge(
            ["db", "upgrade"], tmp_path, bridge_env(BRIDGE_DATABASE_URL=database_url)
        )
        assert upgrade_result.returncode == 2
        assert "9999" in upgrade_result.stderr
