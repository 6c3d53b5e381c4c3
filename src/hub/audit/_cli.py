"""``hub audit ...``: verify the trail, prove an entry, find a subject, report a period.

Every command reads the hub's configuration (``--config``, else ``$HUB_CONFIG`` or
./hub.toml) and ``--store`` replaces its store URL. Output is a table for people and
JSON with ``--json``; a failure is one line on standard error. Exit status: 0 done,
1 problems found (verify) or nothing to show (proof), 2 the command could not run (bad
option, configuration or store).
"""

from __future__ import annotations

import asyncio
import csv
import io
import json
import sys
from collections.abc import Callable, Coroutine, Iterator
from contextlib import contextmanager
from datetime import datetime
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, NoReturn, TypeVar

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from hub._config import AuditSettings, HubSettings, load_settings
from hub.audit._checkpoint import origin_of
from hub.audit._entry import entry_json_schema, format_time, parse_audit_id
from hub.audit._keys import (
    EntryMac,
    Pseudonymiser,
    generate_audit_keys,
    generate_signing_key,
    load_public_key,
    mac_key,
    pseudonym_key,
    public_key_pem,
    signing_key,
    trusted_keys,
)
from hub.audit._proof import NotCovered, build_proof
from hub.audit._report import GROUP_KEYS, Report, build_report, find_entries
from hub.audit._store import Store, StoreError, open_store
from hub.audit._verify import VerifyReport, verify_trail
from hub.audit._witnessed import WitnessedReport, check_witnessed
from hub.audit.note import ED25519, Verifier
from hub.errors import ConfigError, HubError

__all__ = ["audit_app", "keys_audit"]

T = TypeVar("T")

audit_app = typer.Typer(
    name="audit",
    help="The tamper-evident audit trail: verify it, prove an entry, find a subject, report.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)

out = Console(highlight=False)
err = Console(stderr=True, highlight=False)

#: The width of a table printed to a pipe, wide enough that no cell is cut.
PIPED_WIDTH = 240
#: Seconds the commands wait for the store (longer than an append may: nobody waits
#: on a command the way a citizen waits on a portal).
STORE_TIMEOUT = 30.0

ConfigOption = Annotated[
    Path | None,
    typer.Option("--config", "-c", help="The hub's TOML configuration.", envvar="HUB_CONFIG"),
]
StoreOption = Annotated[
    str | None,
    typer.Option(
        "--store",
        help="The trail's store (sqlite:///PATH or postgresql://...), instead of the"
        " configuration's. Prefer the configuration for a URL with a password.",
    ),
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]


class Format(StrEnum):
    TABLE = "table"
    CSV = "csv"
    JSON = "json"


def _table(table: Table) -> None:
    """A table: as wide as the terminal, or unsqueezed when piped (to a pager, a file)."""
    if out.is_terminal:
        out.print(table)
    else:
        Console(file=sys.stdout, highlight=False, width=PIPED_WIDTH).print(table)


def _line(text: str) -> None:
    """A line of text, never wrapped by the console (a terminal wraps it, a pipe keeps it)."""
    out.print(text, markup=False, soft_wrap=True)


def _fail(message: str, *, code: int) -> NoReturn:
    err.print(f"error: {message}", markup=False, soft_wrap=True)
    raise typer.Exit(code)


def _settings(config: Path | None, store: str | None) -> tuple[HubSettings, AuditSettings]:
    settings = load_settings(config)
    audit = settings.audit
    if store is not None:
        audit = audit.model_copy(update={"store": store})
    return settings, audit


def _print_json(data: Any) -> None:
    """JSON, coloured on a terminal and plain when piped."""
    if out.is_terminal:
        out.print_json(data=data)
    else:
        print(json.dumps(data, indent=2, ensure_ascii=False))


def _run(make: Callable[[], Coroutine[Any, Any, T]]) -> T:
    """Run a coroutine; the errors a command may meet become one-line failures."""
    try:
        return asyncio.run(make())
    except ConfigError as exc:
        _fail(exc.detail, code=2)
    except StoreError as exc:
        _fail(str(exc), code=2)
    except HubError as exc:
        _fail(exc.detail, code=2)


async def _with_store(
    settings: HubSettings, audit: AuditSettings, use: Callable[[Store], Any]
) -> Any:
    store = open_store(audit.store, data_dir=settings.data_dir, timeout=STORE_TIMEOUT)
    try:
        return await use(store)
    finally:
        await store.aclose()


def _instant(value: str | None) -> str | None:
    """An ISO 8601 date or time as entries write it (UTC); without an offset, local time."""
    if value is None:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise typer.BadParameter("expected an ISO 8601 date or time, e.g. 2024-04-01") from None
    return format_time(moment.astimezone())


SinceOption = Annotated[
    str | None,
    typer.Option(
        "--since",
        help="From this date or time (ISO 8601; local time without an offset), inclusive.",
        callback=_instant,
    ),
]
UntilOption = Annotated[
    str | None,
    typer.Option("--until", help="Up to this date or time, exclusive.", callback=_instant),
]


@contextmanager
def _progress(label: str, *, total: bool) -> Iterator[Callable[..., None]]:
    """A progress bar on a terminal; nothing at all when standard error is piped."""
    if not err.is_terminal:
        yield lambda *args: None
        return
    columns: list[Any] = [TextColumn(label)]
    if total:
        columns += [BarColumn(), MofNCompleteColumn()]
    else:
        columns.append(TextColumn("{task.completed:,} entries"))
    columns.append(TimeElapsedColumn())
    with Progress(*columns, console=err, transient=True) as bar:
        task = bar.add_task(label, total=None)

        def update(done: int, of: int | None = None) -> None:
            bar.update(task, completed=done, total=of)

        yield update


# verify


@audit_app.command()
def verify(
    config: ConfigOption = None,
    store: StoreOption = None,
    public_key: Annotated[
        list[Path] | None,
        typer.Option(
            "--public-key",
            help="A PEM public key whose checkpoints are trusted (repeat it for each"
            " writer's key, or across a rotation); by default the configured signing key's"
            " and those of [audit] trusted_keys.",
        ),
    ] = None,
    strict: Annotated[
        bool, typer.Option("--strict", help="Entries not yet signed by a checkpoint fail.")
    ] = False,
    witnessed: Annotated[
        bool,
        typer.Option(
            "--witnessed",
            help="Also hold every writer's store against the newest checkpoints its"
            " witnesses ([audit.witnesses]) cosigned: a store cut back or rewritten fails.",
        ),
    ] = False,
    as_json: JsonOption = False,
) -> None:
    """Recompute every node's tree and check every checkpoint; name each problem found.

    With the MAC key configured, the entries no checkpoint covers yet are proven by
    their MACs too.
    """
    settings, audit = _settings(config, store)
    if witnessed and not audit.witnesses:
        _fail("--witnessed: no [audit.witnesses] are configured", code=2)
    found: list[WitnessedReport] = []

    async def run(trail: Store) -> VerifyReport:
        if public_key:
            keys = [load_public_key(path) for path in public_key]
        else:
            own = signing_key(audit, data_dir=settings.data_dir, create=False).public_key()
            keys = [own, *trusted_keys(audit)]
        try:
            mac: EntryMac | None = EntryMac(
                mac_key(audit, data_dir=settings.data_dir, create=False)
            )
        except ConfigError:
            mac = None
        with _progress("verifying", total=True) as update:
            result = await verify_trail(trail, keys, strict=strict, progress=update, mac=mac)
        if witnessed:
            found.append(
                await check_witnessed(
                    trail,
                    keys,
                    audit.witnesses,
                    quorum=audit.quorum,
                    origin_prefix=audit.origin_prefix,
                    nodes=[audit.node],
                )
            )
            result.problems += found[0].problems
            result.warnings += found[0].warnings
        return result

    report: VerifyReport = _run(lambda: _with_store(settings, audit, run))
    if as_json:
        data = _verify_json(report)
        if found:
            data["witnessed"] = [
                {"node": node, "witnessed_size": size, "entries": entries}
                for node, size, entries in found[0].nodes
            ]
        _print_json(data)
    else:
        for node, size, entries in found[0].nodes if found else []:
            shown = f"{size:,}" if size is not None else "none"
            _line(f"node {node}: witnessed size {shown}, {entries:,} entries in the store")
        _print_verify(report)
    if not report.ok:
        raise typer.Exit(1)


def _verify_json(report: VerifyReport) -> dict[str, Any]:
    return {
        "ok": report.ok,
        "nodes": [
            {
                "node": node.node,
                "entries": node.entries,
                "checkpoints": node.checkpoints,
                "unsigned": node.unsigned,
                "newest_checkpoint": (
                    node.newest.model_dump(mode="json") if node.newest is not None else None
                ),
            }
            for node in report.nodes
        ],
        "problems": report.problems,
        "warnings": report.warnings,
    }


def _print_verify(report: VerifyReport) -> None:
    if report.nodes:
        table = Table("node", "entries", "checkpoints", "newest checkpoint", "signed", "unsigned")
        for node in report.nodes:
            newest = node.newest
            table.add_row(
                node.node,
                f"{node.entries:,}",
                f"{node.checkpoints:,}",
                format_time(newest.time) if newest else "-",
                f"{newest.size:,}" if newest else "0",
                f"{node.unsigned:,}",
            )
        _table(table)
    newest_time = report.newest_checkpoint_time
    _line(
        f"{len(report.nodes)} nodes, {report.entries:,} entries, {report.checkpoints:,}"
        f" checkpoints; newest checkpoint {format_time(newest_time) if newest_time else 'none'}"
    )
    for warning in report.warnings:
        _line(f"warning: {warning}")
    for problem in report.problems:
        _line(f"problem: {problem}")
    if report.ok:
        _line("verified: every tree reproduces its signed checkpoints")
    else:
        _line(f"FAILED: {len(report.problems)} problems")


# proof


@audit_app.command()
def proof(
    audit_id: Annotated[str, typer.Argument(help="The entry's audit id, e.g. hue-1~42.")],
    config: ConfigOption = None,
    store: StoreOption = None,
) -> None:
    """Print the inclusion proof of one entry against its node's newest checkpoint (JSON)."""
    try:
        node, index = parse_audit_id(audit_id)
    except ValueError as exc:
        _fail(str(exc), code=2)
    settings, audit = _settings(config, store)

    async def run(trail: Store) -> Any:
        async with trail.snapshot() as snapshot:
            try:
                return await build_proof(snapshot, node, index)
            except NotCovered as exc:
                return exc

    result = _run(lambda: _with_store(settings, audit, run))
    if isinstance(result, NotCovered):
        _fail(f"{result} (no such entry, or the next checkpoint is not due yet)", code=1)
    _print_json(result.model_dump(mode="json"))


# find


@audit_app.command()
def find(
    subject: Annotated[
        str,
        typer.Option(
            "--subject", help="The subject's identifier (national id, enterprise code ...)."
        ),
    ],
    since: SinceOption = None,
    until: UntilOption = None,
    config: ConfigOption = None,
    store: StoreOption = None,
    as_json: JsonOption = False,
) -> None:
    """Who looked this subject up, when, for which procedure and dossier, and what they saw."""
    settings, audit = _settings(config, store)

    async def run(trail: Store) -> Any:
        key = pseudonym_key(audit, data_dir=settings.data_dir, create=False)
        return await find_entries(trail, Pseudonymiser(key)(subject), since=since, until=until)

    found = _run(lambda: _with_store(settings, audit, run))
    if as_json:
        _print_json(
            [{"audit_id": item.audit_id, **item.entry.model_dump(mode="json")} for item in found]
        )
        return
    table = Table(
        "time", "audit id", "client", "officer", "procedure", "dossier", "source", "operation",
        "fields", "outcome",
    )  # fmt: skip
    for item in found:
        entry = item.entry
        table.add_row(
            format_time(entry.time),
            item.audit_id,
            entry.client,
            entry.officer,
            entry.procedure,
            entry.dossier,
            entry.source,
            entry.operation,
            ", ".join(entry.fields) or "-",
            entry.outcome.value + (f" ({entry.error})" if entry.error else ""),
        )
    _table(table)
    _line(f"{len(found)} entries")


# report


@audit_app.command()
def report(
    since: SinceOption = None,
    until: UntilOption = None,
    by: Annotated[
        str, typer.Option("--by", help=f"Group by these, comma-separated: {', '.join(GROUP_KEYS)}.")
    ] = "client,procedure,source",
    output: Annotated[Format, typer.Option("--format", help="table, csv or json.")] = Format.TABLE,
    config: ConfigOption = None,
    store: StoreOption = None,
) -> None:
    """Look-ups and dossiers per group, outcome rates, upstream latency, e-ID dossiers."""
    keys = tuple(key.strip() for key in by.split(",") if key.strip())
    unknown = [key for key in keys if key not in GROUP_KEYS]
    if unknown:
        _fail(f"--by: cannot group by {', '.join(unknown)}; use {', '.join(GROUP_KEYS)}", code=2)
    settings, audit = _settings(config, store)

    async def run(trail: Store) -> Report:
        with _progress("reading", total=False) as update:
            return await build_report(trail, by=keys, since=since, until=until, progress=update)

    result: Report = _run(lambda: _with_store(settings, audit, run))
    if output is Format.JSON:
        _print_json(result.as_json())
    elif output is Format.CSV:
        _print_csv(result)
    else:
        _print_report(result)


_FIGURES = (
    ("lookups", "look-ups"),
    ("dossiers", "dossiers"),
    ("ok_rate", "ok"),
    ("denied_rate", "denied"),
    ("invalid_rate", "invalid"),
    ("not_found_rate", "not found"),
    ("failed_rate", "failed"),
    ("p50_upstream_ms", "p50 ms"),
    ("p95_upstream_ms", "p95 ms"),
    ("eid_dossiers", "e-ID dossiers"),
)


def _cell(name: str, value: Any) -> str:
    if value is None:
        return "-"
    if name.endswith("_rate"):
        return f"{value:.1%}"
    if isinstance(value, int):
        return f"{value:,}"
    return f"{value:,.1f}"


def _print_report(result: Report) -> None:
    table = Table(*result.by, *(title for _, title in _FIGURES))
    for row in result.rows:
        table.add_row(*(row[key] for key in result.by), *(_cell(n, row[n]) for n, _ in _FIGURES))
    totals = result.totals
    table.add_section()
    table.add_row(
        "all", *([""] * (len(result.by) - 1)), *(_cell(n, totals[n]) for n, _ in _FIGURES)
    )
    _table(table)
    period = f"{result.since or 'the beginning'} to {result.until or 'now'}"
    _line(
        f"{period}: {totals['lookups']:,} look-ups, {totals['dossiers']:,} dossiers;"
        f" {totals['eid_dossiers']:,} dossiers used population data for electronic"
        " identification"
    )


def _print_csv(result: Report) -> None:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow([*result.by, *(name for name, _ in _FIGURES)])
    for row in [*result.rows, {**dict.fromkeys(result.by, ""), **result.totals}]:
        writer.writerow([*(row[key] for key in result.by), *(row[n] for n, _ in _FIGURES)])
    # The totals row is the last, its group columns empty.
    print(buffer.getvalue(), end="")


# keys


class KeyFormat(StrEnum):
    PEM = "pem"
    VKEY = "vkey"


@audit_app.command("public-key")
def public_key(
    config: ConfigOption = None,
    key_format: Annotated[
        KeyFormat,
        typer.Option(
            "--format",
            help="pem, or vkey: the C2SP verifier key of each node's checkpoints"
            " (name+keyid+key), for witnesses and note verifiers.",
        ),
    ] = KeyFormat.PEM,
    nodes: Annotated[
        list[str] | None,
        typer.Option(
            "--node",
            help="With --format vkey: the node (writer) whose origin names the key;"
            " repeat for several. By default the configured node.",
        ),
    ] = None,
) -> None:
    """Print the public key of the configured signing key, for inspectors and witnesses.

    A checkpoint's key name is its origin, ``[audit] origin_prefix`` and the node, so a
    vkey is per node: print one per writer a witness is to follow.
    """
    settings, audit = _settings(config, None)
    try:
        key = signing_key(audit, data_dir=settings.data_dir, create=False)
    except ConfigError as exc:
        _fail(exc.detail, code=2)
    if key_format is KeyFormat.PEM:
        print(public_key_pem(key.public_key()), end="")
        return
    for node in nodes or [audit.node]:
        origin = origin_of(audit.origin_prefix, node)
        print(Verifier(origin, ED25519, key.public_key()).vkey)


@audit_app.command("schema", hidden=True)
def schema() -> None:
    """Print the JSON Schema of an audit entry (src/hub/schemas/audit-entry.schema.json)."""
    print(json.dumps(entry_json_schema(), indent=2, ensure_ascii=False))


def keys_audit(
    out_file: Annotated[
        Path,
        typer.Option("--out", "-o", help="Where to write the private key (PEM, mode 0600)."),
    ] = Path("audit-signing.pem"),
    public_out: Annotated[
        Path | None, typer.Option("--public-out", help="Also write the public key here.")
    ] = None,
    folder: Annotated[
        Path | None,
        typer.Option(
            "--dir",
            help="Make every key of a trail (signing, pseudonym, MAC) in this folder and"
            " print the [audit] lines that name them; give every replica the same files.",
        ),
    ] = None,
    force: Annotated[bool, typer.Option("--force", help="Replace an existing key file.")] = False,
) -> None:
    """Make the Ed25519 key pair that signs audit checkpoints; print the public key.

    Configure the private key (--out) as audit signing_key = "file:PATH".

    Inspectors check checkpoints with the public key: verify --public-key FILE.
    """
    if folder is not None:
        try:
            paths = generate_audit_keys(folder)
        except FileExistsError as exc:
            _fail(f"key files exist: {exc}; a trail's keys are never replaced here", code=2)
        except OSError as exc:
            _fail(f"cannot write in {folder}: {exc.strerror}", code=2)
        print("[audit]")
        for name in ("signing_key", "pseudonym_key", "mac_key"):
            print(f'{name} = "file:{paths[name].absolute()}"')
        err.print(f"public key for inspectors: {paths['public_key']}", markup=False, soft_wrap=True)
        return
    try:
        pem = generate_signing_key(out_file, overwrite=force)
    except FileExistsError:
        _fail(f"{out_file} exists; use --force to replace it", code=2)
    except OSError as exc:
        _fail(f"cannot write {out_file}: {exc.strerror}", code=2)
    if public_out is not None:
        public_out.write_text(pem, encoding="utf-8")
    print(pem, end="")
    err.print(
        f'private key written to {out_file}; in the audit section: signing_key = "file:{out_file}"',
        markup=False,
        soft_wrap=True,
    )


# witness

witness_app = typer.Typer(
    name="witness",
    help="A transparency-log witness (C2SP tlog-witness) for an inspectorate to run.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
audit_app.add_typer(witness_app)

WitnessConfigOption = Annotated[
    Path | None,
    typer.Option("--config", "-c", help="The witness's TOML file (name, key, state, port, logs)."),
]
WitnessKeyOption = Annotated[
    Path | None,
    typer.Option("--key", help="Its Ed25519 private key (PEM), e.g. from hub keys audit --out."),
]


def _witness_config(config: Path | None, **overrides: Any) -> Any:
    from hub.witness import load_witness

    try:
        return load_witness(config, **overrides)
    except ConfigError as exc:
        _fail(exc.detail, code=2)


@witness_app.command("serve")
def witness_serve(
    config: WitnessConfigOption = None,
    key: WitnessKeyOption = None,
    state: Annotated[
        Path | None, typer.Option("--state", help="Its state folder (witness.db).")
    ] = None,
    port: Annotated[int | None, typer.Option("--port", help="The port to listen on.")] = None,
    host: Annotated[str | None, typer.Option("--host", help="The address to listen on.")] = None,
    name: Annotated[str | None, typer.Option("--name", help="Its name (key name).")] = None,
) -> None:
    """Serve POST /add-checkpoint and GET /<origin hash>/checkpoint until stopped."""
    import uvicorn

    from hub.witness import Witness, WitnessState, witness_app

    settings = _witness_config(config, key=key, state=state, port=port, host=host, name=name)
    try:
        signer = settings.signer()
    except ConfigError as exc:
        _fail(exc.detail, code=2)
    if not settings.logs:
        _fail("the witness follows no log: list their vkeys in logs = [...]", code=2)
    witness = Witness(signer=signer, logs=settings.verifiers(), state=WitnessState(settings.state))
    err.print(f"witness {signer.verifier.vkey}", markup=False, soft_wrap=True)
    uvicorn.run(witness_app(witness), host=settings.host, port=settings.port, log_level="warning")


@witness_app.command("vkey")
def witness_vkey(
    config: WitnessConfigOption = None,
    key: WitnessKeyOption = None,
    name: Annotated[str | None, typer.Option("--name", help="Its name (key name).")] = None,
) -> None:
    """Print the witness's verifier key, for the hub's [audit.witnesses.NAME] public_key."""
    settings = _witness_config(config, key=key, name=name, state=Path())
    try:
        print(settings.signer().verifier.vkey)
    except ConfigError as exc:
        _fail(exc.detail, code=2)
