"""The look-up's SOAP messages, compiled at start-up from zeep's own.

zeep stays the authority on the contract: the request templates are messages zeep
serialised once, with marks where the values go, and the answer is read by a plan
compiled from zeep's types of the WSDL. Building and parsing each message through
zeep cost a quarter of the hub's CPU per look-up; substituting into bytes and
walking an lxml tree costs a fraction of it.

The codec reads only the answer it expects, exactly: a SOAP envelope with a body
holding one TraCuuCongDanKetQua, every element in the schema's order, no attribute,
no empty leaf. Anything else (a fault, a header, an unknown element, a DTD, a value
zeep would not convert, bad XML) is left to zeep, whose reading and errors decide;
tests/integration/test_population_codec.py holds both to the same messages.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from lxml import etree
from zeep.wsdl.utils import etree_to_string

__all__ = ["LookupCodec"]

OPERATION = "TraCuuCongDan"
_SOAP_NS = "http://schemas.xmlsoap.org/soap/envelope/"
_ENVELOPE = f"{{{_SOAP_NS}}}Envelope"
_BODY = f"{{{_SOAP_NS}}}Body"
# The request's fields, by the way the look-up asks; MaDonVi is fixed at start-up.
_SHAPES = (
    ("MaYeuCau", "SoDinhDanh"),
    ("MaYeuCau", "SoCMND", "HoVaTen", "NgayThangNamSinh"),
)
# Characters lxml refuses or writes as character references: such a value is left to
# zeep to serialise (or refuse) rather than escaped here.
_AWKWARD = re.compile("[\x00-\x1f\ud800-\udfff\ufffe\uffff]")
_PARSER = etree.XMLParser(
    resolve_entities=False,
    no_network=True,
    load_dtd=False,
    huge_tree=False,
    remove_comments=True,  # as zeep's parser does
    remove_pis=False,  # a processing instruction is unusual: zeep's to read
)


class _Unusual(Exception):
    """The answer is not the one the codec reads; zeep reads it."""


@dataclass(frozen=True, slots=True)
class _Field:
    tag: str
    name: str
    required: bool
    convert: Any  # zeep's simple type's pythonvalue, for a leaf
    fields: tuple[_Field, ...] | None  # the nested plan, for a complex element


def _plan(complex_type: Any) -> tuple[_Field, ...]:
    """The reading plan of a zeep complex type: its elements, in order."""
    plan = []
    for name, element in complex_type.elements:
        if element.max_occurs != 1 or element.nillable or complex_type.attributes:
            raise ValueError(f"{name}: the codec reads single, non-nillable elements only")
        nested = element.type.elements if hasattr(element.type, "elements") else None
        plan.append(
            _Field(
                tag=element.qname.text,
                name=name,
                required=element.min_occurs > 0,
                convert=None if nested is not None else element.type.pythonvalue,
                fields=None if nested is None else _plan(element.type),
            )
        )
    return tuple(plan)


def _blank(text: str | None) -> bool:
    return text is None or not text.strip()


def _read(parent: Any, plan: tuple[_Field, ...]) -> dict[str, Any]:
    """The values of ``parent``'s children by ``plan``, as zeep's serialize_object gives them."""
    children = list(parent)
    if not _blank(parent.text):
        raise _Unusual
    values: dict[str, Any] = {}
    index = 0
    for field in plan:
        child = children[index] if index < len(children) else None
        if child is None or child.tag != field.tag:
            if field.required:
                raise _Unusual
            values[field.name] = None
            continue
        index += 1
        if child.attrib or not _blank(child.tail):
            raise _Unusual
        if field.fields is not None:
            values[field.name] = _read(child, field.fields)
            continue
        if len(child) or child.text is None:
            raise _Unusual
        try:
            values[field.name] = field.convert(child.text)
        except (TypeError, ValueError):
            # zeep would log and give None: its reading decides.
            raise _Unusual from None
    if index != len(children):
        raise _Unusual
    return values


class LookupCodec:
    """TraCuuCongDan's request bytes and answer reading, compiled from zeep's.

    Args:
        client: The zeep client holding the WSDL.
        service: The service proxy the connector calls (its binding and address).
        agency: MaDonVi, the same in every request.
    """

    def __init__(self, client: Any, service: Any, agency: str) -> None:
        binding = service._binding
        options = service._binding_options
        self.address: str = options["address"]
        self._operation = binding.get(OPERATION)
        self._client = client
        self._binding = binding
        self._agency = agency
        self._templates: dict[frozenset[str], tuple[tuple[str, ...], list[bytes]]] = {}
        self.headers: dict[str, str] = {}
        for shape in _SHAPES:
            marks = {name: f"lienthong-slot-{i}-{name}" for i, name in enumerate(shape)}
            # zeep's own send path: the envelope and the headers it would post.
            envelope, headers = binding._create(
                OPERATION, (), {"MaDonVi": agency, **marks}, client=client, options=options
            )
            message = etree_to_string(envelope)
            parts = [message]
            for name in shape:
                head, mark, tail = parts.pop().partition(marks[name].encode())
                if not mark or marks[name].encode() in tail:
                    raise ValueError(f"{name}: zeep's message does not hold its value once")
                parts += [head, tail]
            self._templates[frozenset(shape)] = (shape, parts)
            self.headers = dict(headers)
        result = client.get_element(self._operation.output.body.qname)
        self._plan = _plan(result.type)
        self._result = result.qname.text

    def request(self, params: Mapping[str, Any]) -> bytes | None:
        """The request bytes zeep would send for ``params``; None to let zeep build them.

        ``params`` are the operation's fields, absent ones as None; MaDonVi, when
        given, must be the agency the templates hold.
        """
        given = {name: value for name, value in params.items() if value is not None}
        if given.pop("MaDonVi", self._agency) != self._agency:
            return None
        template = self._templates.get(frozenset(given))
        if template is None:
            return None
        shape, parts = template
        pieces = [parts[0]]
        for name, part in zip(shape, parts[1:], strict=True):
            value = str(given[name])
            if _AWKWARD.search(value):
                return None
            escaped = value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
            pieces += [escaped.encode(), part]
        return b"".join(pieces)

    def answer(self, content: bytes, content_type: str) -> dict[str, Any] | None:
        """TraCuuCongDanKetQua as zeep's serialize_object gives it; None if unusual."""
        if not content_type.lower().startswith("text/xml"):
            return None
        try:
            root = etree.fromstring(content, _PARSER)
        except etree.XMLSyntaxError:
            return None
        doctype = root.getroottree().docinfo.doctype  # type: ignore[union-attr]  # lxml-stubs lag
        if doctype or root.tag != _ENVELOPE or root.attrib:
            return None
        children = list(root)
        if len(children) != 1 or children[0].tag != _BODY or children[0].attrib:
            return None
        operations = list(children[0])
        if len(operations) != 1 or operations[0].tag != self._result or operations[0].attrib:
            return None
        try:
            if not (_blank(root.text) and _blank(children[0].tail)):
                raise _Unusual
            if not (_blank(children[0].text) and _blank(operations[0].tail)):
                raise _Unusual
            return _read(operations[0], self._plan)
        except _Unusual:
            return None

    def reply(self, response: Any) -> Any:
        """zeep's own reading of an answer (a requests-style response), faults included."""
        return self._binding.process_reply(self._client, self._operation, response)
