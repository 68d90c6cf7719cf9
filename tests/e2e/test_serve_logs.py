"""``bridge serve`` as a process: every log line is JSON with an ISO 8601 time carrying its
offset, uvicorn's included, and none holds a terminal colour code; SIGTERM stops it cleanly."""

from __future__ import annotations

import json
import signal
import time
from datetime import datetime
from pathlib import Path

import httpx

from support.cli_process import bridge_env, start_bridge


def test_serve_logs_json_lines_with_offsets_and_no_ansi(tmp_path: Path) -> None:
    # Given the bridge started with the production log settings
    env = bridge_env(
        BRIDGE_DATABASE_URL=f"sqlite:///{tmp_path / 'bridge.db'}",
        BRIDGE_LOG_JSON="true",
        BRIDGE_LOG_LEVEL="INFO",
    )
    serve = start_bridge(["serve"], tmp_path, env)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                url = f"http://127.0.0.1:{env['BRIDGE_HTTP_PORT']}/healthz"
                if httpx.get(url, timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.2)
        else:
            raise AssertionError("bridge serve did not answer /healthz")
        # When it is asked to stop
        serve.send_signal(signal.SIGTERM)
        _, stderr = serve.communicate(timeout=30)
    finally:
        if serve.poll() is None:
            serve.kill()
            serve.wait()
    # Then it stopped cleanly, and every line it logged is clean JSON with an offset
    assert serve.returncode == 0, stderr[-2000:]
    lines = [json.loads(line) for line in stderr.splitlines() if line.strip()]
    assert lines, "no log lines"
    assert "\x1b" not in stderr and "\\u001b" not in stderr
    assert all(datetime.fromisoformat(line["time"]).utcoffset() is not None for line in lines)
    assert any(line["logger"].startswith("uvicorn") for line in lines)
    assert any(line["message"] == "bridge stopped" for line in lines)
