"""SOAP 1.1 document/literal for the population service: parsing requests, building answers.

Requests are parsed by lxml with no DTD, no entity resolution, no network and no huge
trees, and the operation element is validated against the bundled XSD; answers are
built as lxml trees, never as strings.
"""

from __future__ import annotations

import copy
import functools
import re

from lxml import etree

from hub.mocks._world import Address, CatalogEntry, Citizen, PersonRef
from hub.schemas import schema_path

NS = "urn:lienthong:dancu:1"
SOAP_NS = "http://schemas.xmlsoap.org/soap/envelope/"
WSDL_NS = "http://schemas.xmlsoap.org/wsdl/"
WSDL_SOAP_NS = "http://schemas.xmlsoap.org/wsdl/soap/"
XSD_NS = "http://www.w3.org/2001/XMLSchema"
CONTENT_TYPE = "text/xml; charset=utf-8"
OPERATIONS = ("TraCuuCongDan", "XacThucCongDan")
MAX_REQUEST_BYTES = 64 * 1024

# The declared faults: the SOAP fault code and the error code of the detail element.
FAULTS = {
    "KhongTimThay": ("soap:Client", "DC404"),
    "YeuCauKhongHopLe": ("soap:Client", "DC400"),
    "LoiHeThong": ("soap:Server", "DC500"),
}

_PARSER = etree.XMLParser(
    resolve_entities=False,
    no_network=True,
    load_dtd=False,
    dtd_validation=False,
    huge_tree=False,
    remove_comments=True,
    remove_pis=True,
)
_STEP = re.compile(r"(?:[^/:]*:)?([^/:\[]+)(?:\[\d+\])?$")


class SoapFault(Exception):
    """A declared fault of the service: KhongTimThay, YeuCauKhongHopLe or LoiHeThong.

    The message is sent to the client and must never hold personal data.
    """

    def __init__(self, name: str, message: str) -> None:
        super().__init__(message)
        self.name = name
        self.message = message


def _tag(name: str) -> str:
    return f"{{{NS}}}{name}"


@functools.cache
def schema() -> etree.XMLSchema:
    """The population XSD, compiled once."""
    return etree.XMLSchema(etree.parse(str(schema_path("population/population.xsd"))))


def parse_request(body: bytes, soap_action: str | None) -> tuple[str, etree._Element]:
    """The operation name and its element, from a request body.

    Raises:
        SoapFault: YeuCauKhongHopLe when the body is not a valid request of the WSDL.
    """
    invalid = "YeuCauKhongHopLe"
    try:
        root = etree.fromstring(body, _PARSER)
    except etree.XMLSyntaxError:
        raise SoapFault(invalid, "Yêu cầu không phải là XML hợp lệ") from None
    if root.getroottree().docinfo.doctype:  # type: ignore[union-attr]  # lxml-stubs lag
        raise SoapFault(invalid, "Yêu cầu không được chứa DTD")
    if root.tag != f"{{{SOAP_NS}}}Envelope":
        raise SoapFault(invalid, "Yêu cầu không phải là SOAP 1.1 Envelope")
    envelope_body = root.find(f"{{{SOAP_NS}}}Body")
    operations = [] if envelope_body is None else list(envelope_body)
    if len(operations) != 1:
        raise SoapFault(invalid, "SOAP Body phải chứa đúng một thao tác")
    element = operations[0]
    name = etree.QName(element)
    if name.namespace != NS or name.localname not in OPERATIONS:
        raise SoapFault(invalid, "Thao tác không được hỗ trợ")
    if soap_action is None or soap_action.strip().strip('"') != f"{NS}#{name.localname}":
        raise SoapFault(invalid, "SOAPAction không khớp với thao tác")
    if not schema().validate(element):
        # Name the field, never echo its value: it may be a national id.
        error = schema().error_log.last_error  # type: ignore[attr-defined]  # lxml-stubs lag
        match = _STEP.search(error.path or "")
        field = match.group(1) if match else name.localname
        raise SoapFault(invalid, f"Trường {field} không hợp lệ")
    return name.localname, element


def text(element: etree._Element, name: str) -> str | None:
    """The text of a child element of the request, or None when it is absent."""
    return element.findtext(_tag(name))


def _add(parent: etree._Element, name: str, value: str | None = None) -> etree._Element:
    child = etree.SubElement(parent, _tag(name))
    if value is not None:
        child.text = value
    return child


def _address(parent: etree._Element, name: str, address: Address | None) -> None:
    if address is None:
        return
    element = _add(parent, name)
    _add(element, "ChiTiet", address.text)
    _add(element, "MaTinh", address.province)
    if address.district is not None:
        _add(element, "MaHuyen", address.district)
    _add(element, "MaXa", address.ward)


def _entry(parent: etree._Element, name: str, entry: CatalogEntry | None) -> None:
    if entry is None:
        return
    element = _add(parent, name)
    _add(element, "Ma", entry.code)
    _add(element, "Ten", entry.name)


def _person(parent: etree._Element, name: str, person: PersonRef | None) -> None:
    if person is None:
        return
    element = _add(parent, name)
    _add(element, "HoVaTen", person.name)
    if person.national_id is not None:
        _add(element, "SoDinhDanh", person.national_id)
    _add(element, "QuocTich", person.nationality)


def _envelope() -> tuple[etree._Element, etree._Element]:
    envelope = etree.Element(f"{{{SOAP_NS}}}Envelope", nsmap={"soap": SOAP_NS, "tns": NS})
    return envelope, etree.SubElement(envelope, f"{{{SOAP_NS}}}Body")


def _serialise(envelope: etree._Element) -> bytes:
    return etree.tostring(envelope, xml_declaration=True, encoding="utf-8")


def lookup_answer(request_id: str, citizen: Citizen) -> bytes:
    """The TraCuuCongDanKetQua answer for one citizen, in the XSD's element order."""
    envelope, body = _envelope()
    result = _add(body, "TraCuuCongDanKetQua")
    _add(result, "MaYeuCau", request_id)
    record = _add(result, "CongDan")
    _add(record, "SoDinhDanh", citizen.national_id)
    if citizen.legacy_id is not None:
        _add(record, "SoCMND", citizen.legacy_id)
    _add(record, "HoVaTen", citizen.full_name)
    _add(record, "NgayThangNamSinh", citizen.date_of_birth)
    _add(record, "GioiTinh", str(citizen.sex))
    _address(record, "NoiDangKyKhaiSinh", citizen.birth_registration_place)
    _address(record, "QueQuan", citizen.hometown)
    _entry(record, "DanToc", citizen.ethnicity)
    _entry(record, "TonGiao", citizen.religion)
    _entry(record, "QuocTich", citizen.nationality)
    _entry(record, "TinhTrangHonNhan", citizen.marital_status)
    _entry(record, "NhomMau", citizen.blood_type)
    _address(record, "ThuongTru", citizen.permanent_residence)
    _address(record, "TamTru", citizen.temporary_residence)
    _address(record, "NoiOHienNay", citizen.current_residence)
    _person(record, "Cha", citizen.father)
    _person(record, "Me", citizen.mother)
    _person(record, "VoChong", citizen.spouse)
    _person(record, "NguoiDaiDien", citizen.legal_representative)
    _person(record, "ChuHo", citizen.household_head)
    _add(record, "QuanHeVoiChuHo", citizen.household_relation)
    _add(record, "TrangThai", "ConSong" if citizen.alive else "DaMat")
    if citizen.date_of_death is not None:
        _add(record, "NgayMat", citizen.date_of_death)
    return _serialise(envelope)


def verify_answer(request_id: str, results: list[tuple[str, str]]) -> bytes:
    """The XacThucCongDanKetQua answer: per field, Khop / KhongKhop / KhongXacDinh."""
    envelope, body = _envelope()
    result = _add(body, "XacThucCongDanKetQua")
    _add(result, "MaYeuCau", request_id)
    for field, outcome in results:
        entry = _add(result, "TruongSoKhop")
        _add(entry, "TenTruong", field)
        _add(entry, "KetQua", outcome)
    return _serialise(envelope)


def fault_answer(fault: SoapFault) -> bytes:
    """A SOAP 1.1 Fault with the declared detail element."""
    code, error_code = FAULTS[fault.name]
    envelope, body = _envelope()
    element = etree.SubElement(body, f"{{{SOAP_NS}}}Fault")
    etree.SubElement(element, "faultcode").text = code
    etree.SubElement(element, "faultstring").text = fault.message
    detail = _add(etree.SubElement(element, "detail"), fault.name)
    _add(detail, "MaLoi", error_code)
    _add(detail, "MoTa", fault.message)
    return _serialise(envelope)


@functools.cache
def _wsdl() -> etree._ElementTree:
    return etree.parse(str(schema_path("population/population.wsdl")))


def wsdl_for(base_url: str) -> bytes:
    """The bundled WSDL, with its address and schema import pointing at ``base_url``."""
    document = copy.deepcopy(_wsdl())
    namespaces = {"wsdl": WSDL_NS, "soap": WSDL_SOAP_NS, "xs": XSD_NS}
    for address in document.iterfind(".//wsdl:port/soap:address", namespaces):
        address.set("location", f"{base_url}/dancu")
    for schema_import in document.iterfind(".//wsdl:types/xs:schema/xs:import", namespaces):
        schema_import.set("schemaLocation", f"{base_url}/dancu?xsd=population.xsd")
    return etree.tostring(document, xml_declaration=True, encoding="utf-8")


@functools.cache
def xsd() -> bytes:
    """The bundled XSD, as served at ``/dancu?xsd=population.xsd``."""
    return schema_path("population/population.xsd").read_bytes()
