"""The JSON Schemas of the uniform records, checked into schemas/records/.

A test fails when a checked-in file drifts from its model; regenerate them with
``python -m hub._schemas``.
"""

from __future__ import annotations

import json

from pydantic import BaseModel

from hub import records
from schemas import SCHEMAS_DIR

__all__ = ["RECORD_SCHEMAS", "render", "write_all"]

RECORD_SCHEMAS: dict[str, type[BaseModel]] = {
    "records/citizen.schema.json": records.Citizen,
    "records/verification.schema.json": records.Verification,
    "records/verified-identity.schema.json": records.VerifiedIdentity,
}


def render(model: type[BaseModel]) -> str:
    """The schema of ``model`` as written to disk: stable key order, UTF-8, newline."""
    schema = model.model_json_schema(mode="serialization")
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    return json.dumps(schema, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def write_all() -> None:
    for name, model in RECORD_SCHEMAS.items():
        path = SCHEMAS_DIR / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(render(model), encoding="utf-8")


if __name__ == "__main__":
    write_all()
