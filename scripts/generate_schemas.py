"""Write every file under schemas/ from code: ``python scripts/generate_schemas.py``.

The canonical JSON Schema comes from the pydantic model, the FHIR CodeSystems, message
definitions and StructureDefinitions from ``bridge.domain.fhir``, the examples from the encoder.
``--check`` writes nothing and exits 1 when a committed file is stale (the unit tests do the
same).
"""

from __future__ import annotations

import sys
from pathlib import Path

from bridge.domain.fhir.artifacts import schema_files

SCHEMAS = Path(__file__).resolve().parent.parent / "schemas"


def main(argv: list[str]) -> int:
    check = "--check" in argv
    stale = []
    for relative, text in schema_files().items():
        target = SCHEMAS / relative
        if target.exists() and target.read_text(encoding="utf-8") == text:
            continue
        stale.append(relative)
        if not check:
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text, encoding="utf-8")
    verb = "stale" if check else "written"
    for relative in stale:
        print(f"{verb}: schemas/{relative}")
    return 1 if check and stale else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
