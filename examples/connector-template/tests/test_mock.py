"""The mock's protocol refusals and its admin surface."""

from __future__ import annotations

import httpx

from lienthong_social_insurance_mock import API_KEY

HEADERS = {"X-Api-Key": API_KEY, "X-Ma-Don-Vi": "000.00.00.H37"}


def test_a_wrong_key_or_no_agency_code_is_refused(mock):
    """401 without the key, 400 without the agency code, as problem details."""
    url = f"{mock.url}/api/v1/tra-cuu"
    body = {"maSoBhxh": "7912345678"}
    wrong = httpx.post(url, json=body, headers={**HEADERS, "X-Api-Key": "nope"})
    assert wrong.status_code == 401
    assert wrong.headers["content-type"] == "application/problem+json"
    no_agency = httpx.post(url, json=body, headers={"X-Api-Key": API_KEY})
    assert no_agency.status_code == 400


def test_a_malformed_identifier_is_422_naming_the_field(mock):
    """A short number, or both identifiers, is refused with the field at fault."""
    url = f"{mock.url}/api/v1/tra-cuu"
    short = httpx.post(url, json={"maSoBhxh": "79123"}, headers=HEADERS)
    assert short.status_code == 422
    assert [e["field"] for e in short.json()["errors"]] == ["maSoBhxh"]
    both = httpx.post(
        url, json={"maSoBhxh": "7912345678", "soDinhDanh": "079090001234"}, headers=HEADERS
    )
    assert [e["field"] for e in both.json()["errors"]] == ["body"]


def test_an_invalid_fault_plan_names_the_field(mock):
    """PUT /_admin/faults refuses a bad entry with its path, and keeps the plan it had."""
    url = f"{mock.url}/_admin/faults"
    httpx.put(url, json={"kind": "latency", "ms": 1}).raise_for_status()
    refused = httpx.put(url, json=[{"kind": "status", "status": 200}, {"kind": "nope"}])
    assert refused.status_code == 422
    fields = [e["field"] for e in refused.json()["errors"]]
    assert fields == ["faults[0].status", "faults[1].kind"]
    assert httpx.get(url).json()["faults"] == [{"kind": "latency", "ms": 1}]
    httpx.delete(url).raise_for_status()


def test_counted_faults_fire_then_go_and_spare_the_admin_surface(mock):
    """A 429 with count 1 answers once with Retry-After; /_admin/ is neither counted nor hit."""
    httpx.put(
        f"{mock.url}/_admin/faults",
        json={"kind": "status", "status": 429, "retry_after": 2, "count": 1},
    ).raise_for_status()
    httpx.delete(f"{mock.url}/_admin/stats").raise_for_status()
    assert httpx.get(f"{mock.url}/_admin/sample", params={"n": 1}).status_code == 200
    first = httpx.get(f"{mock.url}/api/v1/trang-thai", headers=HEADERS)
    second = httpx.get(f"{mock.url}/api/v1/trang-thai", headers=HEADERS)
    assert (first.status_code, first.headers["retry-after"]) == (429, "2")
    assert second.status_code == 200
    assert httpx.get(f"{mock.url}/_admin/stats").json()["requests"] == 2
    assert httpx.get(f"{mock.url}/_admin/faults").json()["faults"] == []


def test_an_unknown_sample_kind_is_422_naming_kind(mock):
    """The sample names its kinds when given another."""
    answer = httpx.get(f"{mock.url}/_admin/sample", params={"kind": "licence"})
    assert answer.status_code == 422
    assert answer.json()["errors"][0]["field"] == "kind"
