"""The shapes of the hub's own names and ids, each written once.

The audit entry's JSON schema and the sidecar's OpenAPI document publish these
patterns, so a change here changes what clients and auditors are told.
"""

from __future__ import annotations

import re

__all__ = [
    "AUDIT_ID_PATTERN",
    "NODE_PATTERN",
    "REQUEST_ID",
    "REQUEST_ID_PATTERN",
    "SOURCE_NAME",
    "SOURCE_NAME_PATTERN",
]

#: A source's name (``population``). An audit entry's operation and error kind are
#: names of the same shape: all of them end up in URLs, metric labels and audit entries.
SOURCE_NAME_PATTERN = r"^[a-z][a-z0-9_]{0,63}$"
#: A request id (``X-Request-ID``) the hub accepts from a caller: it is logged, sent
#: upstream and audited, so it is short and plain.
REQUEST_ID_PATTERN = r"^[A-Za-z0-9._:-]{1,128}$"
_NODE = r"[A-Za-z0-9][A-Za-z0-9_.-]{0,62}"
#: A hub node's (replica's) name, ``[audit] node`` in the configuration.
NODE_PATTERN = rf"^{_NODE}$"
#: An audit id as a URL path segment, ``NODE~INDEX`` (``hue-1~4096``); the trail then
#: checks the index itself when it parses the id.
AUDIT_ID_PATTERN = rf"^{_NODE}~[0-9]{{1,18}}$"

SOURCE_NAME = re.compile(SOURCE_NAME_PATTERN)
REQUEST_ID = re.compile(REQUEST_ID_PATTERN)
