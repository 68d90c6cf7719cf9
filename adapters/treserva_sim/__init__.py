"""Treserva simulator: plays municipal home care receiving notices over FHIR messaging.

Start it from Python with :func:`serve` (runs until cancelled) or :func:`running` (an async
context manager that yields the URL, for tests and demos), or build the ASGI app with
:func:`create_app`. It talks to the bridge only over HTTP. With ``bridge_url`` set
(``TRESERVA_SIM_BRIDGE_URL``) it confirms every filed notice with a receipt and sends home-care
enrolments, on demand (``POST /api/enrolments``) or at ``enrolment_rate_per_min``.
"""

from treserva_sim.app import create_app
from treserva_sim.inbox import Inbox, InboxItem
from treserva_sim.reception import Reception
from treserva_sim.server import RunningTreserva, running, serve
from treserva_sim.settings import Faults, FaultsUpdate, TreservaSettings
from treserva_sim.stats import Stats

__all__ = [
    "Faults",
    "FaultsUpdate",
    "Inbox",
    "InboxItem",
    "Reception",
    "RunningTreserva",
    "Stats",
    "TreservaSettings",
    "create_app",
    "running",
    "serve",
]
