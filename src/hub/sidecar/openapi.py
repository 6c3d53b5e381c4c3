"""The sidecar's OpenAPI document, checked in at src/hub/schemas/sidecar.openapi.json.

Regenerate after changing the API with ``python -m hub.sidecar.openapi``; a test fails
when the file and the app disagree.
"""

from __future__ import annotations

import json
from typing import Any

from hub._config import HubSettings
from hub.schemas import SCHEMAS_DIR
from hub.sidecar._app import create_app

__all__ = ["document", "write"]

PATH = SCHEMAS_DIR / "sidecar.openapi.json"


def document() -> dict[str, Any]:
    """The OpenAPI document of the app (it does not depend on the configuration)."""
    edge: Any = create_app(HubSettings())
    result: dict[str, Any] = edge.app.openapi()
    return result


def write() -> None:
    PATH.write_text(json.dumps(document(), indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


if __name__ == "__main__":
    write()
