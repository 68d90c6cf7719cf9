"""``bridge demo`` (what ``make demo`` runs) stops on Ctrl-C with the ``--once`` summary and
leaves no accepted notice undelivered."""

from __future__ import annotations

import re
import signal
import subprocess
import time
from pathlib import Path

from support.cli_process import bridge_env, start_bridge


def _wait_for_line(process: subprocess.Popen[str], pattern: str, seconds: float) -> list[str]:
    assert process.stdout is not None
    seen: list[str] = []
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line:
            break
        seen.append(line)
        if re.search(pattern, line):
            return seen
    raise AssertionError(f"no line matching {pattern!r} in: {''.join(seen)}")


def test_ctrl_c_prints_the_summary_and_stops_cleanly(tmp_path: Path) -> None:
    # Given the demo sending admissions continuously
    env = bridge_env(BRIDGE_DATABASE_URL=f"sqlite:///{tmp_path / 'bridge.db'}")
    demo = start_bridge(["demo", "--rate", "10"], tmp_path, env)
    try:
        _wait_for_line(demo, r"^sent\s+3\s", 60)
        # When the operator presses Ctrl-C
        demo.send_signal(signal.SIGINT)
        started = time.monotonic()
        stdout, stderr = demo.communicate(timeout=40)
        stopped_in = time.monotonic() - started
    finally:
        if demo.poll() is None:
            demo.kill()
            demo.wait()
    # Then it prints the --once summary, every accepted notice delivered, and exits 0 promptly
    summary = re.search(r"^sent=(\d+) accepted=(\d+) delivered=(\d+)$", stdout, re.M)
    assert summary, stdout + stderr[-2000:]
    sent, accepted, delivered = map(int, summary.groups())
    assert sent >= 3
    assert sent == accepted == delivered, stdout
    assert demo.returncode == 0, stderr[-2000:]
    assert "Traceback" not in stderr
    assert stopped_in < 20
