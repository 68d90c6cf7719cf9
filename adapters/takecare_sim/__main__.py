"""``python -m takecare_sim``: send synthetic admissions to a bridge and print each outcome."""

from __future__ import annotations

import argparse
import asyncio
import logging

from takecare_sim.sender import SendOptions, SentNotice, run


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="takecare_sim", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=2575)
    parser.add_argument("--transport", choices=("mllp", "http"), default="mllp")
    parser.add_argument("--http-url", default=None)
    parser.add_argument("--rate", type=float, default=1.0, help="messages per second")
    parser.add_argument("--count", type=int, default=None, help="stop after this many")
    parser.add_argument("--seed", type=int, default=None)
    return parser.parse_args()


def _report(notice: SentNotice) -> None:
    outcome = notice.ack_code or f"no ACK ({notice.error})"
    print(f"{notice.control_id} {outcome} {notice.latency_s * 1000:.1f} ms")


def main() -> None:
    arguments = _arguments()
    logging.basicConfig(level=logging.WARNING)
    options = SendOptions(arguments.host, arguments.port, arguments.transport, arguments.http_url)
    asyncio.run(run(options, arguments.rate, arguments.seed, arguments.count, _report))


if __name__ == "__main__":
    main()
