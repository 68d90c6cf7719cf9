"""Settings every test process shares: the session signing key a bridge on PostgreSQL needs.

In-process bridges read it from the environment; subprocesses started with ``os.environ``
inherit it (``support.cli_process.bridge_env`` adds it explicitly, as it drops BRIDGE_*).
"""

from __future__ import annotations

import os

from support.cli_process import TEST_SESSION_SECRET

os.environ.setdefault("BRIDGE_SESSION_SECRET", TEST_SESSION_SECRET)
