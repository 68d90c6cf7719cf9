"""Write the generated contract files: ``python scripts/generate_contracts.py``.

- ``contracts/v1/messages/bridge-*.json``: what the bridge sends, from its own encoder;
- ``contracts/v1/pacts/*.json``: one Pact V4 file per consumer–provider pair, from the
  ``fhir-pact`` contract files;
- ``docs/openapi.json``: the bridge's OpenAPI document, from its FastAPI app.

``--check`` writes nothing and exits 1 when a committed file is stale (tests/contract does the
same).
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

from bridge.contracts.api_documents import OPENAPI_FILE, openapi_text
from bridge.contracts.examples import example_files
from bridge.contracts.loader import VERSION_DIR, load_contracts
from bridge.contracts.pacts import pact_files

REPO = Path(__file__).resolve().parent.parent
CONTRACTS = REPO / "contracts"


def main(argv: list[str]) -> int:
    check = "--check" in argv
    stale: list[Path] = []
    base = CONTRACTS / VERSION_DIR
    examples = example_files(base / "messages")
    # The Pacts embed the examples: write those first, then compile the contracts.
    _write({base / "messages" / name: text for name, text in examples.items()}, check, stale)
    pacts = pact_files(load_contracts(CONTRACTS))
    _write({base / "pacts" / name: text for name, text in pacts.items()}, check, stale)
    failed = False
    with tempfile.TemporaryDirectory(prefix="bridge-openapi-") as scratch:
        try:
            openapi = openapi_text(Path(scratch))
        except Exception as error:  # the app's own bug: say so, keep the other files
            print(f"cannot generate docs/{OPENAPI_FILE}: {type(error).__name__}: {error}")
            failed = True
        else:
            _write({REPO / "docs" / OPENAPI_FILE: openapi}, check, stale)
    verb = "stale" if check else "written"
    for path in stale:
        print(f"{verb}: {path.relative_to(REPO)}")
    return 1 if failed or (check and stale) else 0


def _write(files: dict[Path, str], check: bool, stale: list[Path]) -> None:
    for path, text in files.items():
        if path.exists() and path.read_text(encoding="utf-8") == text:
            continue
        stale.append(path)
        if not check:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
