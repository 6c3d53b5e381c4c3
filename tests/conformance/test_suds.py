"""suds-community, a SOAP client that owes nothing to zeep, against the population mock.

It reads the WSDL the mock serves (and the XSD it imports) and builds its calls from
them alone: a look-up and a verification come back typed, and a fault comes back as the
fault the WSDL declares, with its detail.
"""

from __future__ import annotations

from typing import Any

import pytest
from suds import WebFault
from suds.cache import NoCache
from suds.client import Client

from tests._helpers import MockAdmin


@pytest.fixture(scope="module")
def suds_client(population_mock) -> Client:
    """A client built from the WSDL the mock serves, and nothing else."""
    return Client(f"{population_mock.url}/dancu?wsdl", cache=NoCache(), timeout=10)


def look_up(client: Client, **fields: Any) -> Any:
    return client.service.TraCuuCongDan(MaDonVi="000.00.00.H37", MaYeuCau="suds-1", **fields)


def test_the_wsdl_describes_both_operations(suds_client):
    """suds reads the WSDL and its XSD, and finds the service's two operations."""
    (service,) = suds_client.wsdl.services
    (port,) = service.ports
    assert sorted(port.methods) == ["TraCuuCongDan", "XacThucCongDan"]


def test_a_look_up_comes_back_typed(suds_client, population: MockAdmin):
    """TraCuuCongDan by national id: a CongDan with the register's fields."""
    (national_id,) = population.sample(kind="citizen")
    answer = look_up(suds_client, SoDinhDanh=national_id)
    assert answer.MaYeuCau == "suds-1"
    citizen = answer.CongDan
    assert citizen.SoDinhDanh == national_id
    # suds leaves a restricted xs:int as its text.
    assert int(citizen.GioiTinh) in (1, 2)
    assert citizen.TrangThai in ("ConSong", "DaMat")
    assert citizen.HoVaTen


def test_a_verification_comes_back_field_by_field(suds_client, population: MockAdmin):
    """XacThucCongDan: a verdict per field named, and none of the register's values."""
    (national_id,) = population.sample(kind="citizen")
    answer = suds_client.service.XacThucCongDan(
        MaDonVi="000.00.00.H37",
        MaYeuCau="suds-2",
        SoDinhDanh=national_id,
        HoVaTen="Nguyễn Văn Không Phải",
    )
    verdicts = {field.TenTruong: field.KetQua for field in answer.TruongSoKhop}
    assert verdicts == {"HoVaTen": "KhongKhop"}


def test_an_unknown_citizen_is_the_declared_fault(suds_client, leaks):
    """KhongTimThay is a SOAP fault whose detail is the element the WSDL declares."""
    unknown = "001090999999"
    with pytest.raises(WebFault) as caught:
        look_up(suds_client, SoDinhDanh=unknown)
    fault = caught.value.fault
    leaks.add(str(fault))
    assert fault.faultcode.endswith("Client")
    detail = fault.detail.KhongTimThay
    assert detail.MaLoi
    assert detail.MoTa
