"""A transparency-log witness (c2sp.org/tlog-witness) for the hub's audit trails.

An inspectorate runs it as its own process with its own key: it follows each writer of
the trail by origin and verifier key, cosigns a checkpoint only when it is consistent
with the newest one it cosigned for that origin, and remembers that one durably. A trail
cut back or rewritten behind a cosigned checkpoint then cannot hide it. It shares only
the note and Merkle helpers (`hub.audit.note`, `hub.audit.merkle`) with the hub.
"""

from hub.witness._app import Witness, witness_app
from hub.witness._config import WitnessConfig, load_witness
from hub.witness._state import WitnessState

__all__ = ["Witness", "WitnessConfig", "WitnessState", "load_witness", "witness_app"]
