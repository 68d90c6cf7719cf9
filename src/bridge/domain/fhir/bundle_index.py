"""The entries of a received message Bundle, and references resolved between them."""

from __future__ import annotations

from bridge.domain.errors import MessageRejected
from bridge.domain.fhir import codes
from bridge.domain.fhir.reader import Json, obj, opt_list, opt_obj, opt_str
from bridge.domain.model import CareUnit


class BundleIndex:
    """Entries by position, fullUrl and ``Type/id`` (relative or at the end of an absolute URL)."""

    def __init__(self, bundle: Json) -> None:
        entries = opt_list(bundle, "entry", "Bundle")
        if not entries:
            raise MessageRejected("a message Bundle needs at least a MessageHeader", "Bundle.entry")
        self.resources: list[Json] = []
        self._by_url: dict[str, int] = {}
        for index, entry in enumerate(entries):
            self._add(index, obj(entry, f"Bundle.entry[{index}]"))

    def _add(self, index: int, entry: Json) -> None:
        path = f"Bundle.entry[{index}]"
        resource = obj(entry.get("resource"), f"{path}.resource")
        resource_type = opt_str(resource, "resourceType", f"{path}.resource")
        if resource_type is None:
            raise MessageRejected("every resource needs a resourceType", f"{path}.resource")
        self.resources.append(resource)
        full_url = opt_str(entry, "fullUrl", path)
        if full_url is not None:
            self._by_url.setdefault(full_url, index)
        resource_id = resource.get("id")
        if isinstance(resource_id, str):
            self._by_url.setdefault(f"{resource_type}/{resource_id}", index)

    @staticmethod
    def path(index: int) -> str:
        return f"Bundle.entry[{index}].resource"

    def type_of(self, index: int) -> str:
        return str(self.resources[index]["resourceType"])

    def resolve(self, reference: str) -> int | None:
        """The entry a reference points at, or None when it is not in the Bundle."""
        found = self._by_url.get(reference)
        if found is None and "/" in reference:
            parts = reference.split("/_history/")[0].rsplit("/", 2)
            found = self._by_url.get("/".join(parts[-2:]))
        return found

    def first_of(self, resource_type: str) -> int | None:
        for index, resource in enumerate(self.resources):
            if resource["resourceType"] == resource_type:
                return index
        return None

    def unit(self, reference: Json, path: str, resource_type: str) -> CareUnit | None:
        """A care unit from a reference: its HSA identifier and name, inline or in the entry."""
        target = opt_str(reference, "reference", path)
        index = None if target is None else self.resolve(target)
        code = ward_code(reference, path)
        if index is not None:
            if self.type_of(index) != resource_type:
                return None
            unit = _unit_of_resource(self.resources[index], self.path(index))
            return unit if code is None else unit.model_copy(update={"code": code})
        declared = opt_str(reference, "type", path) or _type_in(target)
        if declared not in (None, resource_type):
            return None
        return CareUnit(
            hsa_id=hsa_of_reference(reference, path),
            name=opt_str(reference, "display", path),
            code=code,
        )


def hsa_of_reference(reference: Json, path: str) -> str | None:
    """The HSA-id in a reference's logical identifier, if it has one."""
    identifier = opt_obj(reference, "identifier", path)
    return None if identifier is None else _hsa_value(identifier, f"{path}.identifier")


def ward_code(element: Json, path: str) -> str | None:
    """The ``ward-code`` extension of a reference (the unit's local code, HL7 PV1-3 PL-1)."""
    for index, extension in enumerate(opt_list(element, "extension", path)):
        extension_path = f"{path}.extension[{index}]"
        extension = obj(extension, extension_path)
        if opt_str(extension, "url", extension_path) == codes.WARD_CODE_URL:
            return opt_str(extension, "valueString", extension_path)
    return None


def _unit_of_resource(resource: Json, path: str) -> CareUnit:
    hsa_id = None
    for index, identifier in enumerate(opt_list(resource, "identifier", path)):
        item_path = f"{path}.identifier[{index}]"
        hsa_id = _hsa_value(obj(identifier, item_path), item_path)
        if hsa_id is not None:
            break
    return CareUnit(hsa_id=hsa_id, name=opt_str(resource, "name", path))


def _hsa_value(identifier: Json, path: str) -> str | None:
    if opt_str(identifier, "system", path) not in codes.HSA_SYSTEMS:
        return None
    return opt_str(identifier, "value", path)


def _type_in(reference: str | None) -> str | None:
    """``Organization`` for ``Organization/123`` or ``https://x/fhir/Organization/123``."""
    if reference is None or "/" not in reference:
        return None
    candidate = reference.split("/_history/")[0].rsplit("/", 2)[-2]
    return candidate if candidate[:1].isupper() and candidate.isalpha() else None
