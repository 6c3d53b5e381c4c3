"""The witness's HTTP interface (c2sp.org/tlog-witness): add-checkpoint, and the monitor read."""

from __future__ import annotations

import base64
import binascii
import hashlib
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from hub._logging import get_logger
from hub.audit.note import (
    COSIGNATURE,
    NoteError,
    Signer,
    Verifier,
    open_note,
    parse_checkpoint_text,
    parse_note,
)
from hub.witness._state import Refused, WitnessState

__all__ = ["Witness", "witness_app"]

log = get_logger("hub.witness")

#: A request is an old size, at most 63 proof lines and a checkpoint with few signatures.
MAX_BODY = 64 * 1024
MAX_PROOF = 63
SIZE_TYPE = "text/x.tlog.size"


@dataclass(slots=True)
class Witness:
    """A witness: its cosigning key under its name, the logs it follows, its state.

    Args:
        signer: The witness's Ed25519 key and name (cosignature type 0x04).
        logs: The verifier keys of the logs it cosigns (the vkey name is the origin).
        state: Where it remembers each log's newest cosigned checkpoint.
    """

    signer: Signer
    logs: Sequence[Verifier]
    state: WitnessState
    _by_origin: dict[str, list[Verifier]] = field(init=False)

    def __post_init__(self) -> None:
        if self.signer.kind != COSIGNATURE:
            raise ValueError("a witness signs cosignatures (type 0x04)")
        self._by_origin = {}
        for verifier in self.logs:
            self._by_origin.setdefault(verifier.name, []).append(verifier)

    def add_checkpoint(self, body: bytes) -> tuple[int, str, str]:
        """Handle one add-checkpoint request body: (status, content type, response body)."""
        try:
            old, proof, note_data = _split_request(body)
            note = parse_note(note_data)
            checkpoint = parse_checkpoint_text(note.text)
        except NoteError as exc:
            return 400, "text/plain", f"{exc}\n"
        verifiers = self._by_origin.get(checkpoint.origin)
        if verifiers is None:
            return 404, "text/plain", "unknown log origin\n"
        try:
            open_note(note, verifiers)
        except NoteError:
            return 403, "text/plain", "no valid signature by the log's key\n"
        if old > checkpoint.size:
            return 400, "text/plain", "the old size is larger than the checkpoint's\n"

        def cosign() -> tuple[str, str]:
            line = self.signer.sign(note.text, timestamp=int(time.time()))
            return line.line, str(note.with_signatures([line]))

        try:
            line = self.state.advance(
                checkpoint.origin,
                old=old,
                size=checkpoint.size,
                root=checkpoint.root,
                proof=proof,
                cosign=cosign,
            )
        except Refused as exc:
            if exc.status == 409:
                return 409, SIZE_TYPE, f"{exc.size}\n"
            # Signed by the log and inconsistent: evidence of misbehaviour, kept in the log.
            log.warning(
                "witness refused a checkpoint",
                origin=checkpoint.origin,
                old=old,
                size=checkpoint.size,
                reason=exc.reason,
                checkpoint=note_data,
            )
            return exc.status, "text/plain", f"{exc.reason}\n"
        log.info("witness cosigned", origin=checkpoint.origin, old=old, size=checkpoint.size)
        return 200, "text/plain; charset=utf-8", line

    def latest(self, origin_hash: str) -> str | None:
        """The newest cosigned checkpoint of the log whose origin hashes to ``origin_hash``."""
        for origin in self._by_origin:
            if hashlib.sha256(origin.encode()).hexdigest() == origin_hash:
                found = self.state.latest(origin)
                return None if found is None else found.checkpoint
        return None


def _split_request(body: bytes) -> tuple[int, list[bytes], str]:
    """The old size, the proof hashes and the checkpoint of an add-checkpoint body."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise NoteError("the request is UTF-8") from None
    head, sep, checkpoint = text.partition("\n\n")
    if not sep:
        raise NoteError("the request has a blank line before the checkpoint")
    lines = head.split("\n")
    word, _, number = lines[0].partition(" ")
    if word != "old" or not number.isdigit() or (number != "0" and number.startswith("0")):
        raise NoteError("the request starts with 'old <size>'")
    if len(lines) - 1 > MAX_PROOF:
        raise NoteError(f"at most {MAX_PROOF} proof lines")
    proof: list[bytes] = []
    for line in lines[1:]:
        try:
            value = base64.b64decode(line, validate=True)
        except (binascii.Error, ValueError):
            raise NoteError("a proof line is a base64 hash") from None
        if len(value) != 32:
            raise NoteError("a proof line is a 32-byte hash")
        proof.append(value)
    return int(number), proof, checkpoint


def witness_app(witness: Witness) -> Starlette:
    """The ASGI app of a witness: ``POST /add-checkpoint``, ``GET /<origin hash>/checkpoint``."""

    async def add_checkpoint(request: Request) -> Response:
        body = b""
        async for chunk in request.stream():
            body += chunk
            if len(body) > MAX_BODY:
                return PlainTextResponse("request too large\n", status_code=413)
        status, kind, text = await run_in_threadpool(witness.add_checkpoint, body)
        return Response(text, status_code=status, media_type=kind)

    async def checkpoint(request: Request) -> Response:
        found = await run_in_threadpool(witness.latest, request.path_params["origin_hash"])
        if found is None:
            return PlainTextResponse("never cosigned\n", status_code=404)
        return Response(found, media_type="text/plain; charset=utf-8")

    return Starlette(
        routes=[
            Route("/add-checkpoint", add_checkpoint, methods=["POST"]),
            Route("/{origin_hash:str}/checkpoint", checkpoint, methods=["GET"]),
        ]
    )
