"""The ``hub audit`` commands: find, report, proof, keys, and their errors."""

from __future__ import annotations

import asyncio
import csv
import io
import json
import stat
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from hub._config import AuditSettings
from hub.audit import AuditTrail, Checkpoint, Outcome
from hub.audit._cli import audit_app, keys_audit
from hub.audit._keys import load_public_key, signing_key
from hub.audit.merkle import verify_inclusion
from tests._helpers import audit_keys_toml
from tests.audit.conftest import NATIONAL_ID, NODE, make_entry

runner = CliRunner()


def config_file(tmp_path: Path, data_dir: Path, store: str) -> Path:
    path = tmp_path / "hub.toml"
    keys = audit_keys_toml(tmp_path) if store.startswith("postgresql:") else ""
    path.write_text(
        f'data_dir = "{data_dir}"\n[audit]\nstore = "{store}"\nnode = "{NODE}"\n{keys}',
        encoding="utf-8",
    )
    return path


def invoke(*args: str) -> Any:
    return runner.invoke(audit_app, list(args))


@pytest.fixture
def filled(
    make_settings: Callable[..., AuditSettings], data_dir: Path, tmp_path: Path, store_url: str
) -> tuple[Path, list[str], AuditSettings]:
    """A trail with known look-ups; returns its config file, the ids, and its settings."""
    settings = make_settings()

    async def fill() -> list[str]:
        trail = await AuditTrail.open(settings, data_dir=data_dir)
        person = trail.pseudonymise(NATIONAL_ID)
        other = trail.pseudonymise("001203004567")
        calls = [
            # D1: population data used for e-identification (verify ok), then a look-up.
            {"dossier": "D1", "source": "population", "operation": "verify", "subject": person},
            {"dossier": "D1", "source": "population", "operation": "lookup", "subject": person},
            # D2: signed in with VNeID.
            {"dossier": "D2", "source": "vneid", "operation": "authenticate", "subject": other},
            # D3: a population match that was denied does not count.
            {
                "dossier": "D3",
                "source": "population",
                "operation": "verify",
                "subject": person,
                "outcome": Outcome.DENIED,
                "error": "forbidden",
                "fields": [],
                "upstream_ms": None,
                "attempts": 0,
            },
            # D4: a failed business look-up, slow upstream.
            {
                "dossier": "D4",
                "source": "business",
                "operation": "lookup",
                "outcome": Outcome.FAILED,
                "error": "upstream_unavailable",
                "fields": [],
                "upstream_ms": 900.0,
                "attempts": 4,
                "client": "portal-hue",
            },
        ]
        ids = [await trail.append(make_entry(**call)) for call in calls]
        await trail.aclose()
        return ids

    ids = asyncio.run(fill())
    return config_file(tmp_path, data_dir, store_url), ids, settings


def test_find_lists_who_looked_the_subject_up(
    filled: tuple[Path, list[str], AuditSettings],
) -> None:
    """find --subject shows that subject's look-ups only: when, who, why, which fields."""
    config, ids, _ = filled
    result = invoke("find", "--subject", NATIONAL_ID, "--config", str(config), "--json")
    assert result.exit_code == 0, result.output
    found = json.loads(result.output)
    assert [item["audit_id"] for item in found] == [ids[0], ids[1], ids[3]]
    assert {item["dossier"] for item in found} == {"D1", "D3"}
    assert found[0]["officer"] == "cb.0042"
    assert found[0]["fields"] == ["date_of_birth", "full_name", "national_id"]
    assert NATIONAL_ID not in result.output
    table = invoke("find", "--subject", f" {NATIONAL_ID} ", "--config", str(config))
    assert table.exit_code == 0
    assert "3 entries" in table.output


def test_find_within_a_period(filled: tuple[Path, list[str], AuditSettings]) -> None:
    """--since and --until bound the entries found."""
    config, _, _ = filled
    later = invoke(
        "find", "--subject", NATIONAL_ID, "--since", "2999-01-01", "--config", str(config), "--json"
    )
    assert json.loads(later.output) == []
    earlier = invoke(
        "find",
        "--subject",
        NATIONAL_ID,
        "--until",
        "2000-01-01T00:00:00+07:00",
        "--config",
        str(config),
        "--json",
    )
    assert json.loads(earlier.output) == []
    bounded = invoke(
        "find",
        "--subject",
        NATIONAL_ID,
        "--since",
        "2000-01-01",
        "--until",
        "2999-01-01",
        "--config",
        str(config),
        "--json",
    )
    assert len(json.loads(bounded.output)) == 3


def test_report_counts_look_ups_dossiers_and_eid(
    filled: tuple[Path, list[str], AuditSettings],
) -> None:
    """report: per group counts, outcome rates, latency, and e-ID dossiers (D1 and D2)."""
    config, _, _ = filled
    result = invoke("report", "--by", "source", "--format", "json", "--config", str(config))
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    totals = report["totals"]
    assert totals["lookups"] == 5
    assert totals["dossiers"] == 4
    assert totals["eid_dossiers"] == 2
    assert totals["ok_rate"] == 0.6
    assert totals["denied_rate"] == 0.2
    assert totals["failed_rate"] == 0.2
    groups = {row["source"]: row for row in report["groups"]}
    assert set(groups) == {"business", "population", "vneid"}
    assert groups["population"]["lookups"] == 3
    assert groups["population"]["dossiers"] == 2
    assert groups["population"]["eid_dossiers"] == 1
    assert groups["business"]["p50_upstream_ms"] == 900.0
    assert groups["business"]["failed_rate"] == 1.0


def test_report_groups_by_several_keys_and_formats(
    filled: tuple[Path, list[str], AuditSettings],
) -> None:
    """--by client,source groups on both; csv has a header and a totals row; table prints."""
    config, _, _ = filled
    result = invoke("report", "--by", "client,source", "--format", "csv", "--config", str(config))
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader(io.StringIO(result.output)))
    assert [(row["client"], row["source"]) for row in rows[:-1]] == [
        ("portal-hue", "business"),
        ("portal-ninhbinh", "population"),
        ("portal-ninhbinh", "vneid"),
    ]
    assert rows[-1]["client"] == ""
    assert rows[-1]["lookups"] == "5"
    table = invoke("report", "--config", str(config))
    assert table.exit_code == 0
    assert "2 dossiers used population data for electronic identification" in table.output


def test_report_refuses_an_unknown_group(filled: tuple[Path, list[str], AuditSettings]) -> None:
    """An unknown --by key is a one-line error, exit 2."""
    config, _, _ = filled
    result = invoke("report", "--by", "national_id", "--config", str(config))
    assert result.exit_code == 2
    assert "cannot group by national_id" in result.output


def test_proof_command_prints_a_checkable_proof(
    filled: tuple[Path, list[str], AuditSettings], data_dir: Path
) -> None:
    """proof AUDIT_ID prints JSON an RFC 6962 verifier checks against the signed root."""
    config, ids, settings = filled
    result = invoke("proof", ids[2], "--config", str(config))
    assert result.exit_code == 0, result.output
    proof = json.loads(result.output)
    assert set(proof) == {
        "audit_id",
        "leaf_hash",
        "index",
        "tree_size",
        "root",
        "proof",
        "checkpoint",
    }
    assert proof["audit_id"] == ids[2]
    checkpoint = Checkpoint.model_validate(proof["checkpoint"])
    public = signing_key(settings, data_dir=data_dir, create=False).public_key()
    assert checkpoint.verify(public)
    assert proof["root"] == checkpoint.root
    assert proof["tree_size"] == checkpoint.size
    assert verify_inclusion(
        bytes.fromhex(proof["leaf_hash"]),
        proof["index"],
        proof["tree_size"],
        [bytes.fromhex(item) for item in proof["proof"]],
        bytes.fromhex(checkpoint.root),
    )


def test_proof_of_an_unknown_entry(filled: tuple[Path, list[str], AuditSettings]) -> None:
    """No such entry: a one-line error, exit 1; a malformed id: exit 2."""
    config, _, _ = filled
    result = invoke("proof", f"{NODE}~999", "--config", str(config))
    assert result.exit_code == 1
    assert result.output.startswith("error: ")
    assert invoke("proof", "nonsense", "--config", str(config)).exit_code == 2


def test_public_key_command(filled: tuple[Path, list[str], AuditSettings], data_dir: Path) -> None:
    """public-key prints the PEM public key that checks the trail's checkpoints."""
    config, _, settings = filled
    result = invoke("public-key", "--config", str(config))
    assert result.exit_code == 0
    assert "BEGIN PUBLIC KEY" in result.output
    key = signing_key(settings, data_dir=data_dir, create=False).public_key()
    path = data_dir / "printed.pub"
    path.write_text(result.output, encoding="utf-8")
    assert load_public_key(path) == key


def test_missing_store_is_a_one_line_error(tmp_path: Path) -> None:
    """A store that holds no trail: one line on stderr, exit 2, no traceback."""
    missing = tmp_path / "missing.db"
    result = invoke("verify", "--store", f"sqlite:///{missing}", "--public-key", str(missing))
    assert result.exit_code == 2
    assert "Traceback" not in result.output
    result = invoke("report", "--store", f"sqlite:///{missing}")
    assert result.exit_code == 2
    assert result.output == f"error: no audit trail at {missing}\n"
    result = invoke("report", "--store", "ftp://nowhere")
    assert result.exit_code == 2
    assert result.output.startswith("error: audit.store:")


def test_unreachable_postgres_is_a_one_line_error() -> None:
    """An unreachable PostgreSQL store: one line naming no password, exit 2."""
    result = invoke("report", "--store", "postgresql://auditor:s3cret@127.0.0.1:9/none")
    assert result.exit_code == 2
    assert result.output.count("\n") == 1
    assert "s3cret" not in result.output


def test_keys_audit_makes_a_key_pair(tmp_path: Path) -> None:
    """keys audit writes the private key (mode 0600) and prints its public key."""
    app = typer.Typer()
    app.command()(keys_audit)
    target = tmp_path / "signing.pem"
    result = runner.invoke(app, ["--out", str(target), "--public-out", str(tmp_path / "pub.pem")])
    assert result.exit_code == 0, result.output
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    settings = AuditSettings(signing_key=target.read_text(encoding="utf-8"), node=NODE)
    private = signing_key(settings, data_dir=tmp_path)
    assert load_public_key(tmp_path / "pub.pem") == private.public_key()
    assert "BEGIN PUBLIC KEY" in result.output
    again = runner.invoke(app, ["--out", str(target)])
    assert again.exit_code == 2
    assert "exists" in again.output
    assert runner.invoke(app, ["--out", str(target), "--force"]).exit_code == 0
    assert (
        signing_key(
            AuditSettings(signing_key=target.read_text(encoding="utf-8"), node=NODE),
            data_dir=tmp_path,
        ).public_key()
        != private.public_key()
    )
