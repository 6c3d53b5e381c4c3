"""Fixtures for the mocks' own tests: worlds, a served population mock, SOAP requests."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from lxml import etree

from hub._serving import ServedApp
from hub.mocks._world import Citizen, World
from hub.mocks.population import create_app
from hub.schemas import schema_path
from tests._helpers import muted

NS = "urn:lienthong:dancu:1"
SOAP_NS = "http://schemas.xmlsoap.org/soap/envelope/"


@pytest.fixture(scope="session")
def world() -> World:
    """The default world: seed 1, 10,000 citizens."""
    return World(seed=1, citizens=10_000)


@pytest.fixture(scope="session")
def citizens(world: World) -> list[Citizen]:
    """The first 4,000 citizens of the default world, for proportions and consistency."""
    return [world.citizen(i) for i in range(4_000)]


@pytest.fixture(scope="session")
def xsd() -> etree.XMLSchema:
    """The population schema, as a client would validate with it."""
    return etree.XMLSchema(etree.parse(str(schema_path("population/population.xsd"))))


@pytest.fixture(autouse=True)
def _quiet_clients() -> Iterator[None]:
    """These tests' own clients log ids, codes and keys in URLs and envelopes; not the hub's."""
    with muted("httpx", "httpcore", "zeep"):
        yield


class Mock:
    """A served population mock, with its admin surface and a SOAP helper."""

    def __init__(self, served: ServedApp) -> None:
        self.url = served.url
        self.http = httpx.Client(base_url=served.url, timeout=10)

    def admin(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        return self.http.request(method, f"/_admin/{path}", **kwargs)

    def fault(self, plan: object) -> None:
        self.admin("PUT", "faults", json=plan).raise_for_status()

    def requests(self) -> int:
        count: int = self.admin("GET", "stats").json()["requests"]
        return count

    def sample(self, kind: str = "citizen", n: int = 1) -> list[str]:
        keys: list[str] = self.admin("GET", "sample", params={"n": n, "kind": kind}).json()["keys"]
        return keys

    def soap(
        self, operation: str, timeout: float = 10, client: httpx.Client | None = None, **fields: str
    ) -> httpx.Response:
        return (client or self.http).post(
            "/dancu",
            content=soap_request(operation, **fields),
            headers=soap_headers(operation),
            timeout=timeout,
        )


def soap_request(operation: str, **fields: str) -> bytes:
    """A SOAP 1.1 request for ``operation`` with MaDonVi, MaYeuCau and ``fields``, in order."""
    envelope = etree.Element(f"{{{SOAP_NS}}}Envelope", nsmap={"soap": SOAP_NS, "t": NS})
    body = etree.SubElement(envelope, f"{{{SOAP_NS}}}Body")
    element = etree.SubElement(body, f"{{{NS}}}{operation}")
    for name, value in {"MaDonVi": "000.00.00.H37", "MaYeuCau": "req-1", **fields}.items():
        etree.SubElement(element, f"{{{NS}}}{name}").text = value
    return etree.tostring(envelope, xml_declaration=True, encoding="utf-8")


def soap_headers(operation: str) -> dict[str, str]:
    return {"Content-Type": "text/xml; charset=utf-8", "SOAPAction": f'"{NS}#{operation}"'}


def answer(response: httpx.Response) -> etree._Element:
    """The element inside the SOAP Body of an answer (a result or a Fault)."""
    root = etree.fromstring(response.content)
    assert root.tag == f"{{{SOAP_NS}}}Envelope"
    (element,) = root.find(f"{{{SOAP_NS}}}Body")
    return element


def fault_detail(response: httpx.Response) -> etree._Element:
    """The declared detail element of a SOAP fault answer."""
    fault = answer(response)
    assert fault.tag == f"{{{SOAP_NS}}}Fault"
    (detail,) = fault.find("detail")
    return detail


@pytest.fixture(scope="module")
def served() -> Iterator[ServedApp]:
    """A population mock of 2,000 citizens, served for one test module."""
    with ServedApp(create_app(seed=3, citizens=2_000), lifespan="off") as app:
        yield app


@pytest.fixture
def mock(served: ServedApp) -> Iterator[Mock]:
    """The served mock, with no fault plan before or after the test."""
    client = Mock(served)
    client.admin("DELETE", "faults")
    yield client
    client.admin("DELETE", "faults")
    client.http.close()


def tag(name: str) -> str:
    return f"{{{NS}}}{name}"
