"""``python -m takecare_sim``: play TakeCare against a bridge and print each outcome.

python -m takecare_sim                                 # admissions (ADT^A01), 1 a second
python -m takecare_sim --mode episodes --episodes 20 --seed 7 --rate 5
python -m takecare_sim --mode episodes --receive       # and receive what the bridge sends
python -m takecare_sim --mode receive                  # only receive (HTTP 8082, MLLP 2576)
python -m takecare_sim --mode order --format hl7v2     # one home-care order, REF^I12 over MLLP
python -m takecare_sim --mode order --as private-centre --receive \
    --receive-http-port 8083 --receive-mllp-port 2578  # Vårdcentralen Hemse (privat), FHIR
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os

from bridge.domain.identifiers import mask
from takecare_sim.credentials import ClientCredentials
from takecare_sim.episode_sender import run_episodes
from takecare_sim.orders import (
    HOSPITAL_WARD,
    PRIVATE_FACILITY,
    PRIVATE_HEALTH_CENTRE,
    new_order,
    send_order_fhir,
    send_order_mllp,
)
from takecare_sim.receiver import receiving
from takecare_sim.sender import SendOptions, SentNotice, run


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="takecare_sim", description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument(
        "--mode", choices=("admissions", "episodes", "receive", "order"), default="admissions"
    )
    parser.add_argument(
        "--as",
        dest="referrer",
        choices=("takecare", "private-centre"),
        default="takecare",
        help="order mode: who orders (the private centre speaks FHIR only)",
    )
    parser.add_argument("--format", choices=("hl7v2", "fhir"), default="hl7v2")
    parser.add_argument("--fhir-url", default=None, help="the bridge's FHIR base")
    parser.add_argument("--personnummer", default="194403129804", help="order mode: synthetic")
    parser.add_argument("--description", default="Såromläggning tre gånger i veckan")
    parser.add_argument("--host", default="127.0.0.1", help="the bridge's host")
    parser.add_argument("--port", type=int, default=2575, help="the bridge's MLLP port")
    parser.add_argument("--transport", choices=("mllp", "http"), default="mllp")
    parser.add_argument("--http-url", default=None, help="default http://HOST:PORT/hl7v2")
    parser.add_argument("--rate", type=float, default=1.0, help="messages per second")
    parser.add_argument("--count", type=int, default=None, help="admissions mode: how many")
    parser.add_argument("--episodes", type=int, default=None, help="episodes mode: how many")
    parser.add_argument("--concurrency", type=int, default=4, help="episodes at a time")
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--receive", action="store_true", help="also receive from the bridge")
    parser.add_argument("--receive-host", default="127.0.0.1")
    parser.add_argument("--receive-http-port", type=int, default=8082)
    parser.add_argument("--receive-mllp-port", type=int, default=2576)
    who = parser.add_argument_group("credentials (docs/security.md)")
    who.add_argument("--ca-file", help="CA of the bridge's server certificate: use TLS")
    who.add_argument("--cert-file", help="client certificate (PEM) for mTLS")
    who.add_argument("--key-file", help="the client certificate's key")
    who.add_argument("--token-url", help="OAuth2 token endpoint (client credentials)")
    who.add_argument("--client-id")
    who.add_argument(
        "--client-secret",
        default=os.environ.get("TAKECARE_SIM_CLIENT_SECRET"),
        help="default: $TAKECARE_SIM_CLIENT_SECRET",
    )
    who.add_argument(
        "--api-key",
        default=os.environ.get("TAKECARE_SIM_API_KEY"),
        help="sent as X-API-Key; default: $TAKECARE_SIM_API_KEY",
    )
    return parser.parse_args()


def _credentials(arguments: argparse.Namespace) -> ClientCredentials:
    return ClientCredentials(
        ca_file=arguments.ca_file,
        cert_file=arguments.cert_file,
        key_file=arguments.key_file,
        token_url=arguments.token_url,
        client_id=arguments.client_id,
        client_secret=arguments.client_secret,
        api_key=arguments.api_key,
    )


def _report(notice: SentNotice) -> None:
    outcome = notice.ack_code or f"no ACK ({notice.error})"
    print(
        f"{notice.event:<4} {notice.control_id} {mask(notice.patient_identifier)} "
        f"{outcome} {notice.latency_s * 1000:.1f} ms"
    )


async def _order(arguments: argparse.Namespace) -> None:
    """One home-care order (docs/orders.md); its answer arrives at the receiver."""
    private = arguments.referrer == "private-centre"
    unit = PRIVATE_HEALTH_CENTRE if private else HOSPITAL_WARD
    order = new_order(arguments.personnummer, unit, arguments.description)
    if private or arguments.format == "fhir":
        base = arguments.fhir_url or f"http://{arguments.host}:8080/fhir"
        facility = PRIVATE_FACILITY if private else "VISBY_LAS"
        outcome = await send_order_fhir(order, base, facility) or "refused"
    else:
        outcome = (await send_order_mllp(order, arguments.host, arguments.port)).code
    print(f"order {order.order_id} from {unit.name} for {mask(order.personnummer)}: {outcome}")


async def _send(arguments: argparse.Namespace) -> None:
    if arguments.mode == "order":
        await _order(arguments)
        return
    options = SendOptions(
        arguments.host,
        arguments.port,
        arguments.transport,
        arguments.http_url,
        credentials=_credentials(arguments),
    )
    if arguments.mode == "episodes":
        await run_episodes(
            options,
            arguments.rate,
            arguments.seed,
            arguments.episodes,
            _report,
            concurrency=arguments.concurrency,
        )
    elif arguments.mode == "admissions":
        await run(options, arguments.rate, arguments.seed, arguments.count, _report)


async def _main(arguments: argparse.Namespace) -> None:
    if not (arguments.receive or arguments.mode == "receive"):
        await _send(arguments)
        return
    async with receiving(
        arguments.receive_host, arguments.receive_http_port, arguments.receive_mllp_port
    ) as receiver:
        print(f"receiving: {receiver.base_url}/ (inbox), {receiver.mllp_address}")
        await _send(arguments)
        await asyncio.Event().wait()


def main() -> None:
    arguments = _arguments()
    logging.basicConfig(level=logging.WARNING)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_main(arguments))


if __name__ == "__main__":
    main()
