"""The ``hub`` command: look-ups, the bundled mocks, the audit trail, keys.

Tables for people, ``--json`` for scripts; a failure is one line on standard error
and a non-zero exit status (2 for bad input or configuration, 1 otherwise).
"""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import Callable, Coroutine, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn, TypeVar

import httpx
import typer
from pydantic import BaseModel, ValidationError
from rich.console import Console
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from hub._config import (
    HubSettings,
    LoggingSettings,
    SidecarSettings,
    describe_validation_error,
    load_settings,
)
from hub._logging import configure_logging
from hub._registry import installed_mocks
from hub._serving import ServedApp, bind, serve_forever
from hub.audit._cli import audit_app, keys_audit
from hub.audit._receipt_cli import receipt_app
from hub.errors import ConfigError, HubError, InvalidQuery
from hub.records import Address, CatalogEntry, PersonRef

if TYPE_CHECKING:
    from hub._hub import LookupResult, VerificationResult

__all__ = ["app", "main"]

T = TypeVar("T")

app = typer.Typer(
    name="hub",
    help="Liên thông: look up and authenticate facts in Vietnam's national systems.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
mocks_app = typer.Typer(
    help="The bundled mock servers of the national systems.", no_args_is_help=True
)
keys_app = typer.Typer(
    help="Make keys: the audit signing key, client API keys.", no_args_is_help=True
)
app.add_typer(mocks_app, name="mocks")
app.add_typer(keys_app, name="keys")
app.add_typer(audit_app, name="audit")
app.add_typer(receipt_app, name="receipt")
keys_app.command("audit")(keys_audit)

out = Console()
err = Console(stderr=True)

# The order of DESIGN.md's table of sources: `hub mocks serve` gives them consecutive
# ports in this order; mocks installed by other packages follow, by name.
BUNDLED_ORDER = ("population", "business", "vneid", "driving_licence", "budget_unit", "catalog")
# The top-level modules of the `sidecar` extra: without them `hub serve` cannot run.
_SIDECAR_EXTRA = frozenset({"fastapi", "prometheus_client"})

ConfigOption = Annotated[
    Path | None,
    typer.Option("--config", "-c", help="The hub's TOML configuration.", envvar="HUB_CONFIG"),
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]


def fail(message: str, *, code: int = 1) -> NoReturn:
    err.print(f"[bold red]error:[/] {message}", highlight=False, markup=True)
    raise typer.Exit(code)


def _run(make: Callable[[], Coroutine[Any, Any, T]]) -> T:
    """Run a coroutine, turning the hub's errors into one-line failures."""
    try:
        return asyncio.run(make())
    except ConfigError as exc:
        fail(exc.detail, code=2)
    except InvalidQuery as exc:
        fail(exc.detail, code=2)
    except HubError as exc:
        suffix = f" (audit id {exc.audit_id})" if exc.audit_id else ""
        fail(f"{exc.title}: {exc.detail}{suffix}")


def _settings(config: Path | None) -> HubSettings:
    try:
        settings = load_settings(config)
    except ConfigError as exc:
        fail(exc.detail, code=2)
    configure_logging(LoggingSettings(format="console", level="warning"))
    return settings


def _pairs(values: Sequence[str]) -> dict[str, str]:
    pairs: dict[str, str] = {}
    for item in values:
        key, sep, value = item.partition("=")
        if not sep or not key:
            fail(f"expected key=value, got {item.split('=')[0]!r}...", code=2)
        pairs[key.strip()] = value
    return pairs


def _text(value: Any) -> str:
    """A record value as a person reads it."""
    if value is None:
        return ""
    if isinstance(value, Address):
        codes = ", ".join(
            f"{label} {code}"
            for label, code in (
                ("province", value.province_code),
                ("district", value.district_code),
                ("ward", value.ward_code),
            )
            if code
        )
        return f"{value.text} [{codes}]" if codes else value.text
    if isinstance(value, PersonRef):
        extra = ", ".join(part for part in (value.national_id, value.nationality) if part)
        return f"{value.full_name} ({extra})" if extra else value.full_name
    if isinstance(value, CatalogEntry):
        return f"{value.name} ({value.code})"
    if isinstance(value, BaseModel):
        return json.dumps(value.model_dump(mode="json"), ensure_ascii=False)
    if isinstance(value, list | tuple):
        return "; ".join(_text(item) for item in value)
    return str(getattr(value, "value", value))


def _record_table(title: str, record: BaseModel, fields: Sequence[str]) -> Table:
    table = Table(title=title, show_header=True, title_justify="left")
    table.add_column("field", style="bold")
    table.add_column("value")
    for name in fields:
        # Text, not markup: "[province 75]" must print as written.
        table.add_row(name, Text(_text(getattr(record, name))))
    return table


def _print_lookup(result: LookupResult, as_json: bool) -> None:
    if as_json:
        payload = {
            "source": result.source,
            "record": result.data(),
            "audit_id": result.audit_id,
            "request_id": result.request_id,
        }
        out.print_json(json.dumps(payload, ensure_ascii=False))
        return
    records = result.record if isinstance(result.record, tuple) else (result.record,)
    if not records:
        out.print(f"{result.source}: no records")
    for index, record in enumerate(records, 1):
        title = f"{result.source}: {type(record).__name__}"
        if len(records) > 1:
            title += f" {index}/{len(records)}"
        out.print(_record_table(title, record, result.fields))
    out.print(f"audit id: {result.audit_id}")


def _print_verification(result: VerificationResult, as_json: bool) -> None:
    if as_json:
        payload = {
            "source": result.source,
            "verification": result.verification.model_dump(mode="json"),
            "audit_id": result.audit_id,
            "request_id": result.request_id,
        }
        out.print_json(json.dumps(payload, ensure_ascii=False))
        return
    table = Table(title=f"{result.source}: verification", title_justify="left")
    table.add_column("field", style="bold")
    table.add_column("result")
    for name, match in result.verification.matches.items():
        table.add_row(name, match.value)
    table.add_row("verdict", result.verification.verdict.value, style="bold")
    if result.verification.status:
        table.add_row("status", result.verification.status)
    out.print(table)
    out.print(f"audit id: {result.audit_id}")


Client = Annotated[str, typer.Option("--client", envvar="HUB_CLIENT", help="The calling system.")]
Officer = Annotated[
    str, typer.Option("--officer", envvar="HUB_OFFICER", help="The officer's code.")
]
Procedure = Annotated[str, typer.Option("--procedure", help="The procedure's code, e.g. 1.001757.")]
Dossier = Annotated[str, typer.Option("--dossier", help="The dossier's number.")]


@app.command()
def lookup(
    source: Annotated[str, typer.Argument(help="The source, e.g. population.")],
    query: Annotated[list[str], typer.Argument(help="The query as key=value pairs.")],
    client: Client,
    officer: Officer,
    procedure: Procedure,
    dossier: Dossier,
    fields: Annotated[
        str | None, typer.Option("--fields", help="Comma-separated record fields wanted.")
    ] = None,
    config: ConfigOption = None,
    as_json: JsonOption = False,
) -> None:
    """Look a record up: hub lookup population national_id=037090001234 ..."""
    settings = _settings(config)
    purpose = {"client": client, "officer": officer, "procedure": procedure, "dossier": dossier}
    wanted = [name.strip() for name in fields.split(",")] if fields else None

    async def go() -> LookupResult:
        from hub._hub import Hub

        async with Hub(settings) as hub:
            return await hub.lookup(source, _pairs(query), purpose=purpose, fields=wanted)

    _print_lookup(_run(go), as_json)


@app.command()
def verify(
    source: Annotated[str, typer.Argument(help="The source, e.g. population.")],
    claim: Annotated[list[str], typer.Argument(help="The facts as key=value pairs.")],
    client: Client,
    officer: Officer,
    procedure: Procedure,
    dossier: Dossier,
    config: ConfigOption = None,
    as_json: JsonOption = False,
) -> None:
    """Check facts against a register: hub verify population national_id=... full_name=..."""
    settings = _settings(config)
    purpose = {"client": client, "officer": officer, "procedure": procedure, "dossier": dossier}

    async def go() -> VerificationResult:
        from hub._hub import Hub

        async with Hub(settings) as hub:
            return await hub.verify(source, _pairs(claim), purpose=purpose)

    _print_verification(_run(go), as_json)


@app.command()
def sources(config: ConfigOption = None, as_json: JsonOption = False) -> None:
    """List the configured sources, their operations and their health."""
    settings = _settings(config)

    async def go() -> list[dict[str, Any]]:
        from hub._hub import Hub

        async with Hub(settings) as hub:
            health = await hub.health()
            return [
                {
                    "name": info.name,
                    "title": info.title,
                    "operations": sorted(op.value for op in info.operations),
                    "health": health[info.name].model_dump(mode="json"),
                }
                for info in hub.sources()
            ]

    rows = _run(go)
    if as_json:
        out.print_json(json.dumps(rows, ensure_ascii=False))
        return
    table = Table(title="sources", title_justify="left")
    for column in ("name", "title", "operations", "health"):
        table.add_column(column)
    for row in rows:
        table.add_row(
            row["name"], row["title"], ", ".join(row["operations"]), row["health"]["status"]
        )
    out.print(table)


def _mock_order(names: Sequence[str]) -> list[str]:
    bundled = [name for name in BUNDLED_ORDER if name in names]
    return bundled + sorted(name for name in names if name not in BUNDLED_ORDER)


def mock_sources_toml(urls: dict[str, str]) -> str:
    """The ``[sources.*]`` tables pointing a hub at mocks served at ``urls``."""
    mocks = installed_mocks()
    lines = ["# Points the hub at the bundled mocks (written by `hub mocks serve`)."]
    for name, url in urls.items():
        lines.append(f"\n[sources.{name}]")
        for key, value in mocks[name].hub_settings(url).items():
            lines.append(f"{key} = {json.dumps(value, ensure_ascii=False)}")
    return "\n".join(lines) + "\n"


@mocks_app.command("serve")
def mocks_serve(
    host: Annotated[str, typer.Option(help="The address to listen on.")] = "127.0.0.1",
    port: Annotated[
        int, typer.Option(help="The first port; later mocks take the next ones.")
    ] = 8700,
    seed: Annotated[int, typer.Option(help="The synthetic world's seed.")] = 1,
    citizens: Annotated[int, typer.Option(help="How many synthetic citizens.")] = 10_000,
    config_out: Annotated[
        Path | None, typer.Option("--config-out", help="Write a hub config pointing at the mocks.")
    ] = None,
) -> None:
    """Run every installed mock on loopback, each on its own port, until interrupted."""
    mocks = installed_mocks()
    served: list[tuple[Any, Any]] = []
    urls: dict[str, str] = {}
    for offset, name in enumerate(_mock_order(list(mocks))):
        try:
            sock = bind(host, port + offset)
        except OSError as exc:
            fail(f"cannot listen on {host}:{port + offset} for {name}: {exc.strerror}")
        served.append((mocks[name].create_app(seed=seed, citizens=citizens), sock))
        shown = f"[{host}]" if ":" in host else host
        urls[name] = f"http://{shown}:{port + offset}"
    table = Table(title=f"mocks (seed {seed}, {citizens:,} citizens)", title_justify="left")
    table.add_column("source")
    table.add_column("listens on")
    for name, url in urls.items():
        table.add_row(name, url)
    out.print(table)
    if config_out is not None:
        config_out.write_text(mock_sources_toml(urls), encoding="utf-8")
        out.print(f"hub config written to {config_out}")
    asyncio.run(serve_forever(served, handle_signals=True))


@app.command()
def serve(
    config: ConfigOption = None,
    mocks: Annotated[
        bool,
        typer.Option("--mocks", help="Start the bundled mocks here and point the sources at them."),
    ] = False,
    host: Annotated[str | None, typer.Option(help="Address to listen on [sidecar.host].")] = None,
    port: Annotated[int | None, typer.Option(help="Port to listen on [sidecar.port].")] = None,
    workers: Annotated[
        str | None,
        typer.Option(
            help="Worker processes on the one socket, or 'auto' for one per core [sidecar.workers]."
        ),
    ] = None,
) -> None:
    """Run the sidecar lookup service (HTTP + JSON) until interrupted."""
    try:
        settings = load_settings(config)
    except ConfigError as exc:
        fail(exc.detail, code=2)
    configure_logging(settings.logging)
    overrides = {
        k: v for k, v in (("host", host), ("port", port), ("workers", workers)) if v is not None
    }
    if overrides:
        try:
            sidecar = SidecarSettings.model_validate(
                {**settings.sidecar.model_dump(exclude_unset=True), **overrides}
            )
        except ValidationError as exc:
            fail(describe_validation_error(exc, where="sidecar"), code=2)
        settings = settings.model_copy(update={"sidecar": sidecar})
    try:
        from hub.sidecar import serve as run_sidecar  # the sidecar extra, only when serving
    except ModuleNotFoundError as exc:
        if (exc.name or "").partition(".")[0] not in _SIDECAR_EXTRA:
            raise
        fail(
            escape("the sidecar needs the sidecar extra: pip install 'lienthong[sidecar]'"), code=2
        )

    try:
        run_sidecar(settings, mocks=mocks)
    except ConfigError as exc:
        fail(exc.detail, code=2)
    except OSError as exc:
        fail(f"cannot serve on {settings.sidecar.host}:{settings.sidecar.port}: {exc.strerror}")


@keys_app.command("client")
def keys_client(
    name: Annotated[str, typer.Argument(help="The client's name, e.g. portal-ninhbinh.")],
) -> None:
    """Make a random API key for a client and print the configuration lines for it."""
    import secrets

    from hub.sidecar._auth import hash_key

    key = secrets.token_urlsafe(32)
    out.print(
        f"API key for {name} (give it to the client; it is not stored anywhere):", highlight=False
    )
    out.print(f"  {key}\n", highlight=False)
    out.print("Configuration (hub.toml):", highlight=False)
    lines = [
        f"[clients.{name}]",
        f'key_sha256 = "{hash_key(key)}"',
        "roles = []",
        f"[clients.{name}.sources.population]",
        'operations = ["lookup", "verify"]',
        '# fields = ["national_id", "full_name", "date_of_birth"]   # omitted: every field',
    ]
    out.print("\n".join(lines), highlight=False, markup=False)


@app.command()
def demo(
    data_dir: Annotated[Path, typer.Option(help="Where the audit trail is kept.")] = Path("var"),
) -> None:
    """Start the population mock in-process, then look a citizen up and verify her."""
    from hub._hub import Hub
    from hub._purpose import Purpose

    configure_logging(LoggingSettings(format="console", level="warning"))
    population = installed_mocks()["population"]
    with ServedApp(population.create_app(seed=1, citizens=10_000)) as mock:
        national_id = httpx.get(f"{mock.url}/_admin/sample", params={"n": 1}).json()["keys"][0]
        settings = load_settings(
            None,
            data_dir=str(data_dir),
            sources={"population": population.hub_settings(mock.url)},
        )
        purpose = Purpose(
            client="demo-portal", officer="cb.0001", procedure="1.001757", dossier="DEMO-0001"
        )

        async def go() -> tuple[LookupResult, VerificationResult]:
            async with Hub(settings) as hub:
                found = await hub.lookup(
                    "population", {"national_id": national_id}, purpose=purpose
                )
                citizen: Any = found.record
                checked = await hub.verify(
                    "population",
                    {
                        "national_id": national_id,
                        "full_name": citizen.full_name,
                        "date_of_birth": str(citizen.date_of_birth),
                    },
                    purpose=purpose,
                )
                return found, checked

        out.print(f"population mock at {mock.url}; a synthetic citizen, looked up through the hub:")
        found, checked = _run(go)
        _print_lookup(found, as_json=False)
        out.print("\nand her name and date of birth verified against the register:")
        _print_verification(checked, as_json=False)


def main(argv: Sequence[str] | None = None) -> None:
    """The console script's entry point."""
    app(args=list(argv) if argv is not None else sys.argv[1:], prog_name="hub")
