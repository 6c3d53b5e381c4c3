"""openapi-core: recorded sidecar exchanges validate against src/hub/schemas/sidecar.openapi.json.

Each exchange is made with requests, as a portal's own code would, and openapi-core
checks request and answer against the checked-in document: status, media type, headers
and body, the records in a look-up answer by their own schemas.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any, ClassVar

import pytest
import requests
from openapi_core import Config, OpenAPI
from openapi_core.contrib.requests import RequestsOpenAPIRequest, RequestsOpenAPIResponse
from openapi_core.security.exceptions import SecurityProviderError
from openapi_core.security.factories import SecurityProviderFactory
from openapi_core.security.providers import BaseProvider
from openapi_core.validation.request.exceptions import SecurityValidationError
from openapi_core.validation.response.exceptions import InvalidData

from hub.schemas import SCHEMAS_DIR
from tests.conformance.conftest import KEYS, body

DOCUMENT = SCHEMAS_DIR / "sidecar.openapi.json"


class _NoClientCertificate(BaseProvider):
    """openapi-core has no provider for OpenAPI 3.1's mutualTLS scheme; a request it sees
    carries no TLS session, so no certificate: that alternative is never met."""

    def __call__(self, parameters: Any) -> Any:
        raise SecurityProviderError("no client certificate in a plain HTTP request")


class _SecurityProviders(SecurityProviderFactory):
    PROVIDERS: ClassVar[dict[str, type[BaseProvider]]] = {
        **SecurityProviderFactory.PROVIDERS,
        "mutualTLS": _NoClientCertificate,
    }


@pytest.fixture(scope="module")
def openapi() -> OpenAPI:
    config = Config(
        # openapi-core reads application/json only; problem details are JSON too (RFC 9457).
        extra_media_type_deserializers={"application/problem+json": json.loads},
        security_provider_factory=_SecurityProviders(),
    )
    return OpenAPI.from_file_path(str(DOCUMENT), config=config)


@pytest.fixture(scope="module")
def http() -> Iterator[requests.Session]:
    with requests.Session() as session:
        yield session


class Exchanges:
    """Requests to the sidecar, each answer checked by openapi-core before it is returned."""

    def __init__(self, sidecar: Any, http: requests.Session, openapi: OpenAPI) -> None:
        self.sidecar = sidecar
        self.http = http
        self.openapi = openapi

    def send(
        self,
        method: str,
        path: str,
        client: str | None = None,
        *,
        valid_request: bool = True,
        **kwargs: Any,
    ) -> requests.Response:
        """Send a request; check the answer, and the request too unless it is meant to be bad."""
        headers = kwargs.pop("headers", {})
        if client is not None:
            headers["Authorization"] = f"Bearer {KEYS[client]}"
        response = self.http.request(
            method, f"{self.sidecar.url}{path}", headers=headers, timeout=20, **kwargs
        )
        if response.headers.get("content-type", "").startswith("application/problem+json"):
            self.sidecar.leaks.add(response.text)
        request = RequestsOpenAPIRequest(response.request)
        if valid_request:
            self.openapi.validate_request(request)
        self.openapi.validate_response(request, RequestsOpenAPIResponse(response))
        return response


@pytest.fixture
def exchanges(sidecar, http, openapi) -> Iterator[Exchanges]:
    sidecar.fault("population", None)
    yield Exchanges(sidecar, http, openapi)
    sidecar.fault("population", None)


def lookup(national_id: str, **extra: Any) -> dict[str, Any]:
    return {"json": body({"national_id": national_id}, **extra)}


def test_the_document_declares_its_security(openapi):
    """Every /v1 operation needs a Bearer key or a client certificate; the probes need none."""
    document = json.loads(DOCUMENT.read_text(encoding="utf-8"))
    schemes = document["components"]["securitySchemes"]
    assert (schemes["bearerKey"]["type"], schemes["bearerKey"]["scheme"]) == ("http", "bearer")
    assert schemes["clientCertificate"]["type"] == "mutualTLS"
    for path, operations in document["paths"].items():
        for operation in operations.values():
            expected = [{"bearerKey": []}, {"clientCertificate": []}]
            assert operation.get("security") == (expected if path.startswith("/v1/") else None)


def test_no_answer_is_declared_without_a_schema():
    """Every answer that has a body says what it is: no empty schema, no content left out."""
    document = json.loads(DOCUMENT.read_text(encoding="utf-8"))
    for path, operations in document["paths"].items():
        for operation in operations.values():
            for status, answer in operation["responses"].items():
                content = answer.get("content")
                assert content, f"{path} {status} declares no content"
                for media_type in content.values():
                    assert media_type.get("schema"), f"{path} {status} has an empty schema"


def test_a_request_without_credentials_is_refused_by_the_document(openapi, sidecar, http):
    """openapi-core itself finds that a /v1 request carries none of the declared credentials."""
    response = http.get(f"{sidecar.url}/v1/sources", timeout=20)
    with pytest.raises(SecurityValidationError):
        openapi.validate_request(RequestsOpenAPIRequest(response.request))


def test_look_ups_of_every_source_full_and_minimised(exchanges, sidecar):
    """200: a citizen, full and minimised; an enterprise; a list of enterprises; catalog records."""
    citizen = sidecar.sample("population", "citizen")
    full = exchanges.send("POST", "/v1/sources/population/lookup", "portal-full", **lookup(citizen))
    assert full.status_code == 200
    assert "sex" in full.json()["record"]
    few = exchanges.send(
        "POST", "/v1/sources/population/lookup", "portal-minimal", **lookup(citizen)
    )
    assert few.status_code == 200
    assert "sex" not in few.json()["record"]
    code = sidecar.sample("business", "enterprise")
    representative = sidecar.sample("business", "representative")
    catalog_queries = [
        {"catalog": "ethnic_groups", "code": "01"},
        {"catalog": "provinces", "page": 1, "page_size": 5},
        {"successors_of": "01", "level": "province"},
    ]
    for source, client, query in [
        ("business", "portal-full", {"code": code}),
        ("business", "portal-minimal", {"code": code}),
        ("business", "portal-full", {"legal_representative": representative}),
        *(("catalog", "portal-full", catalog) for catalog in catalog_queries),
    ]:
        answer = exchanges.send("POST", f"/v1/sources/{source}/lookup", client, json=body(query))
        assert answer.status_code == 200, answer.text


def test_a_record_that_breaks_its_schema_is_caught(exchanges, sidecar, openapi):
    """The record of a look-up answer is checked against its source's record schema: a
    citizen whose sex is no value of the register's does not pass."""
    citizen = sidecar.sample("population", "citizen")
    answer = exchanges.send(
        "POST", "/v1/sources/population/lookup", "portal-full", **lookup(citizen)
    )
    forged = answer.json()
    forged["record"]["sex"] = "unknown-to-the-register"
    answer._content = json.dumps(forged).encode()
    with pytest.raises(InvalidData):
        openapi.validate_response(
            RequestsOpenAPIRequest(answer.request), RequestsOpenAPIResponse(answer)
        )


def test_the_other_routes_answer_as_declared(exchanges, sidecar):
    """200: sources, verify, the VNeID authorization and authentication, profile, proof, probes."""
    citizen = sidecar.sample("population", "citizen")
    assert exchanges.send("GET", "/v1/sources", "portal-full").status_code == 200
    claim = body({"national_id": citizen, "full_name": "Nguyễn Văn Không Phải"})
    verified = exchanges.send("POST", "/v1/sources/population/verify", "portal-full", json=claim)
    assert verified.status_code == 200
    with sidecar.client("portal-full") as client:
        login = sidecar.identity_body(client, sidecar.sample("vneid", "vneid_level2"))
    started = exchanges.send(
        "GET",
        "/v1/sources/vneid/authorization",
        "portal-full",
        params={"redirect_uri": "http://127.0.0.1:8000/callback", "level": 1},
    )
    assert started.status_code == 200
    known = exchanges.send("POST", "/v1/sources/vneid/authenticate", "portal-full", json=login)
    assert known.status_code == 200, known.text
    profile = {"national_id": citizen, "purpose": body({})["purpose"]}
    assert exchanges.send("POST", "/v1/profile", "portal-full", json=profile).status_code == 200
    audit_id = verified.json()["audit_id"]
    proof = exchanges.send("GET", f"/v1/audit/{audit_id}/proof", "portal-full")
    assert proof.status_code == 200
    assert exchanges.send("GET", "/healthz").status_code == 200
    assert exchanges.send("GET", "/readyz").status_code == 200
    assert exchanges.send("GET", "/metrics").status_code == 200


def test_refusals_answer_as_declared(exchanges, sidecar):
    """401, 403, 404, 409, 413, 422 and 429: problem details, each as the document says."""
    citizen = sidecar.sample("population", "citizen")
    path = "/v1/sources/population/lookup"
    conflict = body({"national_id": citizen})
    conflict["purpose"]["client"] = "someone-else"
    unknown = "001090" + "999999"
    huge = {"data": b"{" * 2_000_000, "headers": {"Content-Type": "application/json"}}
    cases: list[tuple[int, str, str, str | None, dict[str, Any]]] = [
        (401, "POST", path, None, {"valid_request": False, **lookup(citizen)}),
        (403, "POST", path, "no-rules", lookup(citizen)),
        (404, "POST", path, "portal-full", lookup(unknown)),
        (409, "POST", path, "portal-full", {"json": conflict}),
        (413, "POST", path, "portal-full", {"valid_request": False, **huge}),
        (422, "POST", path, "portal-full", lookup("12")),
        (404, "GET", "/v1/audit/node~4242/proof", "portal-full", {}),
    ]
    for status, method, where, client, options in cases:
        answer = exchanges.send(method, where, client, **options)
        assert answer.status_code == status, (status, answer.text)
    catalog = {"json": body({"catalog": "ethnic_groups", "code": "01"})}
    statuses = [
        exchanges.send("POST", "/v1/sources/catalog/lookup", "slow-lane", **catalog).status_code
        for _ in range(2)
    ]
    assert statuses == [200, 429]


def test_an_upstream_outage_answers_503_as_declared(exchanges, sidecar):
    """503: the population register fails every attempt; the problem validates."""
    sidecar.fault("population", {"kind": "status", "status": 503})
    citizen = sidecar.sample("population", "citizen")
    answer = exchanges.send(
        "POST", "/v1/sources/population/lookup", "portal-full", **lookup(citizen)
    )
    assert answer.status_code == 503
