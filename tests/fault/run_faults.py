"""``make fault``: run the fault scenarios against the real RabbitMQ and PostgreSQL, print the
Jepsen-style table, exit 1 when any scenario lost, duplicated, reordered or left a notice.

    python tests/fault/run_faults.py                      # full size: 2,000 notices each
    python tests/fault/run_faults.py --ci                 # the small size CI runs
    python tests/fault/run_faults.py -s bridge-sigkill -s treserva-down --size 500
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import logging
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parent / "integration")]

from fault_scenarios import CI, FULL, SCENARIOS, by_name, run_scenario  # noqa: E402
from fault_verdict import Verdict, table  # noqa: E402


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("-s", "--scenario", action="append", help="only these (repeatable)")
    parser.add_argument("--ci", action="store_true", help="the small CI size")
    parser.add_argument("--size", type=int, help="notices per scenario")
    parser.add_argument("--rate", type=float, help="notices per second")
    parser.add_argument("--out", type=Path, default=Path("var/fault"), help="logs and results")
    parser.add_argument("--list", action="store_true", help="list the scenarios and exit")
    return parser.parse_args()


async def _main(arguments: argparse.Namespace) -> list[Verdict]:
    scale = CI if arguments.ci else FULL
    if arguments.size:
        scale = dataclasses.replace(scale, size=arguments.size)
    if arguments.rate:
        scale = dataclasses.replace(scale, rate=arguments.rate)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    run_dir = arguments.out / stamp
    verdicts = []
    for scenario in by_name(arguments.scenario):
        print(f"== {scenario.name}: {scenario.summary} ({scale.size} notices)", flush=True)
        verdict = await run_scenario(scenario, scale, run_dir)
        verdicts.append(verdict)
        print(table([verdict]).splitlines()[-1], flush=True)
        print("   " + _report([verdict]).splitlines()[-1], flush=True)
    report = _report(verdicts)
    print("\n" + report)
    (run_dir / "results.txt").write_text(report + "\n", encoding="utf-8")
    print(f"\nlogs and results: {run_dir}")
    return verdicts


def _report(verdicts: list[Verdict]) -> str:
    lines = [table(verdicts), ""]
    for verdict in verdicts:
        notes = "; ".join(verdict.notes)
        alerts = dict(verdict.alerts) or {}
        lines.append(
            f"{verdict.scenario}: {verdict.seconds:.0f} s; alerts {alerts}; "
            f"dropped by Treserva {verdict.dropped_by_treserva}; {notes}"
        )
    return "\n".join(lines)


def main() -> None:
    arguments = _arguments()
    if arguments.list:
        for scenario in SCENARIOS:
            print(f"{scenario.name:<24} {scenario.summary}")
        return
    logging.basicConfig(level=logging.WARNING)
    verdicts = asyncio.run(_main(arguments))
    sys.exit(0 if all(v.ok for v in verdicts) else 1)


if __name__ == "__main__":
    main()
