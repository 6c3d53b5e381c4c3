"""Fault injection: a plan of entries, validated, drawn on each protocol request.

Kinds: ``status`` (answer with ``status``, and ``Retry-After: retry_after`` if given),
``latency`` (wait ``ms`` before answering) and ``malformed`` (a broken JSON body in
the right content type). An entry with ``count`` fires on that many requests and then
goes; one without holds until the plan is cleared. On each request the latencies of
the plan add up, and the first entry of another kind answers in place of the mock.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

__all__ = [
    "Fault",
    "FaultPlan",
    "LatencyFault",
    "MalformedFault",
    "PlanError",
    "StatusFault",
]


class _Entry(BaseModel):
    model_config = ConfigDict(extra="forbid")

    count: int | None = Field(default=None, ge=1)


class StatusFault(_Entry):
    kind: Literal["status"]
    status: int = Field(ge=400, le=599)
    retry_after: int | None = Field(default=None, ge=0)


class LatencyFault(_Entry):
    kind: Literal["latency"]
    ms: int = Field(ge=0, le=60_000)


class MalformedFault(_Entry):
    kind: Literal["malformed"]


Fault = Annotated[StatusFault | LatencyFault | MalformedFault, Field(discriminator="kind")]
_PLAN: TypeAdapter[list[Fault]] = TypeAdapter(list[Fault])


class PlanError(ValueError):
    """The plan is invalid; ``errors`` names each field at fault (``faults[0].status``)."""

    def __init__(self, errors: list[dict[str, str]]) -> None:
        super().__init__("invalid fault plan")
        self.errors = errors


def _field(error: Any) -> str:
    # pydantic puts the matched kind in the path (0, "status", "status"); people do not.
    loc = error["loc"]
    if not loc:
        return "faults"
    head = f"faults[{loc[0]}]"
    if error["type"] in ("union_tag_invalid", "union_tag_not_found"):
        return f"{head}.kind"
    return ".".join([head, *(str(part) for part in loc[2:])])


class FaultPlan:
    """The entries in force, in order.

    Args:
        data: One entry or a list of them, as JSON data.

    Raises:
        PlanError: an entry is invalid.
    """

    def __init__(self, data: Any = None) -> None:
        entries = [] if data is None else data if isinstance(data, list) else [data]
        try:
            self.entries: list[Fault] = _PLAN.validate_python(entries)
        except ValidationError as exc:
            errors = [
                {"field": _field(error), "message": error["msg"]}
                for error in exc.errors(include_url=False, include_input=False)
            ]
            raise PlanError(errors) from None

    def draw(self) -> tuple[float, StatusFault | MalformedFault | None]:
        """The delay (seconds) and the answering entry for one request; spends counts."""
        delay = 0.0
        answer: StatusFault | MalformedFault | None = None
        for entry in list(self.entries):
            if isinstance(entry, LatencyFault):
                delay += entry.ms / 1000
            elif answer is None:
                answer = entry
            else:
                continue  # a later answering entry neither fires nor spends its count
            self._spend(entry)
        return delay, answer

    def _spend(self, entry: Fault) -> None:
        if entry.count is None:
            return
        entry.count -= 1
        if entry.count == 0:
            self.entries = [kept for kept in self.entries if kept is not entry]

    def describe(self) -> list[dict[str, Any]]:
        """The plan as JSON data, with what is left of each count."""
        return [entry.model_dump(exclude_none=True) for entry in self.entries]
