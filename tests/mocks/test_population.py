"""The population mock's SOAP contract: the operations, their faults, the WSDL, zeep."""

from __future__ import annotations

import unicodedata

import httpx
import pytest
import zeep
from lxml import etree
from zeep.transports import Transport

from hub.mocks._world import World
from hub.mocks.population import _soap
from hub.schemas import schema_path
from tests.mocks.conftest import NS, SOAP_NS, answer, fault_detail, soap_headers, soap_request, tag

SEED, CITIZENS = 3, 2_000  # the served mock's world (see conftest)
WSDL_NS = {
    "wsdl": "http://schemas.xmlsoap.org/wsdl/",
    "soap": "http://schemas.xmlsoap.org/wsdl/soap/",
}


@pytest.fixture(scope="module")
def same_world() -> World:
    return World(seed=SEED, citizens=CITIZENS)


def results(response: httpx.Response) -> dict[str, str]:
    element = answer(response)
    assert element.tag == tag("XacThucCongDanKetQua")
    return {
        entry.findtext(tag("TenTruong")): entry.findtext(tag("KetQua"))
        for entry in element.iterfind(tag("TruongSoKhop"))
    }


def test_lookup_by_national_id_returns_the_register_record(mock, same_world, xsd):
    """The answer validates against the XSD and carries the world's record."""
    (national_id,) = mock.sample("old_address")
    response = mock.soap("TraCuuCongDan", SoDinhDanh=national_id, MaYeuCau="r-42")
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/xml; charset=utf-8"
    result = answer(response)
    xsd.assertValid(result)
    assert result.findtext(tag("MaYeuCau")) == "r-42"
    record = result.find(tag("CongDan"))
    citizen = same_world.find_citizen(national_id)
    assert record.findtext(tag("HoVaTen")) == citizen.full_name
    assert record.findtext(tag("NgayThangNamSinh")) == citizen.date_of_birth
    assert record.findtext(tag("GioiTinh")) == str(citizen.sex)
    permanent = record.find(tag("ThuongTru"))
    assert permanent.findtext(tag("MaHuyen")) == citizen.permanent_residence.district
    assert record.find(tag("NoiOHienNay")).find(tag("MaHuyen")) is None
    assert record.findtext(tag("TrangThai")) == ("ConSong" if citizen.alive else "DaMat")


@pytest.mark.parametrize(
    "kind", ["deceased", "partial_dob", "nfd_name", "legacy_id", "minor", "foreign_relative"]
)
def test_every_hard_case_answers_within_the_schema(same_world, xsd, kind):
    """Records of every kind of hard case build answers valid against the XSD."""
    for national_id in same_world.sample(kind, 25):
        body = _soap.lookup_answer("r", same_world.find_citizen(national_id))
        (result,) = etree.fromstring(body).find(f"{{{SOAP_NS}}}Body")
        xsd.assertValid(result)


def test_a_deceased_citizen_has_a_date_of_death(mock):
    """TrangThai DaMat with NgayMat."""
    (national_id,) = mock.sample("deceased")
    record = answer(mock.soap("TraCuuCongDan", SoDinhDanh=national_id)).find(tag("CongDan"))
    assert record.findtext(tag("TrangThai")) == "DaMat"
    assert len(record.findtext(tag("NgayMat"))) == 8


def test_an_nfd_name_comes_back_decomposed(mock):
    """The register returns some names in NFD, on purpose."""
    (national_id,) = mock.sample("nfd_name")
    record = answer(mock.soap("TraCuuCongDan", SoDinhDanh=national_id)).find(tag("CongDan"))
    assert not unicodedata.is_normalized("NFC", record.findtext(tag("HoVaTen")))


def test_lookup_by_legacy_card_name_and_birth_date(mock, same_world):
    """The three must match; the name compares across NFC/NFD, spacing and case."""
    (national_id,) = mock.sample("legacy_id")
    citizen = same_world.find_citizen(national_id)
    typed = "  " + unicodedata.normalize("NFD", citizen.full_name.upper()).replace(" ", "   ")
    response = mock.soap(
        "TraCuuCongDan",
        SoCMND=citizen.legacy_id,
        HoVaTen=typed,
        NgayThangNamSinh=citizen.date_of_birth,
    )
    record = answer(response).find(tag("CongDan"))
    assert record.findtext(tag("SoDinhDanh")) == national_id
    wrong_name = mock.soap(
        "TraCuuCongDan",
        SoCMND=citizen.legacy_id,
        HoVaTen="Tên Khác Hẳn",
        NgayThangNamSinh=citizen.date_of_birth,
    )
    assert fault_detail(wrong_name).tag == tag("KhongTimThay")
    wrong_date = mock.soap(
        "TraCuuCongDan",
        SoCMND=citizen.legacy_id,
        HoVaTen=citizen.full_name,
        NgayThangNamSinh="1900",
    )
    assert fault_detail(wrong_date).tag == tag("KhongTimThay")
    incomplete = mock.soap("TraCuuCongDan", SoCMND=citizen.legacy_id, HoVaTen=citizen.full_name)
    assert fault_detail(incomplete).tag == tag("YeuCauKhongHopLe")


def test_verify_answers_per_field_and_reveals_nothing(mock, same_world, xsd):
    """True facts match, false ones do not, and the answer holds no value of the record."""
    (national_id,) = mock.sample("legacy_id")
    citizen = same_world.find_citizen(national_id)
    response = mock.soap(
        "XacThucCongDan",
        SoDinhDanh=national_id,
        HoVaTen=unicodedata.normalize("NFC", citizen.full_name).lower(),
        NgayThangNamSinh=citizen.date_of_birth,
        GioiTinh=str(3 - citizen.sex),
        SoCMND=citizen.legacy_id,
    )
    xsd.assertValid(answer(response))
    assert results(response) == {
        "HoVaTen": "Khop",
        "NgayThangNamSinh": "Khop",
        "GioiTinh": "KhongKhop",
        "SoCMND": "Khop",
    }
    text = response.text
    for value in (citizen.legacy_id, citizen.date_of_birth, citizen.full_name.split()[-1]):
        assert value not in text.replace(national_id, "")


def test_verify_is_undecided_where_the_register_does_not_know(mock, same_world):
    """A full date against a year-only record, or a card the citizen never had: KhongXacDinh."""
    partial = next(
        same_world.find_citizen(k)
        for k in same_world.sample("partial_dob", 50)
        if len(same_world.find_citizen(k).date_of_birth) == 4
        and not same_world.find_citizen(k).legacy_id
    )
    full_date = partial.birth_date.strftime("%Y%m%d")
    other_year = str(int(partial.date_of_birth) + 1) + "0101"
    response = mock.soap(
        "XacThucCongDan",
        SoDinhDanh=partial.national_id,
        NgayThangNamSinh=full_date,
        SoCMND="123456789",
    )
    assert results(response) == {"NgayThangNamSinh": "KhongXacDinh", "SoCMND": "KhongXacDinh"}
    contradicted = mock.soap(
        "XacThucCongDan", SoDinhDanh=partial.national_id, NgayThangNamSinh=other_year
    )
    assert results(contradicted) == {"NgayThangNamSinh": "KhongKhop"}
    year_only = mock.soap(
        "XacThucCongDan", SoDinhDanh=partial.national_id, NgayThangNamSinh=partial.date_of_birth
    )
    assert results(year_only) == {"NgayThangNamSinh": "Khop"}


def test_verify_needs_a_field_besides_the_number(mock):
    """With nothing to compare, the request is invalid."""
    (national_id,) = mock.sample()
    response = mock.soap("XacThucCongDan", SoDinhDanh=national_id)
    assert fault_detail(response).tag == tag("YeuCauKhongHopLe")


@pytest.mark.parametrize("operation", ["TraCuuCongDan", "XacThucCongDan"])
def test_an_unknown_citizen_is_khong_tim_thay(mock, xsd, operation):
    """HTTP 500, soap:Client, a KhongTimThay detail valid against the XSD, no id echoed."""
    fields = {"SoDinhDanh": "001099999999"}
    if operation == "XacThucCongDan":
        fields["GioiTinh"] = "1"
    response = mock.soap(operation, **fields)
    assert response.status_code == 500
    detail = fault_detail(response)
    assert detail.tag == tag("KhongTimThay")
    xsd.assertValid(detail)
    assert answer(response).findtext("faultcode") == "soap:Client"
    assert "001099999999" not in response.text


def _post(mock, body: bytes, headers: dict[str, str] | None = None) -> httpx.Response:
    return mock.http.post("/dancu", content=body, headers=headers or soap_headers("TraCuuCongDan"))


BILLION_LAUGHS = (
    b'<?xml version="1.0"?><!DOCTYPE e [<!ENTITY a "aaaaaaaaaa">'
    + b"".join(
        b'<!ENTITY %s "%s">' % (bytes([98 + k]), (b"&%s;" % bytes([97 + k])) * 10) for k in range(8)
    )
    + b"]><e>&i;</e>"
)


@pytest.mark.parametrize(
    ("body", "headers"),
    [
        (b"not xml at all", None),
        (BILLION_LAUGHS, None),
        (soap_request("TraCuuCongDan", SoDinhDanh="12345"), None),
        (soap_request("TraCuuCongDan", SoDinhDanh="001090001234", Extra="x"), None),
        (soap_request("XoaCongDan", SoDinhDanh="001090001234"), None),
        (soap_request("TraCuuCongDan", SoDinhDanh="001090001234"), soap_headers("XacThucCongDan")),
        (
            soap_request("TraCuuCongDan", SoDinhDanh="001090001234"),
            {"Content-Type": "text/xml; charset=utf-8"},
        ),
        (
            soap_request("TraCuuCongDan", SoDinhDanh="001090001234"),
            {**soap_headers("TraCuuCongDan"), "Content-Type": "application/json"},
        ),
        (b"<x>" + b"a" * 70_000 + b"</x>", None),
        (b'<Envelope xmlns="urn:other"><Body/></Envelope>', None),
    ],
    ids=[
        "not-xml",
        "entity-expansion",
        "bad-id",
        "unknown-element",
        "unknown-operation",
        "wrong-action",
        "no-action",
        "wrong-content-type",
        "too-large",
        "not-soap",
    ],
)
def test_invalid_requests_are_yeu_cau_khong_hop_le(mock, xsd, body, headers):
    """Every malformed, hostile or off-contract request is the declared fault, nothing echoed."""
    response = _post(mock, body, headers)
    assert response.status_code == 500
    detail = fault_detail(response)
    assert detail.tag == tag("YeuCauKhongHopLe")
    xsd.assertValid(detail)
    assert "001090001234" not in response.text
    assert "12345" not in response.text


def test_a_bad_field_is_named_not_echoed(mock):
    """The fault says which field, never its value."""
    response = mock.soap("TraCuuCongDan", SoDinhDanh="98765")
    assert "SoDinhDanh" in fault_detail(response).findtext(tag("MoTa"))
    assert "98765" not in response.text


def test_the_wsdl_points_at_the_served_mock(mock, served):
    """soap:address and the schema import use this server's URL; the XSD is served as bundled."""
    response = mock.http.get("/dancu", params={"wsdl": ""})
    assert response.status_code == 200
    document = etree.fromstring(response.content)
    (address,) = document.iterfind(".//wsdl:port/soap:address", WSDL_NS)
    assert address.get("location") == f"{served.url}/dancu"
    assert f"{served.url}/dancu?xsd=population.xsd".encode() in response.content
    xsd_text = mock.http.get("/dancu", params={"xsd": "population.xsd"}).content
    assert xsd_text == schema_path("population/population.xsd").read_bytes()
    assert mock.http.get("/dancu").status_code == 404
    assert mock.http.get("/dancu", params={"xsd": "other.xsd"}).status_code == 404


def test_zeep_round_trips_through_the_served_wsdl(mock, same_world):
    """A zeep client built from /dancu?wsdl looks up, verifies and gets typed faults."""
    (national_id,) = mock.sample("deceased")
    citizen = same_world.find_citizen(national_id)
    client = zeep.Client(f"{mock.url}/dancu?wsdl", transport=Transport(timeout=10))
    found = client.service.TraCuuCongDan(MaDonVi="H37", MaYeuCau="z-1", SoDinhDanh=national_id)
    assert found.MaYeuCau == "z-1"
    assert found.CongDan.SoDinhDanh == national_id
    assert found.CongDan.HoVaTen == citizen.full_name
    assert found.CongDan.TrangThai == "DaMat"
    assert found.CongDan.NgayMat == citizen.date_of_death
    checked = client.service.XacThucCongDan(
        MaDonVi="H37", MaYeuCau="z-2", SoDinhDanh=national_id, GioiTinh=citizen.sex
    )
    assert [(r.TenTruong, r.KetQua) for r in checked.TruongSoKhop] == [("GioiTinh", "Khop")]
    with pytest.raises(zeep.exceptions.Fault) as caught:
        client.service.TraCuuCongDan(MaDonVi="H37", MaYeuCau="z-3", SoDinhDanh="001099999999")
    assert caught.value.detail[0].tag == tag("KhongTimThay")


def test_zeep_with_the_bundled_wsdl_and_the_mock_address(mock):
    """The connector's way: the checked-in WSDL, the service address set to the mock."""
    (national_id,) = mock.sample("old_address")
    client = zeep.Client(
        str(schema_path("population/population.wsdl")), transport=Transport(timeout=10)
    )
    service = client.create_service(f"{{{NS}}}DanCuBinding", f"{mock.url}/dancu")
    found = service.TraCuuCongDan(MaDonVi="H37", MaYeuCau="z-4", SoDinhDanh=national_id)
    assert found.CongDan.ThuongTru.MaHuyen is not None
    mock.fault({"kind": "soap_fault", "fault": "LoiHeThong", "count": 1})
    with pytest.raises(zeep.exceptions.Fault) as caught:
        service.TraCuuCongDan(MaDonVi="H37", MaYeuCau="z-5", SoDinhDanh=national_id)
    assert caught.value.detail[0].tag == tag("LoiHeThong")
