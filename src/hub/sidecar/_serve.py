"""Running the sidecar: uvicorn, TLS, graceful shutdown, and the bundled mocks for demos."""

from __future__ import annotations

import asyncio
import secrets
import ssl
from pathlib import Path
from typing import Any

import httpx
import uvicorn
import uvloop

from hub._config import ClientSettings, HubSettings, SourceRule
from hub._files import write_new_private
from hub._logging import get_logger
from hub._registry import installed_connectors, installed_mocks
from hub._serving import bind, serve_forever
from hub.connector import Operation
from hub.sidecar._app import create_app
from hub.sidecar._auth import hash_key
from hub.sidecar._protocol import sidecar_protocol

__all__ = ["demo_client", "serve", "with_mocks"]

log = get_logger("hub.sidecar")

DEMO_CLIENT = "demo-portal"
DEMO_KEY_FILE = "demo-client.key"
#: Where the demo client may have VNeID send a citizen back: a portal on this machine,
#: and the callback the VNeID mock registers for its demo client.
DEMO_REDIRECT_URIS = [
    "http://127.0.0.1:8000/callback",
    "https://dichvucong.example.vn/vneid/callback",
]


def server_config(app: Any, settings: HubSettings, **overrides: Any) -> uvicorn.Config:
    """uvicorn for the sidecar: uvloop and httptools with read deadlines, a bound on
    connections, TLS when configured, a grace period."""
    sidecar = settings.sidecar
    options: dict[str, Any] = {
        "host": sidecar.host,
        "port": sidecar.port,
        "loop": "uvloop",
        "http": sidecar_protocol(
            header_timeout=sidecar.header_timeout, body_timeout=sidecar.body_timeout
        ),
        "ws": "none",
        "limit_concurrency": sidecar.max_connections,
        "lifespan": "on",
        "access_log": False,
        "log_config": None,
        "timeout_graceful_shutdown": sidecar.shutdown_grace,
        "server_header": False,
    }
    if sidecar.tls_cert is not None:
        options.update(
            ssl_certfile=str(sidecar.tls_cert),
            ssl_keyfile=str(sidecar.tls_key) if sidecar.tls_key else None,
        )
        if sidecar.tls_client_ca is not None:
            # Optional: clients may still use keys; a certificate, if given, must verify.
            options.update(ssl_ca_certs=str(sidecar.tls_client_ca), ssl_cert_reqs=ssl.CERT_OPTIONAL)
    options.update(overrides)
    return uvicorn.Config(app, **options)


def demo_client(settings: HubSettings) -> tuple[HubSettings, str]:
    """Add a demo client that may do everything, its key kept under the data directory.

    The key is made on first start and reused after, so a pasted command keeps working.
    A VNeID login it starts may send the citizen back to `DEMO_REDIRECT_URIS` only.
    """
    path = Path(settings.data_dir) / DEMO_KEY_FILE
    if path.is_file():
        key = path.read_text(encoding="utf-8").strip()
    else:
        key = secrets.token_urlsafe(32)
        if not write_new_private(path, (key + "\n").encode()):
            key = path.read_text(encoding="utf-8").strip()
    connectors = installed_connectors()
    rules = {
        name: SourceRule(
            operations=sorted(op.value for op in connectors[name].operations),
            redirect_uris=(
                DEMO_REDIRECT_URIS if Operation.AUTHENTICATE in connectors[name].operations else []
            ),
        )
        for name in settings.sources
        if name in connectors
    }
    client = ClientSettings(
        key_sha256=hash_key(key),
        roles=["inspector", "citizen-portal"],
        title="Cổng dịch vụ công (thử nghiệm)",
        sources=rules,
    )
    return settings.model_copy(update={"clients": {**settings.clients, DEMO_CLIENT: client}}), key


def with_mocks(
    settings: HubSettings, host: str = "127.0.0.1"
) -> tuple[HubSettings, list[tuple[Any, Any]], dict[str, str]]:
    """Point every installed source at its bundled mock, on free loopback ports."""
    served = []
    urls = {}
    sources = dict(settings.sources)
    for name, mock in installed_mocks().items():
        sock = bind(host, 0)
        url = f"http://{host}:{sock.getsockname()[1]}"
        served.append((mock.create_app(seed=1, citizens=10_000), sock))
        urls[name] = url
        sources[name] = {**sources.get(name, {}), **mock.hub_settings(url)}
    return settings.model_copy(update={"sources": sources}), served, urls


def _sample_national_id(urls: dict[str, str]) -> str:
    population = urls.get("population")
    if population is None:
        return "037090001234"
    keys: list[str] = httpx.get(f"{population}/_admin/sample", params={"n": 1}).json()["keys"]
    return keys[0]


def _banner(settings: HubSettings, key: str, national_id: str) -> str:
    base = f"http://{settings.sidecar.host}:{settings.sidecar.port}"
    body = (
        '{"query": {"national_id": "' + national_id + '"}, '
        '"purpose": {"officer": "cb.0001", "procedure": "1.001757", "dossier": "DEMO-0001"}}'
    )
    return "\n".join(
        [
            f"Liên thông sidecar on {base} with the bundled mocks;"
            f" audit trail under {settings.data_dir}/",
            f"demo client {DEMO_CLIENT!r}, key (kept in {settings.data_dir}/{DEMO_KEY_FILE}):",
            f"  {key}",
            "look a synthetic citizen up:",
            f"  curl -s {base}/v1/sources/population/lookup \\",
            f"    -H 'Authorization: Bearer {key}' -H 'Content-Type: application/json' \\",
            f"    -d '{body}'",
            f"a citizen's access history, after a VNeID login: {base}/demo/",
            "stop with Ctrl-C.",
        ]
    )


def serve(settings: HubSettings, *, mocks: bool = False) -> None:
    """Run the sidecar until SIGINT/SIGTERM; then finish in-flight work and flush the trail.

    Args:
        settings: The configuration (``[sidecar]`` host, port, TLS).
        mocks: Start every bundled mock in this process and point the sources at them;
            with no clients configured, add a demo client (every source, inspector)
            and print a curl command that works.
    """
    served: list[tuple[Any, Any]] = []
    urls: dict[str, str] = {}
    key = None
    if mocks:
        settings, served, urls = with_mocks(settings)
        if not settings.clients:
            settings, key = demo_client(settings)
    app = create_app(settings, demo_client=DEMO_CLIENT if key is not None else None)
    server = uvicorn.Server(server_config(app, settings))

    async def main() -> None:
        mock_task = asyncio.create_task(serve_forever(served)) if served else None
        try:
            if key is not None:
                national_id = await asyncio.to_thread(_sample_national_id, urls)
                print(_banner(settings, key, national_id), flush=True)
            await server.serve()
        finally:
            if mock_task is not None:
                mock_task.cancel()
                await asyncio.gather(mock_task, return_exceptions=True)

    # uvicorn picks uvloop itself only when it owns the loop; here the mocks share it.
    uvloop.run(main())
