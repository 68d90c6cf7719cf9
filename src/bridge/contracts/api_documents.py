"""The published interface documents that come from code: ``docs/openapi.json``.

The OpenAPI document is the one the running bridge serves at ``/openapi.json`` (and shows at
``/docs``), written to a file so it can be read, diffed and published with the docs without a
running bridge. ``scripts/generate_contracts.py`` writes it; a test fails when it is stale.
The AsyncAPI document for the AMQP interfaces (``docs/asyncapi.yaml``) is written by hand: no
code describes the broker topology as data, and a test checks it against the settings' names.
"""

from __future__ import annotations

import json
from pathlib import Path

OPENAPI_FILE = "openapi.json"


def openapi_text(database_dir: Path) -> str:
    """The bridge's OpenAPI document as stable JSON text.

    A bridge is built (not started) on a scratch SQLite file in ``database_dir``, with default
    settings otherwise, exactly as ``bridge serve`` builds its app.
    """
    from bridge.bootstrap import Bridge
    from bridge.config import Settings
    from bridge.entrypoints.http import create_app

    settings = Settings(database_url=f"sqlite:///{database_dir / 'openapi.db'}")
    document = create_app(Bridge(settings)).openapi()
    return json.dumps(document, indent=2, sort_keys=True, ensure_ascii=False) + "\n"
