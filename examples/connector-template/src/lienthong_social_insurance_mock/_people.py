"""The people of the hub's synthetic world, as the population mock knows them.

The social-insurance register only insures people the population database knows, and
its answers must agree with it: the same names, dates of birth and deaths. So this
mock runs the population mock of the same seed and size in its own process (found,
like every mock, through the ``hub.mocks`` entry point) and reads it only through
its public surfaces: ``GET /_admin/sample`` for national ids, and the SOAP operation
``TraCuuCongDan`` (``population/population.wsdl`` in ``hub.schemas``) for one person.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib.metadata import entry_points
from typing import Any

import httpx
import zeep
import zeep.exceptions
from hub.schemas import schema_path
from zeep.helpers import serialize_object
from zeep.proxy import AsyncServiceProxy
from zeep.transports import AsyncTransport

__all__ = ["MAX_SAMPLE", "Person", "Population"]

#: The most national ids the population mock's ``/_admin/sample`` gives at once.
MAX_SAMPLE = 1000

_NAMESPACE = "urn:lienthong:dancu:1"
# The in-process population mock answers at this made-up address; nothing listens there.
_BASE_URL = "http://population.invalid"


@dataclass(frozen=True, slots=True)
class Person:
    """What the population register says of one person, as far as this mock needs.

    Args:
        national_id: The 12-digit number.
        full_name: As the register wrote it (sometimes in NFD).
        date_of_birth: ``YYYYMMDD``, or ``YYYYMM`` / ``YYYY`` when only that is known.
        sex: 1 male, 2 female.
        died: The date of death in the same form, or None.
        province: The province code of the current residence (units since 2025).
        ward: The ward code of the current residence.
    """

    national_id: str
    full_name: str
    date_of_birth: str
    sex: int
    died: str | None
    province: int | None
    ward: int | None

    def __repr__(self) -> str:  # synthetic, but shaped like personal data all the same
        return "Person(•••)"


class Population:
    """The population mock of one world, run in-process and asked over its protocol.

    Args:
        seed: The world's seed.
        citizens: How many citizens the world holds.

    Raises:
        RuntimeError: the population mock is not installed.
    """

    def __init__(self, seed: int, citizens: int) -> None:
        found = entry_points(group="hub.mocks", name="population")
        if not found:
            raise RuntimeError("the social-insurance mock needs the hub's population mock")
        module = next(iter(found)).load()
        app = module.create_app(seed=seed, citizens=citizens)
        self._http = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url=_BASE_URL, timeout=10.0
        )
        client = zeep.AsyncClient(
            str(schema_path("population/population.wsdl")),
            # The WSDL and its XSD are read from files; the WSDL client fetches nothing.
            transport=AsyncTransport(client=self._http, wsdl_client=httpx.Client()),
            settings=zeep.Settings(strict=True, forbid_dtd=True, forbid_entities=True),
        )
        self._service = AsyncServiceProxy(
            client,
            client.wsdl.bindings[f"{{{_NAMESPACE}}}DanCuBinding"],
            address=module.hub_settings(_BASE_URL)["url"],
        )

    async def national_ids(self, n: int) -> list[str]:
        """The first ``n`` national ids of the world, in its seeded order (at most 1,000)."""
        response = await self._http.get("/_admin/sample", params={"kind": "citizen", "n": n})
        response.raise_for_status()
        keys: list[str] = response.json()["keys"]
        return keys

    async def person(self, national_id: str) -> Person | None:
        """One person, or None when the register does not know the number."""
        try:
            answer = await self._service.TraCuuCongDan(
                MaDonVi="BHXH.MOCK", MaYeuCau="bhxh-mock", SoDinhDanh=national_id
            )
        except zeep.exceptions.Fault as fault:
            if fault.detail is not None and fault.detail[0].tag.endswith("}KhongTimThay"):
                return None
            raise
        data: dict[str, Any] = serialize_object(answer.CongDan, dict)
        residence = data.get("NoiOHienNay") or {}
        return Person(
            national_id=data["SoDinhDanh"],
            full_name=data["HoVaTen"],
            date_of_birth=data["NgayThangNamSinh"],
            sex=int(data["GioiTinh"]),
            died=data.get("NgayMat") if data["TrangThai"] == "DaMat" else None,
            province=_code(residence.get("MaTinh")),
            ward=_code(residence.get("MaXa")),
        )


def _code(value: str | None) -> int | None:
    return int(value) if value else None
