"""Translate between the hub and the population database's SOAP service.

The WSDL and XSD are loaded from the bundled src/hub/schemas/, never fetched from the
upstream; zeep parses answers with DTDs, entities and external references forbidden.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, ClassVar

import httpx
import zeep
import zeep.exceptions
from pydantic import ValidationError, model_validator
from zeep.helpers import serialize_object
from zeep.proxy import AsyncServiceProxy
from zeep.transports import AsyncTransport

from hub.connector import (
    Call,
    Connector,
    Health,
    HealthStatus,
    Operation,
    Query,
    SourceSettings,
    check_status,
)
from hub.connectors.population._codec import LookupCodec
from hub.errors import HubError, NotFound, UpstreamError, UpstreamRejected
from hub.identifiers import LegacyId, NationalId, Sex, check_national_id
from hub.records import (
    Address,
    CatalogEntry,
    Citizen,
    LifeStatus,
    Match,
    PartialDate,
    PersonRef,
    Verification,
)
from hub.schemas import schema_path
from hub.text import PersonName, normalize

__all__ = ["CitizenClaim", "CitizenQuery", "PopulationConnector", "PopulationSettings"]

SOURCE = "population"
NAMESPACE = "urn:lienthong:dancu:1"
# HTTP statuses with a meaning of their own: retry later, or the request was refused.
_HTTP_TYPED = frozenset({400, 422, 429, 502, 503, 504})


class PopulationSettings(SourceSettings):
    """``[sources.population]``: the service endpoint and the agency's code."""

    #: MaDonVi: the code of the agency on whose behalf the hub asks.
    agency_code: str = "000.00.00.H00"


class CitizenQuery(Query):
    """A look-up by national id; or by legacy card number with name and date of birth."""

    national_id: NationalId | None = None
    legacy_id: LegacyId | None = None
    full_name: PersonName | None = None
    date_of_birth: PartialDate | None = None

    @model_validator(mode="after")
    def _one_way_to_ask(self) -> CitizenQuery:
        if self.national_id is not None:
            if self.legacy_id or self.full_name or self.date_of_birth:
                raise ValueError(
                    "give national_id alone, or legacy_id with full_name and date_of_birth"
                )
            return self
        missing = [
            name
            for name in ("legacy_id", "full_name", "date_of_birth")
            if getattr(self, name) is None
        ]
        if len(missing) == 3:
            raise ValueError("give national_id, or legacy_id with full_name and date_of_birth")
        if missing:
            raise ValueError(f"a look-up by legacy_id also needs {' and '.join(missing)}")
        return self


class CitizenClaim(Query):
    """Facts to check against the register: the national id and at least one more."""

    national_id: NationalId
    full_name: PersonName | None = None
    date_of_birth: PartialDate | None = None
    sex: Sex | None = None
    legacy_id: LegacyId | None = None

    @model_validator(mode="after")
    def _consistent(self) -> CitizenClaim:
        if not (self.full_name or self.date_of_birth or self.sex or self.legacy_id):
            raise ValueError("give at least one fact to verify besides national_id")
        # The number encodes sex and birth year; a claim that contradicts it is refused
        # here rather than sent to the register.
        check_national_id(
            self.national_id,
            sex=self.sex,
            birth_year=self.date_of_birth.year if self.date_of_birth else None,
        )
        return self


# The register's field names in authentication answers, and ours.
_CLAIM_FIELDS = {
    "HoVaTen": "full_name",
    "NgayThangNamSinh": "date_of_birth",
    "GioiTinh": "sex",
    "SoCMND": "legacy_id",
}
_MATCHES = {"Khop": Match.MATCH, "KhongKhop": Match.MISMATCH, "KhongXacDinh": Match.UNKNOWN}
_SEX_CODES = {Sex.MALE: 1, Sex.FEMALE: 2}
_SEXES = {code: sex for sex, code in _SEX_CODES.items()}


class _Transport(AsyncTransport):
    """zeep's async transport on the hub's client, with the HTTP status checked first.

    zeep turns a 429 or 503 into a TransportError without its headers; the hub
    needs Retry-After, so HTTP-level statuses are raised as typed errors here.
    """

    def __init__(self, http: httpx.AsyncClient) -> None:
        headers = http.headers.copy()
        super().__init__(client=http, wsdl_client=httpx.Client())
        http.headers = headers  # zeep replaces the client's headers with its own

    async def post(self, address: str, message: bytes, headers: dict[str, str]) -> httpx.Response:
        response = await self.client.post(address, content=message, headers=headers)
        status = response.status_code
        # SOAP answers with 200, or 500 carrying a fault; anything else is HTTP's word.
        if status not in (200, 500):
            if status in _HTTP_TYPED:
                check_status(response, source=SOURCE)
            raise UpstreamError(f"the register answered HTTP {status}", source=SOURCE)
        return response

    def close_wsdl_client(self) -> None:
        self.wsdl_client.close()


class PopulationConnector(Connector[PopulationSettings, CitizenQuery]):
    """National population database: look-up of the 20 open fields, and verification."""

    name: ClassVar[str] = SOURCE
    title: ClassVar[str] = "National population database"
    operations = frozenset({Operation.LOOKUP, Operation.VERIFY})
    Settings = PopulationSettings
    Query = CitizenQuery
    Record = Citizen
    Claim = CitizenClaim

    def __init__(self, settings: PopulationSettings, http: httpx.AsyncClient) -> None:
        super().__init__(settings, http)
        self._agency = settings.agency_code
        self._transport = _Transport(http)
        client = zeep.AsyncClient(
            str(schema_path("population/population.wsdl")),
            transport=self._transport,
            settings=zeep.Settings(
                strict=True,
                xml_huge_tree=False,
                forbid_dtd=True,
                forbid_entities=True,
                forbid_external=True,
            ),
        )
        self._client = client
        # AsyncClient.create_service returns the synchronous proxy; the async one is built
        # directly.
        self._service = AsyncServiceProxy(
            client, client.wsdl.bindings[f"{{{NAMESPACE}}}DanCuBinding"], address=settings.url
        )
        self._codec = LookupCodec(client, self._service, self._agency)

    @classmethod
    def person_query(cls, national_id: str) -> dict[str, Any]:
        return {"national_id": national_id}

    async def lookup(self, query: CitizenQuery, call: Call) -> Citizen:
        params: dict[str, Any] = {"MaDonVi": self._agency, "MaYeuCau": call.request_id}
        if query.national_id is not None:
            params["SoDinhDanh"] = query.national_id
        else:
            assert query.full_name is not None
            assert query.date_of_birth is not None
            params.update(
                SoCMND=query.legacy_id,
                HoVaTen=query.full_name,
                NgayThangNamSinh=query.date_of_birth.compact(),
            )
        answer = await self._look_up(params)
        try:
            if isinstance(answer, dict):
                return _citizen(answer["CongDan"])
            return _citizen(serialize_object(answer.CongDan, dict))
        except (ValidationError, ValueError, KeyError, TypeError, AttributeError):
            raise UpstreamError(
                "the register answered with an invalid citizen record", source=SOURCE
            ) from None

    async def verify(self, claim: CitizenClaim, call: Call) -> Verification:
        params: dict[str, Any] = {
            "MaDonVi": self._agency,
            "MaYeuCau": call.request_id,
            "SoDinhDanh": claim.national_id,
            "HoVaTen": claim.full_name,
            "NgayThangNamSinh": claim.date_of_birth.compact() if claim.date_of_birth else None,
            "GioiTinh": _SEX_CODES[claim.sex] if claim.sex else None,
            "SoCMND": claim.legacy_id,
        }
        answer = await self._invoke("XacThucCongDan", params)
        asked = {ours for ours in _CLAIM_FIELDS.values() if getattr(claim, ours) is not None}
        matches: dict[str, Match] = {}
        for item in answer.TruongSoKhop:
            ours = _CLAIM_FIELDS.get(item.TenTruong)
            result = _MATCHES.get(item.KetQua)
            if ours is None or result is None:
                raise UpstreamError(
                    "the register answered with an unknown field or result", source=SOURCE
                )
            matches[ours] = result
        if not asked <= matches.keys():
            raise UpstreamError("the register did not answer for every field asked", source=SOURCE)
        return Verification(matches={name: matches[name] for name in sorted(asked)})

    async def health(self) -> Health:
        response = await self.http.get(self.settings.url, params={"wsdl": ""})
        if response.status_code == 200:
            return Health(status=HealthStatus.UP)
        return Health(status=HealthStatus.DOWN, detail=f"status {response.status_code}")

    async def aclose(self) -> None:
        self._transport.close_wsdl_client()

    async def _look_up(self, params: dict[str, Any]) -> Any:
        """TraCuuCongDan through the compiled codec, or zeep where the codec steps aside."""
        message = self._codec.request(params)
        if message is None:
            return await self._invoke("TraCuuCongDan", params)
        response = await self._transport.post(self._codec.address, message, self._codec.headers)
        if response.status_code == 200:
            answer = self._codec.answer(response.content, response.headers.get("Content-Type", ""))
            if answer is not None:
                return answer
        # A fault or an answer the codec does not expect: zeep's reading decides.
        with _zeep_errors():
            return self._codec.reply(self._transport.new_response(response))

    async def _invoke(self, operation: str, params: dict[str, Any]) -> Any:
        """Call one SOAP operation; SOAP faults and bad XML become typed errors."""
        with _zeep_errors():
            return await getattr(self._service, operation)(**params)


@contextmanager
def _zeep_errors() -> Iterator[None]:
    """SOAP faults and bad XML, as zeep raises them, become typed errors."""
    try:
        yield
    except zeep.exceptions.Fault as fault:
        raise _fault_error(fault) from None
    except zeep.exceptions.TransportError as exc:
        # zeep's message quotes the upstream's body; ours names only the status.
        raise UpstreamError(
            f"the register answered {exc.status_code} without a SOAP envelope", source=SOURCE
        ) from None
    except (
        zeep.exceptions.XMLSyntaxError,
        zeep.exceptions.XMLParseError,
        zeep.exceptions.DTDForbidden,
        zeep.exceptions.EntitiesForbidden,
        zeep.exceptions.ExternalReferenceForbidden,
        zeep.exceptions.ValidationError,
        zeep.exceptions.UnexpectedElementError,
    ) as exc:
        raise UpstreamError(
            f"the register answered with unusable XML ({type(exc).__name__})", source=SOURCE
        ) from None


def _fault_error(fault: zeep.exceptions.Fault) -> HubError:
    detail = fault.detail
    kind = None
    if detail is not None and len(detail):
        kind = detail[0].tag.rpartition("}")[2]
    if kind == "KhongTimThay":
        return NotFound("the register has no such citizen", source=SOURCE)
    if kind == "YeuCauKhongHopLe":
        return UpstreamRejected("the register refused the query as invalid", source=SOURCE)
    return UpstreamError(
        f"the register answered with a SOAP fault ({kind or 'unknown'})", source=SOURCE
    )


def _address(value: dict[str, Any] | None) -> Address | None:
    if value is None:
        return None
    return Address(
        text=normalize(value["ChiTiet"]),
        province_code=value.get("MaTinh"),
        district_code=value.get("MaHuyen"),
        ward_code=value.get("MaXa"),
    )


def _entry(value: dict[str, Any] | None) -> CatalogEntry | None:
    if value is None:
        return None
    return CatalogEntry(code=value["Ma"], name=normalize(value["Ten"]))


def _person(value: dict[str, Any] | None) -> PersonRef | None:
    if value is None:
        return None
    return PersonRef(
        full_name=normalize(value["HoVaTen"]),
        national_id=value.get("SoDinhDanh"),
        nationality=value.get("QuocTich"),
    )


def _citizen(data: dict[str, Any]) -> Citizen:
    death = data.get("NgayMat")
    relation = data.get("QuanHeVoiChuHo")
    return Citizen(
        national_id=data["SoDinhDanh"],
        legacy_id=data.get("SoCMND"),
        full_name=normalize(data["HoVaTen"]),
        date_of_birth=PartialDate.parse(data["NgayThangNamSinh"]),
        sex=_SEXES[int(data["GioiTinh"])],
        birth_registration_place=_address(data.get("NoiDangKyKhaiSinh")),
        hometown=_address(data.get("QueQuan")),
        ethnicity=_entry(data.get("DanToc")),
        religion=_entry(data.get("TonGiao")),
        nationality=_entry(data.get("QuocTich")),
        marital_status=_entry(data.get("TinhTrangHonNhan")),
        blood_type=_entry(data.get("NhomMau")),
        permanent_residence=_address(data.get("ThuongTru")),
        temporary_residence=_address(data.get("TamTru")),
        current_residence=_address(data.get("NoiOHienNay")),
        father=_person(data.get("Cha")),
        mother=_person(data.get("Me")),
        spouse=_person(data.get("VoChong")),
        legal_representative=_person(data.get("NguoiDaiDien")),
        household_head=_person(data.get("ChuHo")),
        household_relation=normalize(relation) if relation else None,
        status=LifeStatus.DECEASED if data["TrangThai"] == "DaMat" else LifeStatus.ALIVE,
        date_of_death=PartialDate.parse(death) if death else None,
    )
