"""The sidecar lookup service (``hub serve``): the hub over HTTP + JSON.

Needs the ``sidecar`` extra (FastAPI, Prometheus client). `create_app` gives the ASGI
app for any ASGI server; `serve` runs it on uvicorn, optionally with the bundled mocks.
"""

from hub.sidecar._app import create_app
from hub.sidecar._auth import hash_key
from hub.sidecar._serve import serve

__all__ = ["create_app", "hash_key", "serve"]
