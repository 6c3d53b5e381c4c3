"""Errors as RFC 9457 problem details: the same shape for every failure, nothing internal."""

from __future__ import annotations

from typing import Any

import orjson
from pydantic import BaseModel, ConfigDict
from starlette.responses import Response

from hub.errors import HubError, InvalidQuery, TooManyAttempts, UpstreamUnavailable

__all__ = ["FieldProblem", "Problem", "from_error", "problem", "problem_body"]

MEDIA_TYPE = "application/problem+json"


class FieldProblem(BaseModel):
    field: str
    message: str


class Problem(BaseModel):
    """An RFC 9457 problem; ``type`` names the kind of failure, stable for clients."""

    model_config = ConfigDict(extra="forbid")

    type: str
    title: str
    status: int
    detail: str
    request_id: str | None = None
    audit_id: str | None = None
    errors: list[FieldProblem] | None = None


def problem(
    status: int,
    kind: str,
    title: str,
    detail: str,
    *,
    request_id: str | None = None,
    audit_id: str | None = None,
    errors: list[dict[str, str]] | None = None,
    headers: dict[str, str] | None = None,
) -> Response:
    body: dict[str, Any] = {
        "type": f"urn:lienthong:problem:{kind}",
        "title": title,
        "status": status,
        "detail": detail,
    }
    if request_id:
        body["request_id"] = request_id
    if audit_id:
        body["audit_id"] = audit_id
    if errors is not None:
        body["errors"] = errors
    all_headers = dict(headers or {})
    if audit_id:
        all_headers["X-Audit-Id"] = audit_id
    return Response(
        orjson.dumps(body), status_code=status, media_type=MEDIA_TYPE, headers=all_headers
    )


def problem_body(error: HubError) -> dict[str, Any]:
    """The problem of a typed error as data (for the parts of a profile)."""
    body: dict[str, Any] = {
        "type": f"urn:lienthong:problem:{error.kind}",
        "title": error.title,
        "status": error.status,
        "detail": error.detail,
    }
    if error.audit_id:
        body["audit_id"] = error.audit_id
    return body


def from_error(error: HubError, request_id: str | None) -> Response:
    """The problem response of one of the hub's typed errors."""
    headers = {}
    if isinstance(error, UpstreamUnavailable | TooManyAttempts) and error.retry_after is not None:
        headers["Retry-After"] = str(max(1, round(error.retry_after)))
    errors = None
    if isinstance(error, InvalidQuery):
        errors = [e.as_dict() for e in error.errors]
    return problem(
        error.status,
        error.kind,
        error.title,
        error.detail,
        request_id=request_id,
        audit_id=error.audit_id,
        errors=errors,
        headers=headers,
    )
