"""What the sidecar's OpenAPI document declares beyond what FastAPI sees in its routes.

The handlers write their answers themselves (orjson, on the hot path), so FastAPI cannot
tell what a record is: here the document gets each source's records by reference to
their schemas, the verification and identity models, and the credentials every ``/v1``
route needs. A generated client then returns typed values, and a validator checks them.
"""

from __future__ import annotations

import copy
import typing
from collections.abc import Iterator
from typing import Any, Literal

from pydantic import BaseModel, TypeAdapter

from hub._model import Record
from hub._registry import installed_connectors
from hub._schemas import model_schema
from hub.connector import Connector, Health, Operation
from hub.records import Verification, VerifiedIdentity

__all__ = ["Alive", "Readiness", "declare"]

REF = "#/components/schemas/{model}"
# Answers are documented as they are written, computed fields included.
_MODE: Literal["serialization"] = "serialization"

SECURITY_SCHEMES: dict[str, dict[str, str]] = {
    "bearerKey": {
        "type": "http",
        "scheme": "bearer",
        "description": "The client's API key (`hub keys client NAME`), stored hashed.",
    },
    "clientCertificate": {
        "type": "mutualTLS",
        "description": "A certificate that `tls_client_ca` verifies; its common name "
        "names the client.",
    },
}
# Two requirement objects: either credential will do.
SECURITY: list[dict[str, list[str]]] = [{"bearerKey": []}, {"clientCertificate": []}]


class Alive(BaseModel):
    status: Literal["alive"]


class AuditHealth(BaseModel):
    status: Literal["up", "down"]
    detail: str | None = None


class Readiness(BaseModel):
    """Whether the audit trail takes entries, and what each upstream's health check found."""

    status: Literal["ready", "not ready"]
    audit: AuditHealth
    sources: dict[str, Health]
    degraded: list[str]


def declare(document: dict[str, Any]) -> None:
    """Complete the generated ``document`` in place: security, records, typed answers."""
    components = document.setdefault("components", {})
    components["securitySchemes"] = SECURITY_SCHEMES
    for path, operations in document["paths"].items():
        if path.startswith("/v1/"):
            for operation in operations.values():
                operation["security"] = SECURITY
    schemas = components.setdefault("schemas", {})
    lookups = {
        name: cls
        for name, cls in sorted(installed_connectors().items())
        if Operation.LOOKUP in cls.operations
    }
    answers = {name: _lookup_answer(cls) for name, cls in lookups.items()}
    fixed: dict[str, Any] = {"Verification": Verification, "VerifiedIdentity": VerifiedIdentity}
    named, definitions = TypeAdapter.json_schemas(
        [(name, _MODE, TypeAdapter(answer)) for name, answer in answers.items()]
        + [(name, _MODE, TypeAdapter(model)) for name, model in fixed.items()],
        ref_template=REF,
    )
    schemas.update(definitions.get("$defs", {}))
    for model in {m for answer in answers.values() for m in _models(answer)} | {VerifiedIdentity}:
        schemas[model.__name__] = _record_schema(model)
    schemas["VerifyAnswer"]["properties"]["verification"] = named[("Verification", _MODE)]
    schemas["AuthenticateAnswer"]["properties"]["identity"] = named[("VerifiedIdentity", _MODE)]
    if lookups:
        schemas["LookupAnswer"] = _by_source(
            schemas, {name: named[(name, _MODE)] for name in lookups}
        )


def _lookup_answer(cls: type[Connector[Any, Any]]) -> Any:
    """What the connector's ``lookup`` says it returns: one record or several."""
    try:
        return typing.get_type_hints(cls.lookup)["return"]
    except (KeyError, NameError, TypeError):
        return cls.Record | list[cls.Record]  # type: ignore[name-defined]


def _models(annotation: Any) -> Iterator[type[BaseModel]]:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        yield annotation
    for argument in typing.get_args(annotation):
        yield from _models(argument)


def _record_schema(model: type[BaseModel]) -> dict[str, Any]:
    if model is Record:
        # A connector that does not say which record it returns: any object.
        return {"type": "object", "title": "Record"}
    schema = model_schema(model, REF)
    schema.pop("$defs", None)
    return schema


def _by_source(schemas: dict[str, Any], records: dict[str, Any]) -> dict[str, Any]:
    """One look-up answer per source, told apart by ``source``, with that source's records."""
    generic = schemas["LookupAnswer"]
    mapping = {}
    for source, record in records.items():
        title = "".join(part.capitalize() for part in source.split("_")) + "LookupAnswer"
        answer = copy.deepcopy(generic)
        answer["title"] = title
        answer["properties"]["source"] = {"const": source, "type": "string", "title": "Source"}
        answer["properties"]["record"] = record
        schemas[title] = answer
        mapping[source] = REF.format(model=title)
    return {
        "title": "LookupAnswer",
        "description": "The answer of a look-up: the record (or records) of its source, "
        "holding only the fields this client may see and asked for.",
        "oneOf": [{"$ref": reference} for reference in mapping.values()],
        "discriminator": {"propertyName": "source", "mapping": mapping},
    }
