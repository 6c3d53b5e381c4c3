"""Running the sidecar: uvicorn, TLS, graceful shutdown, and the bundled mocks for demos."""

from __future__ import annotations

import asyncio
import secrets
import ssl
import threading
from pathlib import Path
from typing import Any

import httpx
import uvicorn
import uvloop
from uvicorn.config import STARTUP_FAILURE
from uvicorn.supervisors import Multiprocess

from hub._config import ClientSettings, HubSettings, SourceRule
from hub._files import write_new_private
from hub._logging import configure_logging, get_logger
from hub._registry import installed_connectors, installed_mocks
from hub._serving import bind, serve_forever
from hub.connector import Operation
from hub.errors import ConfigError
from hub.sidecar._app import create_app
from hub.sidecar._auth import hash_key
from hub.sidecar._protocol import sidecar_protocol

__all__ = ["demo_client", "per_worker", "serve", "with_mocks"]

log = get_logger("hub.sidecar")

DEMO_CLIENT = "demo-portal"
DEMO_KEY_FILE = "demo-client.key"
#: Where the demo client may have VNeID send a citizen back: a portal on this machine,
#: and the callback the VNeID mock registers for its demo client.
DEMO_REDIRECT_URIS = [
    "http://127.0.0.1:8000/callback",
    "https://dichvucong.example.vn/vneid/callback",
]
#: Seconds a worker may leave the supervisor's ping unanswered before it is replaced.
#: Generous: a worker still importing, or busy, on a loaded machine must not be taken for
#: a hung one and killed (its replacement would be as slow).
WORKER_HEALTHCHECK_SECONDS = 60


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


def per_worker(settings: HubSettings, workers: int) -> HubSettings:
    """The settings of each of ``workers`` processes serving one sidecar.

    Each worker has its own hub: without Redis its rate limits, breakers and cache are
    its own, so each client's ``rate`` and ``burst`` are divided among the workers (the
    kernel spreads connections over them about evenly) and the client keeps about the
    limit it was given. Each worker writes its own audit writer slot, which a node set
    by name does not have.

    Raises:
        ConfigError: ``[audit] node`` is set while several workers are asked for.
    """
    if workers == 1:
        return settings
    if "node" in settings.audit.model_fields_set:
        raise ConfigError(
            f"sidecar.workers: {workers} workers cannot all write audit node"
            f" {settings.audit.node!r}; leave [audit] node unset, and each worker takes a"
            " writer slot of the host's node (<host>.1, <host>.2, ...)"
        )
    if settings.redis_url is not None:
        return settings
    clients = {}
    for name, client in settings.clients.items():
        update: dict[str, Any] = {}
        if client.rate is not None:
            update["rate"] = client.rate / workers
        if client.burst is not None:
            # Rounded down: the limit is a ceiling, the workers together stay under it.
            update["burst"] = max(1, client.burst // workers)
        clients[name] = client.model_copy(update=update)
    return settings.model_copy(update={"clients": clients})


class _WorkerApp:
    """The sidecar of one worker process, made in that process on its first call.

    uvicorn starts each worker as a fresh interpreter and hands it its configuration
    pickled. A sidecar holds a hub, whose connections, locks and audit writer slot belong
    to one process, so each worker makes its own from the settings.
    """

    def __init__(self, settings: HubSettings, *, demo_client: str | None) -> None:
        self._settings = settings
        self._demo_client = demo_client
        self._app: Any = None

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if self._app is None:
            configure_logging(self._settings.logging)
            self._app = create_app(self._settings, demo_client=self._demo_client)
        await self._app(scope, receive, send)


def serve(settings: HubSettings, *, mocks: bool = False) -> None:
    """Run the sidecar until SIGINT/SIGTERM; then finish in-flight work and flush the trail.

    With ``[sidecar] workers`` above 1, a supervisor (uvicorn's) runs that many worker
    processes on one listening socket, replaces one that dies, and on SIGINT/SIGTERM
    stops them all, each finishing its calls and signing its trail.

    Args:
        settings: The configuration (``[sidecar]`` host, port, TLS, workers).
        mocks: Start every bundled mock in this process and point the sources at them;
            with no clients configured, add a demo client (every source, inspector)
            and print a curl command that works.

    Raises:
        ConfigError: the settings cannot be served (see `per_worker`).
        SystemExit: a worker failed to start (its log says why).
    """
    workers = settings.sidecar.worker_count
    settings = per_worker(settings, workers)
    served: list[tuple[Any, Any]] = []
    urls: dict[str, str] = {}
    key = None
    if mocks:
        settings, served, urls = with_mocks(settings)
        if not settings.clients:
            settings, key = demo_client(settings)
    demo = DEMO_CLIENT if key is not None else None
    if workers > 1:
        _serve_workers(settings, workers, served, urls, key, demo_client=demo)
        return
    app = create_app(settings, demo_client=demo)
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


def _serve_workers(
    settings: HubSettings,
    workers: int,
    served: list[tuple[Any, Any]],
    urls: dict[str, str],
    key: str | None,
    *,
    demo_client: str | None,
) -> None:
    """Supervise ``workers`` sidecar processes on one socket until SIGINT/SIGTERM."""
    sock = bind(settings.sidecar.host, settings.sidecar.port)
    config = server_config(
        _WorkerApp(settings, demo_client=demo_client),
        settings,
        workers=workers,
        timeout_worker_healthcheck=WORKER_HEALTHCHECK_SECONDS,
    )
    if served:
        # The mocks stay in the supervisor, in a thread: the workers only call them.
        threading.Thread(
            target=uvloop.run, args=(serve_forever(served),), name="mocks", daemon=True
        ).start()
        if key is not None:
            print(_banner(settings, key, _sample_national_id(urls)), flush=True)
    supervisor = Multiprocess(config, sockets=[sock])
    log.info("sidecar workers starting", workers=workers)
    try:
        supervisor.run()
    finally:
        sock.close()
    if any(process.exitcode == STARTUP_FAILURE for process in supervisor.processes):
        raise SystemExit(STARTUP_FAILURE)
