"""The population connector's compiled codec against zeep's own messages, kind by kind."""

from __future__ import annotations

import time

import httpx
import pytest
from lxml import etree
from zeep.helpers import serialize_object

from hub._http import _HubClient
from hub._purpose import Purpose
from hub.connector import Call, Operation
from hub.connectors.population import PopulationConnector
from hub.connectors.population._connector import PopulationSettings, _citizen
from hub.errors import NotFound
from hub.mocks._world import SAMPLE_KINDS
from tests._helpers import PURPOSE

PERSON_KINDS = [
    kind for kind in SAMPLE_KINDS if kind not in ("budget_unit", "branch", "enterprise", "licence")
]


class Recorder:
    """A connector whose every exchange with the mock is kept, as sent and as answered."""

    def __init__(self, url: str) -> None:
        self.exchanges: list[tuple[httpx.Request, bytes, str]] = []
        self._real = httpx.AsyncClient()
        http = _HubClient(base_url=url, transport=httpx.MockTransport(self._forward))
        self.connector = PopulationConnector(PopulationSettings(url=url), http)
        self.codec = self.connector._codec

    async def _forward(self, request: httpx.Request) -> httpx.Response:
        real = await self._real.post(
            str(request.url), content=request.content, headers=dict(request.headers)
        )
        content_type = real.headers["Content-Type"]
        self.exchanges.append((request, real.content, content_type))
        return httpx.Response(
            real.status_code, content=real.content, headers={"Content-Type": content_type}
        )

    async def by_zeep(self, params: dict) -> tuple[httpx.Request, bytes, str, dict]:
        answer = await self.connector._invoke("TraCuuCongDan", params)
        request, content, content_type = self.exchanges[-1]
        return request, content, content_type, serialize_object(answer, dict)

    async def aclose(self) -> None:
        await self.connector.aclose()
        await self._real.aclose()


@pytest.fixture
async def recorder(population_mock):
    recorder = Recorder(f"{population_mock.url}/dancu")
    yield recorder
    await recorder.aclose()


def canonical(message: bytes) -> str:
    return etree.canonicalize(message.decode("utf-8"))


def params_for(**fields) -> dict:
    return {"MaDonVi": "000.00.00.H00", "MaYeuCau": "req-1.a:b_c", **fields}


async def check(recorder: Recorder, params: dict) -> dict:
    """Assert the codec sends what zeep sends and reads what zeep reads; zeep's record."""
    request, content, content_type, by_zeep = await recorder.by_zeep(params)
    ours = recorder.codec.request(params)
    assert ours is not None
    assert canonical(ours) == canonical(request.content)
    assert ours == request.content  # byte for byte, as it happens
    assert recorder.codec.headers == {
        "SOAPAction": request.headers["SOAPAction"],
        "Content-Type": request.headers["Content-Type"],
    }
    assert recorder.codec.answer(content, content_type) == by_zeep
    return by_zeep


@pytest.mark.parametrize("kind", PERSON_KINDS)
async def test_the_codec_matches_zeep_for_every_kind_of_citizen(recorder, population, kind):
    """By national id and by legacy id, request bytes and parsed records are zeep's."""
    for national_id in population.sample(n=3, kind=kind):
        answer = await check(recorder, params_for(SoDinhDanh=national_id))
        record = answer["CongDan"]
        if record["SoCMND"] is not None:
            by_legacy = params_for(
                SoCMND=record["SoCMND"],
                HoVaTen=record["HoVaTen"],
                NgayThangNamSinh=record["NgayThangNamSinh"],
            )
            assert (await check(recorder, by_legacy))["CongDan"] == record


async def test_a_look_up_through_the_codec_is_the_record_zeep_gives(
    recorder, population, monkeypatch
):
    """The connector's look-up takes the codec's path and returns the Citizen zeep's makes."""
    for national_id in population.sample(n=5, kind="deceased"):
        _, _, _, by_zeep = await recorder.by_zeep(params_for(SoDinhDanh=national_id))
        call = Call(
            source="population",
            operation=Operation.LOOKUP,
            request_id="req-1",
            purpose=Purpose.model_validate(PURPOSE),
            deadline=time.monotonic() + 10,
        )
        with monkeypatch.context() as patched:
            patched.setattr(recorder.connector, "_invoke", None)  # zeep's path must not run
            patched.setattr(recorder.codec, "reply", None)
            citizen = await recorder.connector.lookup(
                PopulationConnector.Query(national_id=national_id), call
            )
        assert citizen == _citizen(by_zeep["CongDan"])


@pytest.mark.parametrize("name", ["Lê Văn A & <B> > C", 'O\'Brien "Jr"', "Nguyễn  Thị\u00a0Ánh"])
async def test_names_that_need_escaping_are_sent_as_zeep_sends_them(recorder, name):
    """&, <, > and quotes in a value come out as lxml writes them under zeep."""
    params = params_for(SoCMND="123456789", HoVaTen=name, NgayThangNamSinh="1990")
    with pytest.raises(NotFound):
        await recorder.connector._invoke("TraCuuCongDan", params)
    request = recorder.exchanges[-1][0]
    ours = recorder.codec.request({k: v for k, v in params.items() if k != "MaDonVi"})
    assert ours == request.content


def test_a_value_lxml_would_escape_otherwise_is_left_to_zeep(recorder):
    """A control character in a value: the codec steps aside rather than guess."""
    params = {"MaYeuCau": "r", "SoCMND": "123456789", "HoVaTen": "A\rB", "NgayThangNamSinh": "1990"}
    assert recorder.codec.request(params) is None


ENVELOPE = (
    '<?xml version="1.0" encoding="utf-8"?>\n'
    '<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/" '
    'xmlns:tns="urn:lienthong:dancu:1">{header}<soap:Body>{body}</soap:Body></soap:Envelope>'
)
RECORD = (
    "<tns:SoDinhDanh>001090000001</tns:SoDinhDanh><tns:HoVaTen>A</tns:HoVaTen>"
    "<tns:NgayThangNamSinh>1990</tns:NgayThangNamSinh><tns:GioiTinh>{sex}</tns:GioiTinh>"
    "{extra}<tns:TrangThai>ConSong</tns:TrangThai>"
)


def answer(header="", sex="1", extra="", record_attr="", wrapper=None) -> bytes:
    record = RECORD.format(sex=sex, extra=extra)
    body = (
        f"<tns:TraCuuCongDanKetQua><tns:MaYeuCau>r</tns:MaYeuCau>"
        f"<tns:CongDan{record_attr}>{record}</tns:CongDan></tns:TraCuuCongDanKetQua>"
    )
    return ENVELOPE.format(header=header, body=wrapper.format(body) if wrapper else body).encode()


def test_an_ordinary_answer_is_read(recorder):
    """The minimal record reads, absent optional fields as None, GioiTinh as zeep's int."""
    record = recorder.codec.answer(answer(), "text/xml; charset=utf-8")["CongDan"]
    assert (record["GioiTinh"], record["SoCMND"], record["DanToc"]) == (1, None, None)


@pytest.mark.parametrize(
    "content",
    [
        answer(header="<soap:Header/>"),
        answer(sex="one"),
        answer(extra="<tns:Unknown>x</tns:Unknown>"),
        answer(extra="<tns:QueQuan/>"),
        answer(record_attr=' tns:x="1"'),
        answer(extra="<?pi x?>"),
        answer(wrapper="{}<tns:More/>"),
        b'<!DOCTYPE x [<!ENTITY a "b">]>' + answer()[39:],
        answer()[:-20],
        answer().replace(b"<tns:HoVaTen>A</tns:HoVaTen>", b"<tns:HoVaTen/>"),
        ENVELOPE.format(
            header="", body="<soap:Fault><faultcode>x</faultcode></soap:Fault>"
        ).encode(),
    ],
)
def test_an_unusual_answer_is_left_to_zeep(recorder, content):
    """A header, a bad value, an unknown or empty element, a DTD, bad XML: zeep reads it."""
    assert recorder.codec.answer(content, "text/xml; charset=utf-8") is None


def test_a_non_xml_content_type_is_left_to_zeep(recorder):
    """An answer declared as something else than text/xml is zeep's to judge."""
    assert recorder.codec.answer(answer(), "application/soap+xml") is None
