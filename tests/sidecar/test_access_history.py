"""GET /v1/me/accesses: a citizen's access history through the served sidecar."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from hub import Hub, load_settings
from hub._registry import installed_mocks
from hub.sidecar import create_app, hash_key
from hub.testing import LeakCheck, ServedApp
from tests._helpers import collect_problem, muted, population_source, serve_mock

REDIRECT = "http://127.0.0.1:8000/callback"
KEYS = {
    "cong-dvc": "key-cong-dvc-0123456789abcdef0123456789",
    "xa-gia-vien": "key-xa-gia-vien-0123456789abcdef01234567",
    "cong-an-hoa-lu": "key-cong-an-hoa-lu-0123456789abcdef01234",
    "so-tu-phap": "key-so-tu-phap-0123456789abcdef012345678",
}
AGENCIES = {
    "xa-gia-vien": "UBND xã Gia Viễn",
    "cong-an-hoa-lu": "Công an phường Hoa Lư",
    "so-tu-phap": "Sở Tư pháp tỉnh Ninh Bình",
}
PURPOSE = {"officer": "cb.0042", "procedure": "1.001757", "dossier": "H37-0001"}


@pytest.fixture(scope="module")
def sidecar(tmp_path_factory, population_mock, leaks: LeakCheck) -> Iterator[dict[str, str]]:
    leaks.add_values(KEYS.values())
    with serve_mock("vneid", seed=1, citizens=10_000) as vneid:
        clients: dict[str, Any] = {
            "cong-dvc": {
                "key_sha256": hash_key(KEYS["cong-dvc"]),
                "roles": ["citizen-portal"],
                "title": "Cổng dịch vụ công tỉnh Ninh Bình",
                "sources": {"vneid": {"operations": ["authenticate"], "redirect_uris": [REDIRECT]}},
            },
            **{
                name: {
                    "key_sha256": hash_key(KEYS[name]),
                    "title": title,
                    "sources": {"population": {"operations": ["lookup"]}},
                }
                for name, title in AGENCIES.items()
            },
        }
        settings = load_settings(
            None,
            data_dir=str(tmp_path_factory.mktemp("history")),
            sources={
                "vneid": installed_mocks()["vneid"].hub_settings(vneid.url),
                "population": population_source(population_mock),
            },
            clients=clients,
        )
        with ServedApp(create_app(settings, hub=Hub(settings))) as served:
            yield {"sidecar": served.url, "vneid": vneid.url}


def client(urls: dict[str, str], name: str, **headers: str) -> httpx.Client:
    return httpx.Client(
        base_url=urls["sidecar"],
        headers={"Authorization": f"Bearer {KEYS[name]}", **headers},
        timeout=20,
        event_hooks={"response": [collect_problem]},
    )


def sample(urls: dict[str, str], n: int) -> list[str]:
    answer = httpx.get(f"{urls['vneid']}/_admin/sample", params={"n": n, "kind": "vneid_level2"})
    keys: list[str] = answer.json()["keys"]
    return keys


def log_in(urls: dict[str, str], national_id: str, leaks: LeakCheck) -> dict[str, Any]:
    """The portal starts a VNeID login, the citizen's browser completes it, the portal ends it."""
    with client(urls, "cong-dvc") as portal:
        started = portal.get(
            "/v1/sources/vneid/authorization", params={"redirect_uri": REDIRECT, "level": 2}
        ).json()
        with muted("httpx", "httpcore"):
            back = httpx.get(httpx.URL(started["url"]).copy_add_param("login_hint", national_id))
        code = httpx.URL(back.headers["location"]).params["code"]
        query = {"code": code, "code_verifier": started["code_verifier"],
                 "nonce": started["nonce"], "redirect_uri": REDIRECT, "level": 2}  # fmt: skip
        answer = portal.post(
            "/v1/sources/vneid/authenticate",
            json={"query": query, "purpose": {**PURPOSE, "procedure": "VNEID"}},
        )
    assert answer.status_code == 200, answer.text
    known: dict[str, Any] = answer.json()
    leaks.add_values([started["state"], started["nonce"], started["code_verifier"], code])
    leaks.add_values([known["ticket"]])
    return known


def look_up(urls: dict[str, str], agency: str, national_id: str) -> str:
    with client(urls, agency) as http:
        answer = http.post(
            "/v1/sources/population/lookup",
            json={"query": {"national_id": national_id}, "purpose": PURPOSE},
        )
    assert answer.status_code == 200, answer.text
    audit_id: str = answer.json()["audit_id"]
    return audit_id


def test_three_agencies_her_login_and_nothing_else(sidecar, leaks):
    """Looked up by three agencies: exactly those, her login and this reading; no officer."""
    her, other = sample(sidecar, 2)
    leaks.add_values([her, other])
    login = log_in(sidecar, her, leaks)
    looked = {agency: look_up(sidecar, agency, her) for agency in AGENCIES}
    look_up(sidecar, "so-tu-phap", other)

    with client(sidecar, "cong-dvc", **{"X-Access-Ticket": login["ticket"]}) as portal:
        answer = portal.get("/v1/me/accesses", params={"proofs": "true"})

    assert answer.status_code == 200, answer.text
    history = answer.json()
    assert answer.headers["x-audit-id"] == history["audit_id"]
    shown = {(item["audit_id"], item["agency"], item["operation"]) for item in history["items"]}
    assert shown == {
        (history["audit_id"], "Cổng dịch vụ công tỉnh Ninh Bình", "history"),
        (login["audit_id"], "Cổng dịch vụ công tỉnh Ninh Bình", "authenticate"),
        *((looked[agency], AGENCIES[agency], "lookup") for agency in AGENCIES),
    }
    assert history["total"] == 5
    assert [item["by_you"] for item in history["items"]] == [True, False, False, False, True]
    assert all(item["proof"]["audit_id"] == item["audit_id"] for item in history["items"])
    assert "cb.0042" not in answer.text
    assert her not in answer.text


@pytest.mark.parametrize(
    ("headers", "why"),
    [
        ({}, "ticket is required"),
        ({"X-Access-Ticket": "e30.e30.AAAA"}, "not a valid access-history ticket"),
    ],
)
def test_no_history_without_a_ticket(sidecar, headers, why):
    """401 with a problem body naming why: no ticket, or one the hub did not sign."""
    with client(sidecar, "cong-dvc", **headers) as portal:
        answer = portal.get("/v1/me/accesses")
    assert answer.status_code == 401
    assert answer.headers["content-type"].startswith("application/problem+json")
    assert why in answer.json()["detail"]


def test_a_ticket_replayed_by_another_client_is_refused(sidecar, leaks):
    """An agency holding a citizen's ticket cannot read her history with it."""
    (her,) = sample(sidecar, 1)
    leaks.add_values([her])
    login = log_in(sidecar, her, leaks)
    with client(sidecar, "xa-gia-vien", **{"X-Access-Ticket": login["ticket"]}) as agency:
        answer = agency.get("/v1/me/accesses")
    assert answer.status_code == 401
    assert "issued to another client" in answer.json()["detail"]


def test_since_after_until_is_422(sidecar, leaks):
    """A period that ends before it starts is refused, naming since."""
    (her,) = sample(sidecar, 1)
    leaks.add_values([her])
    login = log_in(sidecar, her, leaks)
    with client(sidecar, "cong-dvc", **{"X-Access-Ticket": login["ticket"]}) as portal:
        answer = portal.get(
            "/v1/me/accesses",
            params={"since": "2026-02-01T00:00:00Z", "until": "2026-01-01T00:00:00Z"},
        )
    assert answer.status_code == 422
    assert answer.json()["errors"][0]["field"] == "since"
