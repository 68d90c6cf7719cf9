"""Finding and reading the contract files.

Layout: ``contracts/v1/<consumer>-<provider>/<interface>/<event>.yaml``; message examples in
``contracts/v1/messages/``; generated Pact files in ``contracts/v1/pacts/``. Adding an event is
adding a file: every loader, verifier and test picks it up by walking the directory.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
import yaml
from pydantic import TypeAdapter, ValidationError

from bridge.contracts.json_edit import apply_edits
from bridge.contracts.model import (
    AmqpBinding,
    AnyContract,
    Contract,
    FhirContract,
    Hl7Contract,
    HttpRequestSpec,
)

VERSION_DIR = "v1"
_ADAPTER: TypeAdapter[AnyContract] = TypeAdapter(Contract)


class ContractError(Exception):
    """A contract file that cannot be read; the message names the file and the problem."""


def contracts_root() -> Path:
    """``BRIDGE_CONTRACTS_DIR``, else the copy shipped in the package, else the repository's."""
    configured = os.environ.get("BRIDGE_CONTRACTS_DIR")
    if configured:
        return Path(configured)
    shipped = Path(__file__).resolve().parent / "data"
    if shipped.is_dir():
        return shipped
    return Path(__file__).resolve().parents[3] / "contracts"


@dataclass(frozen=True)
class ContractSet:
    """Every contract of one version, and where they live."""

    root: Path
    contracts: tuple[AnyContract, ...]

    @property
    def pacts_dir(self) -> Path:
        return self.root / "pacts"

    def hl7(self, consumer: str, provider: str) -> list[Hl7Contract]:
        return [
            c
            for c in self.contracts
            if isinstance(c, Hl7Contract) and (c.consumer, c.provider) == (consumer, provider)
        ]

    def fhir(self, consumer: str | None = None, provider: str | None = None) -> list[FhirContract]:
        return [
            c
            for c in self.contracts
            if isinstance(c, FhirContract)
            and consumer in (None, c.consumer)
            and provider in (None, c.provider)
        ]

    def amqp(self, consumer: str, provider: str) -> list[AmqpBinding]:
        return [
            c
            for c in self.contracts
            if isinstance(c, AmqpBinding) and (c.consumer, c.provider) == (consumer, provider)
        ]

    def pairs(self) -> list[tuple[str, str]]:
        """Every (consumer, provider) pair with FHIR interactions: one Pact file each."""
        return sorted({(c.consumer, c.provider) for c in self.fhir()})


def load_contracts(root: Path | None = None) -> ContractSet:
    """Read every contract file under ``<root>/v1``; :class:`ContractError` names a bad one."""
    base = (root or contracts_root()) / VERSION_DIR
    if not base.is_dir():
        raise ContractError(f"no contracts at {base}")
    files = sorted(p for p in base.glob("*-*/*/*.yaml") if p.parent.parent.name != "messages")
    return ContractSet(base, tuple(load_contract(path) for path in files))


def load_contract(path: Path) -> AnyContract:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        contract = _ADAPTER.validate_python(data)
    except (OSError, yaml.YAMLError) as error:
        raise ContractError(f"{path}: {error}") from error
    except ValidationError as error:
        detail = error.errors()[0]
        where = ".".join(str(part) for part in detail["loc"])
        raise ContractError(f"{path}: {where}: {detail['msg']}") from error
    return contract.model_copy(update={"path": path})


def hl7_base_message(contract: Hl7Contract) -> str:
    """The contract's base message as text, segments ending in CR."""
    path = _relative(contract.path, contract.message)
    text = path.read_bytes().decode("utf-8")
    return text.replace("\r\n", "\r").replace("\n", "\r")


def request_body(contract: FhirContract, request: HttpRequestSpec) -> Any:
    """The example request body with the interaction's edits applied (None: no body)."""
    if request.body_file is None:
        return None
    body = orjson.loads(_relative(contract.path, request.body_file).read_bytes())
    return apply_edits(body, request.set, request.delete)


def _relative(contract_path: Path | None, reference: str) -> Path:
    if contract_path is None:
        raise ContractError(f"{reference}: the contract was not loaded from a file")
    return (contract_path.parent / reference).resolve()
