"""``python -m treserva_sim``: the simulator on its own, configured by TRESERVA_SIM_* variables."""

from __future__ import annotations

import asyncio
import logging

from treserva_sim.server import serve
from treserva_sim.settings import TreservaSettings


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    settings = TreservaSettings()
    asyncio.run(serve(settings.host, settings.port, settings))


if __name__ == "__main__":
    main()
