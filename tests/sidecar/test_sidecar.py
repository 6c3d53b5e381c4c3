"""The sidecar over real HTTP: endpoints, the authentication and authorization matrix,
problem details, request ids, limits."""

from __future__ import annotations

import json

import httpx
import pytest

from hub.audit import merkle
from hub.schemas import SCHEMAS_DIR
from tests.sidecar.conftest import lookup_body

LOOKUP = "/v1/sources/population/lookup"


def assert_problem(response: httpx.Response, status: int, leaks=None) -> dict:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    assert {"type", "title", "status", "detail"} <= body.keys()
    assert body["status"] == status
    assert "Traceback" not in response.text
    if leaks is not None:
        leaks.add(response.text)
    return body


@pytest.fixture
def citizen(population):
    return population.sample(kind="citizen")[0]


def test_a_lookup_answers_with_record_and_audit_id(sidecar, citizen, leaks):
    """A client's look-up returns its record, the audit id in body and header, a request id."""
    with sidecar.client("portal-b") as http:
        response = http.post(LOOKUP, json=lookup_body(citizen))
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["source"] == "population"
    assert body["cached"] is False
    assert body["record"]["national_id"] == citizen
    assert body["audit_id"] == response.headers["x-audit-id"]
    assert len(response.headers["x-request-id"]) >= 16


def test_a_given_request_id_travels_to_the_audit_entry(sidecar, citizen):
    """X-Request-ID is accepted, returned and written to the audit entry."""
    with sidecar.client("portal-b", **{"X-Request-ID": "desk-42.req-0001"}) as http:
        response = http.post(LOOKUP, json=lookup_body(citizen))
    assert response.headers["x-request-id"] == "desk-42.req-0001"
    assert sidecar.entries[-1].request_id == "desk-42.req-0001"


def test_an_unusable_request_id_is_replaced(sidecar, citizen):
    """A request id with spaces or control characters is not trusted; a new one is made."""
    with sidecar.client("portal-b", **{"X-Request-ID": "bad id\twith tab"}) as http:
        response = http.post(LOOKUP, json=lookup_body(citizen))
    assert response.headers["x-request-id"] != "bad id\twith tab"


@pytest.mark.parametrize(
    ("who", "headers"),
    [
        (None, {}),
        (None, {"Authorization": "Bearer not-a-key-anybody-has"}),
        (None, {"Authorization": "Basic dXNlcjpwYXNz"}),
        ("revoked", {}),
    ],
)
def test_no_wrong_or_revoked_key_is_401(sidecar, citizen, who, headers, leaks):
    """Without a valid key the answer is 401 with WWW-Authenticate, and no data."""
    with sidecar.client(who, **headers) as http:
        response = http.post(LOOKUP, json=lookup_body(citizen))
    assert_problem(response, 401, leaks)
    assert response.headers["www-authenticate"] == "Bearer"
    assert citizen not in response.text


def test_an_allowed_source_with_a_forbidden_operation_is_403_and_audited(sidecar, citizen, leaks):
    """portal-b may look up but not verify: 403, with an audit id."""
    with sidecar.client("portal-b") as http:
        response = http.post(
            "/v1/sources/population/verify",
            json={
                **lookup_body(citizen),
                "query": {"national_id": citizen, "full_name": "Lê Văn A"},
            },
        )
    body = assert_problem(response, 403, leaks)
    assert body["audit_id"]
    assert sidecar.entries[-1].outcome == "denied"


def test_a_source_outside_the_rules_is_403(sidecar, citizen, leaks):
    """A configured source the client has no rule for is forbidden (default deny)."""
    with sidecar.client("no-rules") as http:
        assert_problem(http.post(LOOKUP, json=lookup_body(citizen)), 403, leaks)


def test_an_unknown_source_is_404(sidecar, citizen, leaks):
    """A source that is not configured is not found, and named as such."""
    with sidecar.client("portal-a") as http:
        body = assert_problem(
            http.post("/v1/sources/nosuch/lookup", json=lookup_body(citizen)), 404, leaks
        )
    assert body["type"].endswith("unknown_source")


def test_a_forbidden_field_is_silently_removed(sidecar, citizen):
    """portal-a may see three fields; asking for more gives those three at most."""
    with sidecar.client("portal-a") as http:
        response = http.post(LOOKUP, json=lookup_body(citizen, fields=["national_id", "hometown"]))
    assert response.status_code == 200
    assert set(response.json()["record"]) == {"national_id"}
    assert sidecar.entries[-1].fields == ["national_id"]
    with sidecar.client("portal-a") as http:
        everything = http.post(LOOKUP, json=lookup_body(citizen)).json()["record"]
    assert set(everything) == {"national_id", "full_name", "date_of_birth"}


def test_the_client_comes_from_the_key_never_from_the_body(sidecar, citizen, leaks):
    """A purpose naming another client is a 409; naming itself is fine."""
    body = lookup_body(citizen)
    body["purpose"]["client"] = "portal-a"
    with sidecar.client("portal-b") as http:
        assert_problem(http.post(LOOKUP, json=body), 409, leaks)
        body["purpose"]["client"] = "portal-b"
        assert http.post(LOOKUP, json=body).status_code == 200
    assert sidecar.entries[-1].client == "portal-b"


def test_proofs_are_for_inspectors_only_and_verify(sidecar, citizen, leaks):
    """An inspector gets an RFC 6962 inclusion proof that verifies; a portal gets 403."""
    with sidecar.client("portal-b") as http:
        audit_id = http.post(LOOKUP, json=lookup_body(citizen)).json()["audit_id"]
        assert_problem(http.get(f"/v1/audit/{audit_id}/proof"), 403, leaks)
    with sidecar.client("inspector") as http:
        proof = http.get(f"/v1/audit/{audit_id}/proof").json()
    assert proof["audit_id"] == audit_id
    assert merkle.verify_inclusion(
        bytes.fromhex(proof["leaf_hash"]),
        proof["index"],
        proof["tree_size"],
        [bytes.fromhex(h) for h in proof["proof"]],
        bytes.fromhex(proof["root"]),
    )


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"query": {"national_id": "123"}}, "query.national_id"),
        ({"query": {"national_id": "037090001234", "shoe_size": 42}}, "query.shoe_size"),
        ({"purpose": {"officer": "", "procedure": "1.0", "dossier": "d"}}, "purpose.officer"),
        ({"unexpected": True}, "unexpected"),
    ],
)
def test_invalid_input_is_422_naming_the_field(sidecar, citizen, body, field, leaks, population):
    """Each invalid part of a request is named in `errors`, and nothing reaches the mock."""
    payload = {**lookup_body(citizen), **body}
    before = population.requests()
    with sidecar.client("portal-b") as http:
        problem = assert_problem(http.post(LOOKUP, json=payload), 422, leaks)
    assert field in [error["field"] for error in problem["errors"]]
    assert population.requests() == before


def test_malformed_json_is_422_and_deep_nesting_is_refused(sidecar, leaks):
    """Garbage and 100,000-deep nesting are refused without a traceback."""
    with sidecar.client("portal-b", **{"Content-Type": "application/json"}) as http:
        assert_problem(http.post(LOOKUP, content=b"{not json"), 422, leaks)
        assert_problem(http.post(LOOKUP, content=b"[" * 30_000 + b"]" * 30_000), 422, leaks)


def test_wrong_content_type_is_415(sidecar, citizen, leaks):
    """A form body is not JSON."""
    with sidecar.client("portal-b") as http:
        response = http.post(
            LOOKUP, content=json.dumps(lookup_body(citizen)), headers={"Content-Type": "text/plain"}
        )
    assert_problem(response, 415, leaks)


def test_a_body_too_large_is_413(sidecar, leaks):
    """Bodies over the limit are refused before they are read (declared or streamed)."""
    with sidecar.client("portal-b", **{"Content-Type": "application/json"}) as http:
        assert_problem(http.post(LOOKUP, content=b" " * 200_000), 413, leaks)

        def chunks():
            for _ in range(100):
                yield b" " * 4096

        assert_problem(http.post(LOOKUP, content=chunks()), 413, leaks)


def test_not_found_is_404_with_audit_id(sidecar, leaks):
    """A citizen the register does not have is a 404 problem with its audit id."""
    with sidecar.client("portal-b") as http:
        body = assert_problem(http.post(LOOKUP, json=lookup_body("001099999999")), 404, leaks)
    assert body["audit_id"]


def test_unknown_routes_are_problems_too(sidecar, leaks):
    """An unknown path is a 404 problem, not an HTML page."""
    with sidecar.client("portal-b") as http:
        assert_problem(http.get("/v2/everything"), 404, leaks)


@pytest.mark.parametrize(
    ("plan", "status"),
    [
        ({"kind": "malformed"}, 502),
        ({"kind": "status", "status": 503}, 503),
        ({"kind": "timeout"}, 504),
    ],
)
def test_upstream_failures_map_to_502_503_504(sidecar, citizen, population, plan, status, leaks):
    """A bad answer is 502, an unavailable upstream 503, no answer in time 504."""
    population.fault(plan)
    with sidecar.client("portal-b") as http:
        body = assert_problem(http.post(LOOKUP, json=lookup_body(citizen)), status, leaks)
    assert body["audit_id"]


@pytest.mark.parametrize(
    "plan",
    [{"kind": "status", "status": 400}, {"kind": "soap_fault", "fault": "YeuCauKhongHopLe"}],
    ids=["400", "YeuCauKhongHopLe"],
)
def test_a_query_the_upstream_refuses_is_an_invalid_query_problem(
    sidecar, citizen, population, plan, leaks
):
    """The register's refusal is a 422 of the invalid_query type, audited as invalid."""
    population.fault(plan)
    with sidecar.client("portal-b") as http:
        body = assert_problem(http.post(LOOKUP, json=lookup_body(citizen)), 422, leaks)
    assert body["type"] == "urn:lienthong:problem:invalid_query"
    assert body["audit_id"]
    assert (sidecar.entries[-1].outcome, sidecar.entries[-1].error) == ("invalid", "invalid_query")


def test_rate_limit_is_429_with_retry_after(sidecar, citizen, leaks):
    """A client over its token bucket gets 429 and when to come back."""
    with sidecar.client("slow-lane") as http:
        statuses = [http.post(LOOKUP, json=lookup_body(citizen)) for _ in range(4)]
    assert [r.status_code for r in statuses[:2]] == [200, 200]
    limited = statuses[-1]
    assert_problem(limited, 429, leaks)
    assert int(limited.headers["retry-after"]) >= 1


def test_sources_lists_what_this_client_may_use(sidecar):
    """GET /v1/sources shows the client's sources, allowed operations and health."""
    with sidecar.client("portal-b") as http:
        listed = http.get("/v1/sources").json()["sources"]
    assert [(s["name"], s["operations"], s["health"]["status"]) for s in listed] == [
        ("population", ["lookup"], "up")
    ]


def test_health_readiness_and_metrics(sidecar, citizen):
    """/healthz is alive, /readyz reports the audit store and upstreams, /metrics counts calls."""
    with httpx.Client(base_url=sidecar.url) as http:
        assert http.get("/healthz").json() == {"status": "alive"}
        ready = http.get("/readyz")
        assert ready.status_code == 200
        assert ready.json()["audit"]["status"] == "up"
        assert ready.json()["sources"]["population"]["status"] == "up"
        text = http.get("/metrics").text
    assert 'hub_calls_total{operation="lookup",outcome="ok",source="population"}' in text
    assert 'hub_breaker_state{source="population"} 0.0' in text
    assert citizen not in text


def test_profile_gathers_the_sources_the_client_may_use(sidecar, citizen):
    """POST /v1/profile answers with one part per allowed source."""
    body = {"national_id": citizen, "purpose": lookup_body(citizen)["purpose"]}
    with sidecar.client("portal-b") as http:
        response = http.post("/v1/profile", json=body)
    assert response.status_code == 200, response.text
    answer = response.json()
    assert list(answer["parts"]) == ["population"]
    assert answer["parts"]["population"]["record"]["national_id"] == citizen


def test_the_checked_in_openapi_matches_the_app(sidecar):
    """src/hub/schemas/sidecar.openapi.json is the app's own document.

    Regenerate it with `python -m hub.sidecar.openapi`.
    """
    served = httpx.get(f"{sidecar.url}/openapi.json").json()
    on_disk = json.loads((SCHEMAS_DIR / "sidecar.openapi.json").read_text(encoding="utf-8"))
    assert served == on_disk
