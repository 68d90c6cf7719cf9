"""The image's build stage, reproduced without a container engine: the wheel is built from
exactly the files the Dockerfile's build stage copies, installed into a fresh virtual
environment, and run. (It once could not build: pyproject force-includes contracts/, which the
build stage did not copy.)"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def build_stage_copies(dockerfile: str) -> list[str]:
    """Sources of every ``COPY`` (not ``COPY --from``) in the first stage."""
    stages = re.split(r"^FROM\s", dockerfile, flags=re.M)
    sources: list[str] = []
    for line in stages[1].splitlines():
        if line.startswith("COPY ") and "--from" not in line:
            sources += line.split()[1:-1]
    return sources


def test_the_dockerfile_copies_what_the_wheel_is_built_from() -> None:
    copied = build_stage_copies((ROOT / "Dockerfile").read_text())
    assert copied == ["pyproject.toml", "README.md", "src", "adapters", "contracts"]
    ignored = (ROOT / ".dockerignore").read_text().splitlines()
    for source in copied:
        assert f"!{source}" in ignored or f"!{source}/" in ignored, source


def test_wheel_from_the_copied_files_installs_and_runs(tmp_path: Path) -> None:
    # Given only the files the build stage copies
    context = tmp_path / "context"
    context.mkdir()
    for source in build_stage_copies((ROOT / "Dockerfile").read_text()):
        origin = ROOT / source
        if origin.is_dir():
            shutil.copytree(origin, context / source, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(origin, context / source)
    # When the wheel is built from them and installed into a fresh virtual environment
    wheels = tmp_path / "wheels"
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(wheels), str(context)],
        check=True,
        timeout=300,
    )
    [wheel] = wheels.glob("bridge-*.whl")
    target = tmp_path / "venv"
    venv.EnvBuilder(with_pip=True).create(target)
    python = target / "bin" / "python"
    subprocess.run([str(python), "-m", "pip", "install", "-q", str(wheel)], check=True, timeout=300)
    # Then the installed command runs, from the new environment, with the contracts inside
    version = subprocess.run(
        [str(target / "bin" / "bridge"), "--version"],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
        cwd=tmp_path,
    )
    assert version.stdout.strip() == "bridge 0.1.0"
    where = subprocess.run(
        [
            str(python),
            "-c",
            "import bridge, pathlib; p = pathlib.Path(bridge.__file__).parent; "
            "print(p); print(sorted(x.name for x in (p / 'contracts' / 'data').iterdir()))",
        ],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
        cwd=tmp_path,
    )
    package, contents = where.stdout.splitlines()
    assert package.startswith(str(target))
    expected = sorted(p.name for p in (ROOT / "contracts").iterdir())
    assert contents == str(expected)
