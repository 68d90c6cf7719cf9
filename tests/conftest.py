"""Settings every test starts from.

Production-mode tests (PostgreSQL URL) send without credentials, which a production bridge
refuses unless told otherwise (docs/security.md). Tests of inbound identity set the opt-out
false explicitly, or configure authentication.
"""

from __future__ import annotations

import os

os.environ.setdefault("BRIDGE_ALLOW_UNAUTHENTICATED_INGESTION", "true")
