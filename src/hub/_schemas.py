"""The JSON Schemas of the uniform records, checked into src/hub/schemas/records/.

A test fails when a checked-in file drifts from its model; regenerate them with
``python -m hub._schemas``.
"""

from __future__ import annotations

import json
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import DEFAULT_REF_TEMPLATE

from hub import records
from hub._model import Record
from hub.schemas import SCHEMAS_DIR

__all__ = ["ALWAYS_PRESENT", "RECORD_SCHEMAS", "model_schema", "render", "write_all"]

RECORD_SCHEMAS: dict[str, type[BaseModel]] = {
    "records/citizen.schema.json": records.Citizen,
    "records/verification.schema.json": records.Verification,
    "records/verified-identity.schema.json": records.VerifiedIdentity,
}
#: The annotation that lists the fields a full record always has (JSON Schema ignores it).
ALWAYS_PRESENT = "x-always-present"


def model_schema(
    model: type[BaseModel], ref_template: str = DEFAULT_REF_TEMPLATE
) -> dict[str, Any]:
    """The JSON Schema of ``model`` as the hub answers it.

    A record reaches a client minimised: only the fields that client may see and asked
    for. So a record's schema requires no field, and says under `ALWAYS_PRESENT` and in
    its description which ones a full record always has. Models that are not records
    (a verification) and the models within a record keep their required fields.

    Args:
        model: A pydantic model of `hub.records`, or a connector's own record.
        ref_template: Where references to the models within point.
    """
    schema = model.model_json_schema(mode="serialization", ref_template=ref_template)
    if issubclass(model, Record):
        always = schema.pop("required", [])
        note = (
            "Any field may be absent: a record minimised for a client holds only the "
            "fields that client may see and asked for."
        )
        if always:
            note += f" A full record holds every field; always present: {', '.join(always)}."
            schema[ALWAYS_PRESENT] = always
        description = schema.get("description")
        schema["description"] = f"{description}\n\n{note}" if description else note
    return schema


def render(model: type[BaseModel]) -> str:
    """The schema of ``model`` as written to disk: stable key order, UTF-8, newline."""
    schema = model_schema(model)
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    return json.dumps(schema, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def write_all() -> None:
    for name, model in RECORD_SCHEMAS.items():
        path = SCHEMAS_DIR / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(render(model), encoding="utf-8")


if __name__ == "__main__":
    write_all()
