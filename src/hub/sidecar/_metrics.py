"""Prometheus metrics of the sidecar: per source and outcome, from each call's audit entry."""

from __future__ import annotations

from collections.abc import Iterable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from hub._resilience import BreakerState
from hub.audit import AuditEntry
from hub.sidecar._auth import REASONS

__all__ = ["Metrics"]

_LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
_BREAKER_VALUES = {BreakerState.CLOSED: 0, BreakerState.HALF_OPEN: 1, BreakerState.OPEN: 2}


#: The label of calls to a source that is not configured.
UNKNOWN_SOURCE = "unknown"


class Metrics:
    """A registry of its own, so that several apps in one process do not collide.

    Args:
        sources: The configured sources: the only source names that become labels, so
            that made-up names cannot grow the series without bound.
    """

    def __init__(self, sources: Iterable[str]) -> None:
        self._sources = frozenset(sources)
        self.registry = CollectorRegistry()
        self.calls = Counter(
            "hub_calls",
            "Calls by source, operation and outcome.",
            ["source", "operation", "outcome"],
            registry=self.registry,
        )
        self.duration = Histogram(
            "hub_call_duration_seconds",
            "Whole calls, audit included.",
            ["source", "operation"],
            buckets=_LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.upstream = Histogram(
            "hub_upstream_duration_seconds",
            "Time spent upstream per call, all attempts.",
            ["source"],
            buckets=_LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.attempts = Histogram(
            "hub_upstream_attempts",
            "Upstream attempts per call.",
            ["source"],
            buckets=(1, 2, 3, 4, 6, 10),
            registry=self.registry,
        )
        self.cache = Counter(
            "hub_cache", "Cache look-ups by result.", ["source", "result"], registry=self.registry
        )
        self.breaker = Gauge(
            "hub_breaker_state",
            "Circuit breaker: 0 closed, 1 half-open, 2 open.",
            ["source"],
            registry=self.registry,
        )
        self.witness_lag = Gauge(
            "hub_audit_witness_lag_seconds",
            "How long the oldest checkpoint a witness has not cosigned has waited.",
            ["witness"],
            registry=self.registry,
        )
        self.witness_size = Gauge(
            "hub_audit_witness_cosigned_size",
            "The tree size of the newest checkpoint a witness cosigned (-1: none yet).",
            ["witness"],
            registry=self.registry,
        )
        self.requests = Counter(
            "hub_http_requests",
            "Sidecar HTTP answers by status.",
            ["status"],
            registry=self.registry,
        )
        self.auth_failures = Counter(
            "hub_auth_failures",
            "Refused authentications by reason.",
            ["reason"],
            registry=self.registry,
        )
        for reason in REASONS:
            self.auth_failures.labels(reason)

    def observe(self, entry: AuditEntry) -> None:
        """Count one call, from its audit entry (which holds no personal data)."""
        source = entry.source if entry.source in self._sources else UNKNOWN_SOURCE
        self.calls.labels(source, entry.operation, entry.outcome.value).inc()
        self.duration.labels(source, entry.operation).observe(entry.total_ms / 1000)
        if entry.attempts:
            self.attempts.labels(source).observe(entry.attempts)
        if entry.upstream_ms is not None:
            self.upstream.labels(source).observe(entry.upstream_ms / 1000)
        if entry.cache is not None:
            self.cache.labels(source, entry.cache).inc()

    def set_breaker(self, source: str, state: BreakerState) -> None:
        self.breaker.labels(source).set(_BREAKER_VALUES[state])

    def set_witness(self, witness: str, cosigned_size: int | None, lag: float) -> None:
        self.witness_lag.labels(witness).set(lag)
        self.witness_size.labels(witness).set(-1 if cosigned_size is None else cosigned_size)

    def render(self) -> bytes:
        return generate_latest(self.registry)
