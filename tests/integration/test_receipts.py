"""Receipts from the library: signed over what each answer carried, only when asked for."""

from __future__ import annotations

import pytest

from hub import SyncHub
from hub.audit._receipt import ReceiptError, data_digest, jwks, read_receipt
from tests._helpers import PURPOSE, hub_settings, population_source


async def test_a_lookup_receipt_states_the_call_and_the_record_digest(hub, population):
    """The claims name the audited call; the digest is that of the minimised record."""
    (national_id,) = population.sample(kind="citizen")
    found = await hub.lookup(
        "population",
        {"national_id": national_id},
        purpose=PURPOSE,
        fields=["full_name", "national_id"],
        receipt=True,
    )
    assert found.receipt is not None
    claims, kid = read_receipt(found.receipt, jwks(hub.audit.public_keys()))
    assert kid == hub.audit.receipts.kid
    assert claims.audit_id == found.audit_id
    assert (claims.client, claims.dossier) == (PURPOSE.client, PURPOSE.dossier)
    assert (claims.source, claims.operation) == ("population", "lookup")
    assert claims.fields == ["full_name", "national_id"]
    assert claims.digest == data_digest(found.data())
    assert national_id not in found.receipt


async def test_a_verification_receipt_covers_the_verification(hub, population):
    """A verification's digest is over its JSON form: the matches and the verdict."""
    (national_id,) = population.sample(kind="citizen")
    citizen = (await hub.lookup("population", {"national_id": national_id}, purpose=PURPOSE)).record
    claim = {"national_id": national_id, "full_name": citizen.full_name}
    checked = await hub.verify("population", claim, purpose=PURPOSE, receipt=True)
    assert checked.receipt is not None
    claims, _ = read_receipt(checked.receipt, jwks(hub.audit.public_keys()))
    assert claims.operation == "verify"
    assert claims.fields == ["full_name"]
    assert claims.digest == data_digest(checked.verification.model_dump(mode="json"))


async def test_no_receipt_unless_asked(hub, population):
    """Without receipt=True the answer carries none."""
    (national_id,) = population.sample(kind="citizen")
    found = await hub.lookup("population", {"national_id": national_id}, purpose=PURPOSE)
    assert found.receipt is None


async def test_a_receipt_under_another_key_is_refused(hub, population, tmp_path, population_mock):
    """A receipt whose kid is not among the trusted keys does not verify."""
    (national_id,) = population.sample(kind="citizen")
    found = await hub.lookup(
        "population", {"national_id": national_id}, purpose=PURPOSE, receipt=True
    )
    assert found.receipt is not None
    with SyncHub(
        hub_settings(tmp_path / "other", population=population_source(population_mock))
    ) as other:
        foreign = jwks(other.hub.audit.public_keys())
        also = other.lookup(
            "population", {"national_id": national_id}, purpose=PURPOSE, receipt=True
        )
    with pytest.raises(ReceiptError, match="not among the trusted keys"):
        read_receipt(found.receipt, foreign)
    assert also.receipt is not None
    assert read_receipt(also.receipt, foreign)[0].audit_id == also.audit_id
