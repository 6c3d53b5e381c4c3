"""The tamper-evident audit trail: one Merkle tree per node, signed checkpoints, proofs.

The hub appends one `AuditEntry` per call and gets back its audit id once the entry is
durable; an inspector checks the whole trail with ``hub audit verify`` and one entry
with its `InclusionProof`. The RFC 6962 hashing, proofs and verifiers are public in
`hub.audit.merkle`.
"""

from hub.audit._checkpoint import Checkpoint
from hub.audit._entry import AuditEntry, Outcome
from hub.audit._proof import InclusionProof
from hub.audit._trail import AuditTrail

__all__ = ["AuditEntry", "AuditTrail", "Checkpoint", "InclusionProof", "Outcome"]
