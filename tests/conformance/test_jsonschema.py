"""jsonschema: the records the sidecar answers validate against the published record schemas.

A portal validates what it receives against src/hub/schemas/records/ with its own JSON Schema
validator; it must not matter whether its rules show it every field or a few.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from hub.schemas import schema_path
from tests.conformance.conftest import MINIMAL_FIELDS, body


def validator(name: str) -> Draft202012Validator:
    schema = json.loads(schema_path(f"records/{name}.schema.json").read_text(encoding="utf-8"))
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema, format_checker=Draft202012Validator.FORMAT_CHECKER)


def looked_up(sidecar: Any, client: str, national_id: str, **extra: Any) -> dict[str, Any]:
    with sidecar.client(client) as http:
        response = http.post(
            "/v1/sources/population/lookup", json=body({"national_id": national_id}, **extra)
        )
    assert response.status_code == 200, response.text
    record: dict[str, Any] = response.json()["record"]
    return record


def test_a_full_citizen_validates_and_holds_every_field(sidecar):
    """A client that may see everything gets every field of the schema, and it validates."""
    record = looked_up(sidecar, "portal-full", sidecar.sample("population", "citizen"))
    schema = validator("citizen")
    schema.validate(record)
    assert set(record) == set(schema.schema["properties"])


def test_a_citizen_minimised_by_the_clients_rules_validates(sidecar):
    """A client limited to three fields gets those three, and the record still validates."""
    record = looked_up(sidecar, "portal-minimal", sidecar.sample("population", "citizen"))
    assert sorted(record) == sorted(MINIMAL_FIELDS["population"])
    validator("citizen").validate(record)


def test_a_citizen_minimised_by_the_request_validates(sidecar):
    """The fields a request asks for make a record just as valid."""
    national_id = sidecar.sample("population", "partial_dob")
    record = looked_up(sidecar, "portal-full", national_id, fields=["full_name"])
    assert list(record) == ["full_name"]
    validator("citizen").validate(record)


@pytest.mark.parametrize("name", ["citizen", "verified-identity"])
def test_the_schema_says_which_fields_a_full_record_always_has(name):
    """Nothing is required, since minimising may leave any field out; the description says
    which fields a full record always carries, and they are fields of the schema."""
    schema = validator(name).schema
    assert "required" not in schema
    always = schema["x-always-present"]
    assert always
    assert set(always) <= set(schema["properties"])
    assert ", ".join(always) in schema["description"]


def test_a_verification_validates(sidecar):
    """A verification, which reveals nothing but match / mismatch / unknown, validates."""
    national_id = sidecar.sample("population", "citizen")
    with sidecar.client("portal-full") as http:
        claim = {"national_id": national_id, "full_name": "Nguyễn Văn Không Phải"}
        response = http.post("/v1/sources/population/verify", json=body(claim))
    assert response.status_code == 200, response.text
    validator("verification").validate(response.json()["verification"])


@pytest.mark.parametrize("client", ["portal-full", "portal-minimal"])
def test_a_verified_identity_validates_full_or_minimised(sidecar, client):
    """A VNeID identity validates, whether the client sees all of it or two fields."""
    with sidecar.client(client) as http:
        login = sidecar.identity_body(http, sidecar.sample("vneid", "vneid_level2"))
        response = http.post("/v1/sources/vneid/authenticate", json=login)
    assert response.status_code == 200, response.text
    identity = response.json()["identity"]
    if client == "portal-minimal":
        assert sorted(identity) == sorted(MINIMAL_FIELDS["vneid"])
    validator("verified-identity").validate(identity)
