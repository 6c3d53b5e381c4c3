"""The population mock's own fault kinds: declared SOAP faults and hostile XML answers."""

from __future__ import annotations

from typing import Literal

from lxml import etree
from starlette.responses import Response

from hub.mocks._common import FaultCall, FaultEntry
from hub.mocks.population._soap import CONTENT_TYPE, SoapFault, fault_answer

_MESSAGES = {
    "KhongTimThay": "Không tìm thấy công dân",
    "YeuCauKhongHopLe": "Yêu cầu không hợp lệ",
    "LoiHeThong": "Lỗi hệ thống, vui lòng thử lại sau",
}

# Each variant: a document type declaration, and the entity a text node is replaced by.
_LAUGHS = "".join(f'<!ENTITY lol{k} "{f"&lol{k - 1};" * 10}">' for k in range(1, 10))
_HOSTILE = {
    "dtd": ("<!DOCTYPE soap:Envelope [<!ELEMENT soap:Envelope ANY>]>", None),
    "entity_expansion": (f'<!DOCTYPE soap:Envelope [<!ENTITY lol0 "lol">{_LAUGHS}]>', "lol9"),
    "external_entity": (
        '<!DOCTYPE soap:Envelope [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>',
        "xxe",
    ),
}


class SoapFaultEntry(FaultEntry):
    """A declared SOAP fault (HTTP 500) in place of the answer."""

    kind: Literal["soap_fault"]
    fault: Literal["KhongTimThay", "YeuCauKhongHopLe", "LoiHeThong"] = "LoiHeThong"

    async def apply(self, call: FaultCall) -> None:
        body = fault_answer(SoapFault(self.fault, _MESSAGES[self.fault]))
        await call.respond(Response(body, 500, media_type=CONTENT_TYPE))


class HostileXmlEntry(FaultEntry):
    """The real answer with a document type declaration a safe client must refuse.

    ``dtd``: an internal DTD, which SOAP forbids; ``entity_expansion``: nested entities
    that expand to about a billion characters; ``external_entity``: an entity naming a
    local file.
    """

    kind: Literal["hostile_xml"]
    variant: Literal["dtd", "entity_expansion", "external_entity"]

    async def apply(self, call: FaultCall) -> None:
        captured = await call.capture()
        doctype, entity = _HOSTILE[self.variant]
        root = etree.fromstring(captured.body)
        if entity is not None:
            target = next(e for e in root.iter() if isinstance(e.tag, str) and e.text)
            target.text = None
            target.append(etree.Entity(entity))
        body = etree.tostring(root, xml_declaration=True, encoding="utf-8", doctype=doctype)
        await call.respond(Response(body, captured.status, media_type=CONTENT_TYPE))
