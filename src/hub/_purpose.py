"""Purpose: who asks, for which procedure and dossier. There is no anonymous look-up."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, StringConstraints

__all__ = ["Purpose"]

# Printable text without control characters: these values are written to the audit
# trail and to reports, and must not carry line breaks or escape sequences.
_Text = Annotated[
    str,
    StringConstraints(
        strip_whitespace=True, min_length=1, max_length=128, pattern=r"^[^\x00-\x1f\x7f]+$"
    ),
]


class Purpose(BaseModel):
    """Why a look-up is made; required on every call and written to the audit trail.

    Args:
        client: The calling system (a portal); in the sidecar it comes from the
            caller's authentication, never from the request body.
        officer: The officer handling the dossier (their staff code).
        procedure: The administrative procedure's code, e.g. ``1.001757``.
        dossier: The dossier's number, e.g. ``H37.22-240315-0001``.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    client: _Text
    officer: _Text
    procedure: _Text
    dossier: _Text
