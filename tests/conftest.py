"""Shared test support for every suite: the secrets production settings require.

Outside the embedded SQLite demo the bridge refuses to start without
``BRIDGE_PATIENT_KEY_SECRET`` and ``BRIDGE_AUDIT_KEY`` (docs/security.md). Tests that run it on
PostgreSQL (in process or as a subprocess, which inherits the environment) get synthetic test
values here; a test about the refusal removes them with ``monkeypatch.delenv``.
"""

from __future__ import annotations

import os

TEST_PATIENT_KEY_SECRET = "test-only-pseudonym-key-not-for-production"
TEST_AUDIT_KEY = "test-only-audit-key-not-for-production"

os.environ.setdefault("BRIDGE_PATIENT_KEY_SECRET", TEST_PATIENT_KEY_SECRET)
os.environ.setdefault("BRIDGE_AUDIT_KEY", TEST_AUDIT_KEY)
