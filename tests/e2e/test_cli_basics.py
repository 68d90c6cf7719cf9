"""``bridge --version`` and the JSON of commands that need no database, as real processes."""

from __future__ import annotations

import json
from importlib.metadata import version
from pathlib import Path

from support.cli_process import bridge_env, run_bridge


def test_version_is_the_installed_distributions(tmp_path: Path) -> None:
    done = run_bridge(["--version"], tmp_path, bridge_env())
    assert done.returncode == 0, done.stderr
    assert done.stdout == f"bridge {version('bridge')}\n"


def test_contract_list_answers_json(tmp_path: Path) -> None:
    done = run_bridge(["contract", "list", "--json"], tmp_path, bridge_env())
    assert done.returncode == 0, done.stderr
    listed = json.loads(done.stdout)
    assert {"mllp", "fhir"} <= {interface["name"] for interface in listed["interfaces"]}
    assert listed["contracts"]
