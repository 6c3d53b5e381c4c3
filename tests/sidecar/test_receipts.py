"""Signed receipts: a look-up's receipt verifies offline, with the CLI and with joserfc."""

from __future__ import annotations

import base64
import hashlib
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
import rfc8785
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from joserfc import jws
from joserfc.jwk import KeySet
from typer.testing import CliRunner

from hub import Hub
from hub._cli import app as hub_cli
from hub._config import AuditSettings
from hub.audit._checkpoint import origin_of
from hub.audit._keys import signing_key
from hub.audit.note import COSIGNATURE, ED25519, Signer, Verifier
from hub.sidecar import create_app
from hub.testing import ServedApp
from hub.witness import Witness, WitnessState, witness_app
from tests._helpers import audit_keys
from tests.sidecar.conftest import KEYS, Sidecar, lookup_body, sidecar_settings

runner = CliRunner()
NODE = "hue-1"
LOOKUP = "/v1/sources/population/lookup"


@pytest.fixture(scope="module")
def receipts(
    tmp_path_factory: pytest.TempPathFactory, population_mock: ServedApp
) -> Iterator[tuple[Sidecar, list[str]]]:
    """A sidecar whose trail two witnesses cosign."""
    folder = tmp_path_factory.mktemp("receipts")
    keys = audit_keys(folder)
    log_key = signing_key(AuditSettings(node=NODE, **keys), data_dir=folder, create=False)
    origin = origin_of(AuditSettings().origin_prefix, NODE)
    served: list[ServedApp] = []
    states: list[WitnessState] = []
    witnesses: dict[str, dict[str, str]] = {}
    for name in ("w1", "w2"):
        signer = Signer(
            f"thanhtra.example.gov.vn/{name}", Ed25519PrivateKey.generate(), COSIGNATURE
        )
        states.append(WitnessState(folder / f"{name}-state"))
        witness = Witness(
            signer=signer,
            logs=[Verifier(origin, ED25519, log_key.public_key())],
            state=states[-1],
        )
        served.append(ServedApp(witness_app(witness)).start())
        witnesses[name] = {"url": served[-1].url, "public_key": signer.verifier.vkey}
    settings = sidecar_settings(
        folder,
        population_mock,
        audit={"node": NODE, "checkpoint_seconds": 0.2, "witnesses": witnesses, **keys},
    )
    try:
        with ServedApp(create_app(settings, hub=Hub(settings))) as sidecar:
            yield Sidecar(sidecar.url), [item["public_key"] for item in witnesses.values()]
    finally:
        for item in served:
            item.stop()
        for state in states:
            state.close()


@pytest.fixture
def citizen(population: Any) -> str:
    return str(population.sample(kind="citizen")[0])


def looked_up(sidecar: Sidecar, citizen: str, client: str = "portal-a") -> dict[str, Any]:
    with sidecar.client(client) as http:
        answer = http.post(LOOKUP, json=lookup_body(citizen, receipt=True))
    assert answer.status_code == 200, answer.text
    return dict(answer.json())


def bundle_of(sidecar: Sidecar, audit_id: str, client: str = "portal-a") -> dict[str, Any]:
    """The entry's proof bundle, once the witnesses have cosigned a checkpoint holding it."""
    with sidecar.client(client) as http:
        for _ in range(200):
            answer = http.get(f"/v1/audit/{audit_id}/bundle")
            if answer.status_code != 404:
                break
            time.sleep(0.05)
    assert answer.status_code == 200, answer.text
    return dict(answer.json())


def receipt_verify(*args: str, **env: str) -> tuple[int, str]:
    result = runner.invoke(hub_cli, ["receipt", "verify", *args], env=env)
    assert not isinstance(result.exception, Exception) or isinstance(
        result.exception, SystemExit
    ), repr(result.exception)
    return result.exit_code, result.output


def kept(tmp_path: Path, sidecar: Sidecar, found: dict[str, Any]) -> dict[str, Path]:
    """What a portal keeps in the dossier: the record, the bundle; and the published keys."""
    files = {name: tmp_path / f"{name}.json" for name in ("record", "proof", "jwks")}
    files["record"].write_text(json.dumps(found["record"], ensure_ascii=False), encoding="utf-8")
    files["proof"].write_bytes(orjson.dumps(bundle_of(sidecar, found["audit_id"])))
    files["jwks"].write_bytes(httpx.get(f"{sidecar.url}/.well-known/jwks.json").content)
    return files


def offline(found: dict[str, Any], files: dict[str, Path], vkeys: list[str]) -> list[str]:
    return [
        found["receipt"],
        "--record",
        str(files["record"]),
        "--proof",
        str(files["proof"]),
        "--jwks",
        str(files["jwks"]),
        *(arg for vkey in vkeys for arg in ("--witness", vkey)),
    ]


def test_a_receipt_verifies_offline_with_the_cli(receipts, citizen, tmp_path):
    """Receipt, record, bundle and keys: signature, digest and witnessed inclusion hold."""
    sidecar, vkeys = receipts
    found = looked_up(sidecar, citizen)
    files = kept(tmp_path, sidecar, found)
    code, output = receipt_verify(*offline(found, files, vkeys))
    assert code == 0, output
    assert "matches the receipt's digest" in output
    assert "(2 of 2 needed)" in output
    assert output.rstrip().endswith("verdict: VALID")
    assert citizen not in output


def test_a_receipt_verifies_with_joserfc_and_the_jwks(receipts, citizen):
    """Any JOSE library checks the signature; the digest is SHA-256 of RFC 8785 of the record."""
    sidecar, _ = receipts
    found = looked_up(sidecar, citizen)
    key_set = KeySet.import_key_set(httpx.get(f"{sidecar.url}/.well-known/jwks.json").json())
    signed = jws.deserialize_compact(found["receipt"], key_set, algorithms=["EdDSA"])
    claims = json.loads(signed.payload)
    assert signed.headers()["kid"] in {key.kid for key in key_set}
    assert claims["audit_id"] == found["audit_id"]
    assert claims["client"] == "portal-a"
    assert claims["dossier"] == "H37-0001"
    assert claims["fields"] == sorted(found["record"])
    assert claims["digest"] == hashlib.sha256(rfc8785.dumps(found["record"])).hexdigest()
    assert citizen not in signed.payload.decode()


def test_a_receipt_verifies_online(receipts, citizen):
    """--online fetches the keys and the bundle from the sidecar with the client's key."""
    sidecar, vkeys = receipts
    found = looked_up(sidecar, citizen)
    bundle_of(sidecar, found["audit_id"])
    args = [found["receipt"], "--online", sidecar.url, "--witness", vkeys[0], "--witness", vkeys[1]]
    code, output = receipt_verify(*args, HUB_API_KEY=KEYS["portal-a"])
    assert code == 0, output
    assert output.rstrip().endswith("verdict: VALID")
    assert KEYS["portal-a"] not in output


def test_an_altered_record_fails(receipts, citizen, tmp_path):
    """A record changed after the answer does not match the receipt's digest."""
    sidecar, vkeys = receipts
    found = looked_up(sidecar, citizen)
    files = kept(tmp_path, sidecar, found)
    record = json.loads(files["record"].read_text(encoding="utf-8"))
    record["full_name"] = "Nguyễn Văn Khác"
    files["record"].write_text(json.dumps(record, ensure_ascii=False), encoding="utf-8")
    code, output = receipt_verify(*offline(found, files, vkeys))
    assert code == 1, output
    assert "verdict: INVALID: the record does not match the receipt's digest" in output


def test_an_altered_receipt_fails(receipts, citizen, tmp_path):
    """Claims changed in the receipt break its signature."""
    sidecar, vkeys = receipts
    found = looked_up(sidecar, citizen)
    files = kept(tmp_path, sidecar, found)
    header, payload, signature = found["receipt"].split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=="))
    claims["dossier"] = "H37-9999"
    forged = base64.urlsafe_b64encode(rfc8785.dumps(claims)).decode().rstrip("=")
    found["receipt"] = f"{header}.{forged}.{signature}"
    code, output = receipt_verify(*offline(found, files, vkeys))
    assert code == 1, output
    assert "the signature does not hold" in output


def test_an_entry_not_in_a_witnessed_checkpoint_fails(receipts, citizen, tmp_path):
    """A checkpoint short of its quorum of cosignatures, or another entry's proof, fails."""
    sidecar, vkeys = receipts
    found = looked_up(sidecar, citizen)
    files = kept(tmp_path, sidecar, found)
    bundle = json.loads(files["proof"].read_text(encoding="utf-8"))
    note = bundle["checkpoint"]
    bundle["checkpoint"] = note[: note.rstrip("\n").rfind("\n") + 1]
    files["proof"].write_text(json.dumps(bundle), encoding="utf-8")
    code, output = receipt_verify(*offline(found, files, vkeys))
    assert code == 1, output
    assert "cosigned by 1 of the 2 witnesses needed" in output

    other = looked_up(sidecar, citizen)
    files["proof"].write_bytes(orjson.dumps(bundle_of(sidecar, other["audit_id"])))
    code, output = receipt_verify(*offline(found, files, vkeys))
    assert code == 1, output
    assert f"proves {other['audit_id']}, not {found['audit_id']}" in output


def test_a_bundle_of_a_moved_entry_fails(receipts, citizen, tmp_path):
    """An entry that is not where the proof says is not in the checkpoint."""
    sidecar, vkeys = receipts
    found = looked_up(sidecar, citizen)
    files = kept(tmp_path, sidecar, found)
    bundle = json.loads(files["proof"].read_text(encoding="utf-8"))
    bundle["proof"] = [hashlib.sha256(b"x").hexdigest(), *bundle["proof"][1:]]
    files["proof"].write_text(json.dumps(bundle), encoding="utf-8")
    code, output = receipt_verify(*offline(found, files, vkeys))
    assert code == 1, output
    assert f"the entry {found['audit_id']} is not in the checkpoint" in output


def test_bundles_are_for_their_client_and_inspectors(receipts, citizen):
    """Another portal gets 404 for a portal's entry; an inspector gets it."""
    sidecar, _ = receipts
    found = looked_up(sidecar, citizen)
    bundle_of(sidecar, found["audit_id"])
    with sidecar.client("portal-b") as http:
        answer = http.get(f"/v1/audit/{found['audit_id']}/bundle")
    assert answer.status_code == 404
    assert bundle_of(sidecar, found["audit_id"], "inspector")["audit_id"] == found["audit_id"]


def test_no_receipt_unless_asked(receipts, citizen):
    """An answer carries a receipt only when the body asks for one."""
    sidecar, _ = receipts
    with sidecar.client("portal-a") as http:
        answer = http.post(LOOKUP, json=lookup_body(citizen)).json()
    assert "receipt" not in answer
