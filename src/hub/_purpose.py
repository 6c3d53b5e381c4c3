"""Purpose: who asks, for which procedure and dossier. There is no anonymous look-up."""

from __future__ import annotations

from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, StringConstraints

from hub.text import has_invisible

__all__ = ["Purpose"]


def _visible(value: str) -> str:
    if has_invisible(value):
        raise ValueError("must not contain control, format or line-breaking characters")
    return value


# Visible text only: these values are written to the audit trail and to the reports
# an inspector reads, and must not carry line breaks, escapes or bidi overrides.
_Text = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=128),
    AfterValidator(_visible),
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
