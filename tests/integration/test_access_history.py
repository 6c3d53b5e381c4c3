"""A citizen's access history through the library: tickets from VNeID logins, and pages.

The VNeID and population mocks share a world, so the citizen who logs in is one the
population register finds; logins are driven headless as in test_vneid.py.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from hub import Hub, load_settings
from hub._config import CitizenSettings
from hub._history import TICKET_KEY_LABEL, Tickets
from hub._registry import installed_mocks
from hub.errors import InvalidQuery, Unauthenticated
from hub.testing import LeakCheck, ServedApp
from tests._helpers import FAST, muted, population_source, serve_mock

SOURCE = "vneid"
REDIRECT = "http://127.0.0.1:8000/callback"
PORTAL = "cong-dvc"
PURPOSE = {"client": PORTAL, "officer": "citizen", "procedure": "VNEID", "dossier": "LOGIN"}
AGENCIES = {
    "xa-gia-vien": "UBND xã Gia Viễn",
    "cong-an-hoa-lu": "Công an phường Hoa Lư",
    "so-tu-phap": "Sở Tư pháp tỉnh Ninh Bình",
}


@pytest.fixture(scope="module")
def vneid_mock() -> Iterator[ServedApp]:
    with serve_mock(SOURCE, seed=1, citizens=10_000) as served:
        yield served


@pytest.fixture(scope="module")
def browser() -> Iterator[httpx.Client]:
    with httpx.Client(follow_redirects=False, timeout=10) as client:
        yield client


def settings(tmp_path: Path, vneid: ServedApp, population: ServedApp, **extra: Any) -> Any:
    vneid_rule = {"operations": ["authenticate"], "redirect_uris": [REDIRECT]}
    clients: dict[str, Any] = {
        PORTAL: {"roles": ["citizen-portal"], "title": "Cổng dịch vụ công tỉnh",
                 "sources": {SOURCE: vneid_rule}},
        "plain-portal": {"sources": {SOURCE: vneid_rule}},
        **{name: {"title": title, "sources": {"population": {"operations": ["lookup"]}}}
           for name, title in AGENCIES.items()},
    }  # fmt: skip
    return load_settings(
        None,
        data_dir=str(tmp_path),
        sources={
            SOURCE: {**installed_mocks()[SOURCE].hub_settings(vneid.url), **FAST},
            "population": population_source(population),
        },
        clients=clients,
        procedures={"1.001757": "Đăng ký thường trú"},
        **extra,
    )


def sample(browser: httpx.Client, mock: ServedApp, n: int = 1) -> list[str]:
    answer = browser.get(f"{mock.url}/_admin/sample", params={"n": n, "kind": "vneid_level2"})
    keys: list[str] = answer.json()["keys"]
    return keys


async def log_in(
    hub: Hub,
    browser: httpx.Client,
    leaks: LeakCheck,
    national_id: str,
    *,
    client: str = PORTAL,
    level: int = 2,
) -> Any:
    """A headless VNeID login of ``national_id`` at ``client``; the hub's answer."""
    request = await hub.authorization_request(
        SOURCE, redirect_uri=REDIRECT, level=level, client=client
    )
    url = httpx.URL(request.url).copy_add_param("login_hint", national_id)
    with muted("httpx", "httpcore"):
        response = await asyncio.to_thread(browser.get, url)
    code = httpx.URL(response.headers["location"]).params["code"]
    leaks.add_values([request.state, request.nonce, request.code_verifier, code])
    credential = {"code": code, "code_verifier": request.code_verifier, "nonce": request.nonce,
                  "redirect_uri": REDIRECT, "level": level}  # fmt: skip
    result = await hub.authenticate(SOURCE, credential, purpose={**PURPOSE, "client": client})
    if result.ticket:
        leaks.add_values([result.ticket])
    return result


async def look_up(hub: Hub, agency: str, national_id: str, dossier: str = "H37-0001") -> str:
    purpose = {"client": agency, "officer": "cb.0042", "procedure": "1.001757", "dossier": dossier}
    found = await hub.lookup(
        "population", {"national_id": national_id}, purpose=purpose,
        fields=["national_id", "full_name"],
    )  # fmt: skip
    assert found.audit_id is not None
    return found.audit_id


@pytest.fixture
async def hub(tmp_path, vneid_mock, population_mock):
    async with Hub(settings(tmp_path, vneid_mock, population_mock)) as h:
        yield h


async def test_a_citizen_portal_login_gives_a_ticket_for_its_own_client(
    hub, browser, vneid_mock, leaks
):
    """A level-2 login at a citizen-portal client carries a ticket; elsewhere none."""
    (national_id,) = sample(browser, vneid_mock)
    leaks.add_values([national_id])
    result = await log_in(hub, browser, leaks, national_id)
    assert result.ticket
    assert result.ticket not in repr(result)
    plain = await log_in(hub, browser, leaks, national_id, client="plain-portal")
    assert plain.ticket is None
    low = await log_in(hub, browser, leaks, national_id, level=1)
    assert low.ticket is None


async def test_the_history_shows_the_three_agencies_and_her_login_only(
    hub, browser, vneid_mock, leaks
):
    """Her history: the reading, three look-ups, her login; nobody else's accesses."""
    her, other = sample(browser, vneid_mock, 2)
    leaks.add_values([her, other])
    login = await log_in(hub, browser, leaks, her)
    looked = [await look_up(hub, agency, her) for agency in AGENCIES]
    await look_up(hub, "xa-gia-vien", other, dossier="H37-0002")

    history = await hub.access_history(login.ticket, client=PORTAL)

    assert history.total == 5
    reading, *lookups, logged_in = history.items
    assert reading.audit_id == history.audit_id
    assert (reading.operation, reading.by_you) == ("history", True)
    assert [item.audit_id for item in lookups] == looked[::-1]
    assert [item.agency for item in lookups] == list(AGENCIES.values())[::-1]
    for item in lookups:
        assert (item.by_you, item.source, item.operation) == (False, "population", "lookup")
        assert (item.procedure, item.procedure_name) == ("1.001757", "Đăng ký thường trú")
        assert [(f.name, f.label) for f in item.fields] == [
            ("full_name", "Họ, chữ đệm và tên"), ("national_id", "Số định danh cá nhân")
        ]  # fmt: skip
        assert "cb.0042" not in item.model_dump_json()
    assert (logged_in.audit_id, logged_in.by_you) == (login.audit_id, True)
    assert logged_in.agency == "Cổng dịch vụ công tỉnh"


async def test_pages_run_newest_first_and_proofs_check(hub, browser, vneid_mock, leaks):
    """Two-item pages cover the history in order; each proof leads to its checkpoint."""
    (her,) = sample(browser, vneid_mock)
    leaks.add_values([her])
    login = await log_in(hub, browser, leaks, her)
    for agency in AGENCIES:
        await look_up(hub, agency, her)
    first = await hub.access_history(login.ticket, client=PORTAL, page_size=2, proofs=True)
    second = await hub.access_history(login.ticket, client=PORTAL, page=2, page_size=2)
    # The second reading is newest: it pushes every older item one place down.
    assert first.total == 5
    assert second.total == 6
    assert second.items[0].audit_id == first.items[1].audit_id
    for item in first.items:
        assert item.proof is not None
        assert item.proof.verify()
        assert item.proof.audit_id == item.audit_id
    assert all(item.proof is None for item in second.items)


async def test_the_period_bounds_the_history(hub, browser, vneid_mock, leaks):
    """Bounds keep the accesses within; a since after until is refused naming since."""
    (her,) = sample(browser, vneid_mock)
    leaks.add_values([her])
    login = await log_in(hub, browser, leaks, her)
    later = dt.datetime.now(dt.UTC) + dt.timedelta(days=1)
    empty = await hub.access_history(login.ticket, client=PORTAL, since=later)
    assert (empty.total, empty.items) == (0, [])
    with pytest.raises(InvalidQuery) as refused:
        await hub.access_history(
            login.ticket, client=PORTAL, since=later, until=later - dt.timedelta(hours=1)
        )
    assert refused.value.errors[0].field == "since"


async def test_bad_tickets_are_refused_naming_why(hub, browser, vneid_mock, leaks):
    """Missing, forged, expired, another client's or low-level tickets read nothing."""
    (her,) = sample(browser, vneid_mock)
    leaks.add_values([her])
    login = await log_in(hub, browser, leaks, her)
    key = hub.audit.derived_key(TICKET_KEY_LABEL)
    subject = hub.audit.pseudonymise(her)
    expired = Tickets(key, CitizenSettings(ticket_seconds=0.001)).issue(PORTAL, subject, 2)
    forged = Tickets(b"\x01" * 32, CitizenSettings()).issue(PORTAL, subject, 2)
    low = Tickets(key, CitizenSettings(level=1)).issue(PORTAL, subject, 1)
    cases = {
        "": "required",
        "not-a-ticket": "not a valid",
        forged: "not a valid",
        expired: "expired",
        low: "level LoA2",
    }
    for ticket, why in cases.items():
        with pytest.raises(Unauthenticated, match=why):
            await hub.access_history(ticket, client=PORTAL)
    with pytest.raises(Unauthenticated, match="another client"):
        await hub.access_history(login.ticket, client="xa-gia-vien")
    history = await hub.access_history(login.ticket, client=PORTAL)
    # Refusals read nothing, and so write nothing: her login and this one reading.
    assert history.total == 2
