"""``hub receipt verify``: does a receipt hold, for the data kept with it, in the trail?

An inspector holds a dossier's receipt, the data the portal kept with it, and a proof
bundle (fetched earlier from the sidecar, or now with ``--online``). The command
checks the receipt's signature with the published keys, the data against the
receipt's digest, and the entry's inclusion in a checkpoint the witnesses cosigned;
it prints what it checked and a verdict. Exit status: 0 the receipt holds, 1 it does
not (the reason is printed), 2 the command could not run.
"""

from __future__ import annotations

import re
import warnings
from pathlib import Path
from typing import Annotated, Any, NoReturn

import httpx
import orjson
import typer
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from joserfc.errors import SecurityWarning
from joserfc.jwk import OKPKey
from pydantic import ValidationError
from rich.console import Console

from hub._config import load_settings
from hub._logging import register_secret
from hub.audit._keys import signing_key, trusted_keys
from hub.audit._receipt import (
    ProofBundle,
    ReceiptClaims,
    ReceiptError,
    check_bundle,
    data_digest,
    jwks,
    read_receipt,
)
from hub.audit.note import COSIGNATURE, NoteError, Verifier
from hub.errors import ConfigError

__all__ = ["receipt_app"]

receipt_app = typer.Typer(
    name="receipt",
    help="Signed receipts of look-ups: check one kept in a dossier.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)

out = Console(highlight=False)
err = Console(stderr=True, highlight=False)

_COMPACT = re.compile(r"[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+")
#: Seconds to wait for the sidecar with ``--online``.
FETCH_TIMEOUT = 10.0


class _Invalid(Exception):
    """The receipt does not hold; the message says why."""


def _fail(message: str, *, code: int) -> NoReturn:
    err.print(f"error: {message}", markup=False, soft_wrap=True)
    raise typer.Exit(code)


def _line(label: str, text: str) -> None:
    out.print(f"{label:<10} {text}", markup=False, soft_wrap=True)


@receipt_app.command("verify")
def verify(
    receipt: Annotated[
        str, typer.Argument(help="The receipt (compact JWS), or a file holding it.")
    ],
    record: Annotated[
        Path | None,
        typer.Option(
            "--record",
            help="The data the answer carried, as kept in the dossier (JSON: the record,"
            " verification or identity): checked against the receipt's digest.",
        ),
    ] = None,
    proof: Annotated[
        Path | None,
        typer.Option("--proof", help="The entry's proof bundle (JSON), fetched earlier."),
    ] = None,
    online: Annotated[
        str | None,
        typer.Option(
            "--online",
            help="The sidecar's URL: fetch the proof bundle (and, without --jwks, the keys)"
            " now. The client's API key comes from $HUB_API_KEY.",
        ),
    ] = None,
    keys: Annotated[
        Path | None,
        typer.Option(
            "--jwks",
            help="The trail's published keys (the sidecar's /.well-known/jwks.json); by"
            " default fetched with --online, else the configured signing and trusted keys.",
        ),
    ] = None,
    witness: Annotated[
        list[str] | None,
        typer.Option(
            "--witness",
            help="A witness's vkey (repeat for each); by default [audit.witnesses].",
        ),
    ] = None,
    quorum: Annotated[
        int | None,
        typer.Option(
            "--quorum",
            min=1,
            help="Cosignatures needed; by default every --witness, or [audit] witness_quorum.",
        ),
    ] = None,
    config: Annotated[
        Path | None,
        typer.Option("--config", "-c", help="The hub's TOML configuration.", envvar="HUB_CONFIG"),
    ] = None,
    api_key: Annotated[
        str | None, typer.Option(envvar="HUB_API_KEY", hidden=True, show_default=False)
    ] = None,
) -> None:
    """Check a receipt: its signature, the data kept with it, its entry in the trail."""
    if proof is not None and online is not None:
        _fail("--proof and --online: give one of them", code=2)
    if api_key:
        register_secret(api_key)
    token = _receipt_text(receipt)
    headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
    with (
        httpx.Client(base_url=online or "", headers=headers, timeout=FETCH_TIMEOUT) as client,
        warnings.catch_warnings(),
    ):
        # RFC 9864 deprecates the name EdDSA for Ed25519; receipts keep the name every
        # JOSE library reads, so the library's warning says nothing to an inspector.
        warnings.simplefilter("ignore", SecurityWarning)
        key_set = _key_set(keys, online, config, client)
        try:
            claims, kid = read_receipt(token, key_set)
        except ReceiptError as exc:
            _verdict_invalid(str(exc))
        _line("receipt", _describe(claims))
        _line("signature", f"holds (key {kid})")
        try:
            _check_record(record, claims)
            if proof is None and online is None:
                _line("trail", "not checked (give --proof or --online)")
                out.print("verdict: VALID (signature and data only)", markup=False)
                return
            bundle = _bundle(proof, claims, client)
            cosigners, needed = _witnesses(witness, quorum, config)
            log_key = _public_key(key_set, kid)
            size, cosigned = check_bundle(bundle, claims, log_key, cosigners, quorum=needed)
        except (ReceiptError, _Invalid) as exc:
            _verdict_invalid(str(exc))
    _line(
        "trail",
        f"entry {claims.audit_id} is in the checkpoint of size {size}, cosigned by"
        f" {', '.join(cosigned)} ({len(cosigned)} of {needed} needed)",
    )
    out.print("verdict: VALID", markup=False)


def _verdict_invalid(reason: str) -> NoReturn:
    out.print(f"verdict: INVALID: {reason}", markup=False, soft_wrap=True)
    raise typer.Exit(1)


def _describe(claims: ReceiptClaims) -> str:
    return (
        f"{claims.audit_id}: {claims.operation} in {claims.source} at {claims.time} by"
        f" {claims.client} (officer {claims.officer}, procedure {claims.procedure},"
        f" dossier {claims.dossier}); fields {', '.join(claims.fields) or 'none'}"
    )


def _receipt_text(given: str) -> str:
    if _COMPACT.fullmatch(given.strip()):
        return given.strip()
    try:
        return Path(given).read_text(encoding="utf-8").strip()
    except OSError as exc:
        _fail(f"RECEIPT: neither a compact JWS nor a readable file ({exc.strerror})", code=2)


def _read_json(path: Path, option: str) -> Any:
    try:
        return orjson.loads(path.read_bytes())
    except OSError as exc:
        _fail(f"{option}: cannot read {path}: {exc.strerror}", code=2)
    except orjson.JSONDecodeError:
        _fail(f"{option}: {path} is not JSON", code=2)


def _key_set(
    path: Path | None, online: str | None, config: Path | None, client: httpx.Client
) -> dict[str, Any]:
    if path is not None:
        found = _read_json(path, "--jwks")
        if not isinstance(found, dict):
            _fail("--jwks: not a JWKS (an object with keys)", code=2)
        return found
    if online is not None:
        try:
            answer = client.get("/.well-known/jwks.json")
            answer.raise_for_status()
            return dict(answer.json())
        except (httpx.HTTPError, ValueError) as exc:
            _fail(f"--online: cannot fetch the keys ({type(exc).__name__})", code=2)
    try:
        settings = load_settings(config)
        audit = settings.audit
        own = signing_key(audit, data_dir=settings.data_dir, create=False).public_key()
        return jwks([own, *trusted_keys(audit)])
    except ConfigError as exc:
        _fail(f"no keys: give --jwks or --online ({exc.detail})", code=2)


def _public_key(key_set: dict[str, Any], kid: str) -> Ed25519PublicKey:
    for item in key_set.get("keys", []):
        if item.get("kid") == kid:
            key = OKPKey.import_key(item).public_key
            if isinstance(key, Ed25519PublicKey):
                return key
    raise _Invalid(f"key {kid} is not an Ed25519 key")


def _check_record(path: Path | None, claims: ReceiptClaims) -> None:
    if path is None:
        _line("record", "not checked (give --record)")
        return
    if data_digest(_read_json(path, "--record")) != claims.digest:
        raise _Invalid(
            "the record does not match the receipt's digest: it is not the data the"
            " answer carried (altered, or another answer's)"
        )
    _line("record", "matches the receipt's digest")


def _bundle(path: Path | None, claims: ReceiptClaims, client: httpx.Client) -> ProofBundle:
    if path is not None:
        found = _read_json(path, "--proof")
    else:
        try:
            answer = client.get(f"/v1/audit/{claims.audit_id}/bundle")
        except httpx.HTTPError as exc:
            _fail(f"--online: cannot reach the sidecar ({type(exc).__name__})", code=2)
        if answer.status_code == 404:
            raise _Invalid(_detail(answer))
        if answer.status_code != 200:
            _fail(f"--online: the sidecar answered {answer.status_code}: {_detail(answer)}", code=2)
        found = answer.json()
    try:
        return ProofBundle.model_validate(found)
    except ValidationError:
        _fail("--proof: not a proof bundle", code=2)


def _detail(answer: httpx.Response) -> str:
    try:
        return str(answer.json().get("detail", answer.reason_phrase))
    except ValueError:
        return answer.reason_phrase


def _witnesses(
    given: list[str] | None, quorum: int | None, config: Path | None
) -> tuple[list[Verifier], int]:
    if given:
        try:
            verifiers = [Verifier.from_vkey(vkey) for vkey in given]
        except NoteError as exc:
            _fail(f"--witness: not a vkey ({exc})", code=2)
        if any(item.kind != COSIGNATURE for item in verifiers):
            _fail("--witness: a witness's vkey is a cosignature key (type 0x04)", code=2)
        needed = quorum if quorum is not None else len(verifiers)
    else:
        try:
            audit = load_settings(config).audit
        except ConfigError as exc:
            _fail(exc.detail, code=2)
        if not audit.witnesses:
            _fail("no witnesses: give --witness or configure [audit.witnesses]", code=2)
        verifiers = [Verifier.from_vkey(item.public_key) for item in audit.witnesses.values()]
        needed = quorum if quorum is not None else audit.quorum
    if needed > len(verifiers):
        _fail(f"--quorum {needed}: more than the {len(verifiers)} witnesses given", code=2)
    return verifiers, needed
