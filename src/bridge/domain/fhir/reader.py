"""Typed access to parsed FHIR JSON: every wrong shape becomes a :class:`MessageRejected`.

Each function takes the FHIRPath of the value it reads, so a rejection names the element the
sender's developer has to look at (``Bundle.entry[1].resource.identifier[0].value``). JSON
``null`` counts as absent.
"""

from __future__ import annotations

from typing import Any

from bridge.domain.errors import MessageRejected

Json = dict[str, Any]

_MAX_QUOTED = 40


def obj(value: object, path: str) -> Json:
    if not isinstance(value, dict):
        raise MessageRejected("must be a JSON object", path)
    return value


def opt_obj(parent: Json, key: str, path: str) -> Json | None:
    value = parent.get(key)
    return None if value is None else obj(value, f"{path}.{key}")


def opt_list(parent: Json, key: str, path: str) -> list[Any]:
    """The array at ``key`` (empty when absent)."""
    value = parent.get(key)
    if value is None:
        return []
    if not isinstance(value, list):
        raise MessageRejected("must be a JSON array", f"{path}.{key}")
    return value


def opt_str(parent: Json, key: str, path: str) -> str | None:
    value = parent.get(key)
    if value is None:
        return None
    if not isinstance(value, str) or not value:
        raise MessageRejected("must be a non-empty string", f"{path}.{key}")
    return value


def req_str(parent: Json, key: str, path: str) -> str:
    value = opt_str(parent, key, path)
    if value is None:
        raise MessageRejected("is required", f"{path}.{key}")
    return value


def str_list(parent: Json, key: str, path: str) -> tuple[str, ...]:
    items = opt_list(parent, key, path)
    for index, item in enumerate(items):
        if not isinstance(item, str) or not item:
            raise MessageRejected("must be a non-empty string", f"{path}.{key}[{index}]")
    return tuple(items)


def quoted(value: object) -> str:
    """A sender's value, shortened, for a rejection reason (never a whole payload)."""
    text = value if isinstance(value, str) else repr(value)
    return repr(text[:_MAX_QUOTED] + ("…" if len(text) > _MAX_QUOTED else ""))


def identifier_value(resource: Json, path: str, system: str) -> str | None:
    """The value of the identifier in ``system``, else of the first identifier with a value."""
    first: str | None = None
    for index, item in enumerate(opt_list(resource, "identifier", path)):
        item_path = f"{path}.identifier[{index}]"
        item = obj(item, item_path)
        value = opt_str(item, "value", item_path)
        if value is not None and opt_str(item, "system", item_path) == system:
            return value
        first = first or value
    return first


def required_identifier(resource: Json, path: str, system: str, what: str) -> str:
    value = identifier_value(resource, path, system)
    if value is None:
        raise MessageRejected(f"{what} needs an identifier ({system})", f"{path}.identifier")
    if len(value) > _MAX_ID:
        raise MessageRejected(f"is longer than {_MAX_ID} characters", f"{path}.identifier")
    return value


def code_text(concepts: list[Any], path: str) -> str | None:
    """The first CodeableConcept's text, else its first coding's display, else its code."""
    if not concepts:
        return None
    concept_path = f"{path}[0]"
    concept = obj(concepts[0], concept_path)
    text = opt_str(concept, "text", concept_path)
    if text is not None:
        return text
    for index, coding in enumerate(opt_list(concept, "coding", concept_path)):
        coding_path = f"{concept_path}.coding[{index}]"
        coding = obj(coding, coding_path)
        label = opt_str(coding, "display", coding_path) or opt_str(coding, "code", coding_path)
        if label is not None:
            return label
    return None


_MAX_ID = 64
