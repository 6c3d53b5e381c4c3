"""Every fault kind over real HTTP, as a client meets it."""

from __future__ import annotations

import httpx
import pytest
from lxml import etree

from tests.mocks.conftest import answer, fault_detail, soap_headers, soap_request, tag


@pytest.fixture
def national_id(mock):
    (key,) = mock.sample()
    return key


def test_a_burst_of_503_then_the_answer(mock, national_id):
    """count: 2 answers two requests with 503, the third is served."""
    mock.fault({"kind": "status", "status": 503, "count": 2})
    statuses = [mock.soap("TraCuuCongDan", SoDinhDanh=national_id).status_code for _ in range(3)]
    assert statuses == [503, 503, 200]


def test_429_carries_retry_after(mock, national_id):
    """The Retry-After header is sent as given."""
    mock.fault({"kind": "status", "status": 429, "retry_after": 1, "count": 1})
    response = mock.soap("TraCuuCongDan", SoDinhDanh=national_id)
    assert response.status_code == 429
    assert response.headers["retry-after"] == "1"


def test_latency_delays_past_a_short_timeout_then_answers(mock, national_id):
    """300 ms of latency outlasts a 50 ms read timeout; a patient client gets the answer."""
    mock.fault({"kind": "latency", "ms": 300})
    with pytest.raises(httpx.ReadTimeout):
        mock.soap("TraCuuCongDan", SoDinhDanh=national_id, timeout=0.05)
    response = mock.soap("TraCuuCongDan", SoDinhDanh=national_id)
    assert response.status_code == 200


def test_reset_drops_the_connection_mid_answer(mock, national_id):
    """The client sees the connection close before the body."""
    mock.fault({"kind": "reset", "count": 1})
    with pytest.raises(httpx.RemoteProtocolError):
        mock.soap("TraCuuCongDan", SoDinhDanh=national_id)
    assert mock.soap("TraCuuCongDan", SoDinhDanh=national_id).status_code == 200


def test_truncated_promises_more_than_it_sends(mock, national_id):
    """Content-Length is the whole answer's; half arrives, then the close."""
    whole = mock.soap("TraCuuCongDan", SoDinhDanh=national_id).content
    mock.fault({"kind": "truncated", "count": 1})
    received = bytearray()
    promised = []

    def read() -> None:
        with mock.http.stream(
            "POST",
            "/dancu",
            content=soap_request("TraCuuCongDan", SoDinhDanh=national_id),
            headers=soap_headers("TraCuuCongDan"),
        ) as response:
            promised.append(int(response.headers["content-length"]))
            for chunk in response.iter_raw():
                received.extend(chunk)

    with pytest.raises(httpx.RemoteProtocolError):
        read()
    assert promised == [len(whole)]
    assert whole.startswith(received)
    assert 0 < len(received) < len(whole)


def test_timeout_holds_until_the_client_gives_up(mock, national_id):
    """No answer at all; the mock goes on serving others."""
    mock.fault({"kind": "timeout", "count": 1})
    with pytest.raises(httpx.ReadTimeout):
        mock.soap("TraCuuCongDan", SoDinhDanh=national_id, timeout=0.3)
    assert mock.soap("TraCuuCongDan", SoDinhDanh=national_id).status_code == 200


def test_malformed_is_garbage_of_the_right_content_type(mock, national_id):
    """200, text/xml, and no XML parser accepts it."""
    mock.fault({"kind": "malformed"})
    response = mock.soap("TraCuuCongDan", SoDinhDanh=national_id)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/xml")
    with pytest.raises(etree.XMLSyntaxError):
        etree.fromstring(response.content)


def test_wrong_content_type_is_an_html_page(mock, national_id):
    """200 text/html where SOAP belongs."""
    mock.fault({"kind": "wrong_content_type"})
    response = mock.soap("TraCuuCongDan", SoDinhDanh=national_id)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert b"<html>" in response.content


@pytest.mark.parametrize("declare_length", [False, True])
def test_oversized_streams_the_bytes_asked(mock, national_id, declare_length):
    """Exactly the bytes asked for, in the protocol's content type, announced or chunked."""
    size = 3_000_000
    mock.fault({"kind": "oversized", "bytes": size, "declare_length": declare_length})
    with mock.http.stream(
        "POST",
        "/dancu",
        content=soap_request("TraCuuCongDan", SoDinhDanh=national_id),
        headers=soap_headers("TraCuuCongDan"),
    ) as response:
        assert response.headers["content-type"].startswith("text/xml")
        if declare_length:
            assert response.headers["content-length"] == str(size)
        else:
            assert "content-length" not in response.headers
        chunks = [len(chunk) for chunk in response.iter_raw()]
    assert sum(chunks) == size
    assert len(chunks) > 1


def test_drip_sends_the_real_answer_slowly(mock, national_id):
    """A slow drip outlasts a short read timeout; a fast one delivers the whole answer."""
    whole = mock.soap("TraCuuCongDan", SoDinhDanh=national_id).content
    mock.fault({"kind": "drip", "bytes_per_second": 1, "count": 1})
    with pytest.raises(httpx.ReadTimeout):
        mock.soap("TraCuuCongDan", SoDinhDanh=national_id, timeout=0.3)
    mock.fault({"kind": "drip", "bytes_per_second": 100_000, "count": 1})
    assert mock.soap("TraCuuCongDan", SoDinhDanh=national_id).content == whole


def test_soap_fault_is_the_declared_fault(mock, national_id, xsd):
    """HTTP 500 with a LoiHeThong detail valid against the schema."""
    mock.fault({"kind": "soap_fault", "fault": "LoiHeThong"})
    response = mock.soap("TraCuuCongDan", SoDinhDanh=national_id)
    assert response.status_code == 500
    detail = fault_detail(response)
    assert detail.tag == tag("LoiHeThong")
    xsd.assertValid(detail)
    assert answer(response).findtext("faultcode") == "soap:Server"


def test_hostile_xml_dtd_wraps_the_real_answer(mock, national_id):
    """An internal DTD before the genuine answer: a safe parser sees it and need load nothing."""
    mock.fault({"kind": "hostile_xml", "variant": "dtd"})
    response = mock.soap("TraCuuCongDan", SoDinhDanh=national_id)
    assert response.status_code == 200
    safe = etree.XMLParser(resolve_entities=False, load_dtd=False, no_network=True)
    root = etree.fromstring(response.content, safe)
    assert b"<!DOCTYPE soap:Envelope [<!ELEMENT" in response.content
    assert root.getroottree().docinfo.doctype
    assert root.find(f".//{tag('SoDinhDanh')}").text == national_id


def test_hostile_xml_entity_expansion_nests_ten_levels(mock, national_id):
    """A billion laughs: each entity ten of the one before, the last referenced in the body."""
    mock.fault({"kind": "hostile_xml", "variant": "entity_expansion"})
    content = mock.soap("TraCuuCongDan", SoDinhDanh=national_id).content
    assert b'<!ENTITY lol0 "lol">' in content
    assert b'<!ENTITY lol9 "' + b"&lol8;" * 10 + b'">' in content
    assert b"&lol9;" in content.split(b"]>", 1)[1]
    safe = etree.XMLParser(resolve_entities=False, load_dtd=False, no_network=True)
    try:
        root = etree.fromstring(content, safe)
    except etree.XMLSyntaxError:
        return  # libxml2 refuses the amplification outright
    assert all(len(t) < 1000 for t in root.itertext())


def test_hostile_xml_external_entity_names_a_local_file(mock, national_id):
    """The entity points at a file; unresolved, its content never appears."""
    mock.fault({"kind": "hostile_xml", "variant": "external_entity"})
    content = mock.soap("TraCuuCongDan", SoDinhDanh=national_id).content
    assert b'<!ENTITY xxe SYSTEM "file:///etc/passwd">' in content
    assert b"&xxe;" in content.split(b"]>", 1)[1]
    safe = etree.XMLParser(resolve_entities=False, load_dtd=False, no_network=True)
    root = etree.fromstring(content, safe)
    assert "root:" not in "".join(root.itertext())
