"""prometheus_client's own parser reads the sidecar's /metrics as a Prometheus server would."""

from __future__ import annotations

import re
from collections import defaultdict
from typing import Any

from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample

from tests.conformance.conftest import body

_NAME = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")
_LABEL = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")


def scrape(sidecar: Any) -> tuple[str, list[Any]]:
    """One look-up through the sidecar, then the text of /metrics and its parsed families."""
    with sidecar.client("portal-full") as http:
        query = {"catalog": "ethnic_groups", "code": "01"}
        assert http.post("/v1/sources/catalog/lookup", json=body(query)).status_code == 200
        response = http.get("/metrics")
    assert response.status_code == 200
    return response.headers["content-type"], list(text_string_to_metric_families(response.text))


def test_the_exposition_parses_with_named_and_documented_families(sidecar):
    """The text format 0.0.4; every family has a valid name, a HELP text and a known type."""
    content_type, families = scrape(sidecar)
    assert content_type.startswith("text/plain; version=0.0.4")
    assert families
    for family in families:
        assert _NAME.fullmatch(family.name), family.name
        assert family.documentation, f"{family.name} has no HELP"
        assert family.type in ("counter", "gauge", "histogram", "summary", "info")
        for sample in family.samples:
            assert all(_LABEL.fullmatch(label) for label in sample.labels), sample


def test_counters_end_in_total(sidecar):
    """A counter's samples are named <name>_total (and <name>_created)."""
    _, families = scrape(sidecar)
    counters = [family for family in families if family.type == "counter"]
    assert counters
    for family in counters:
        for sample in family.samples:
            assert sample.name in (f"{family.name}_total", f"{family.name}_created"), sample


def test_histograms_are_cumulative_and_end_at_infinity(sidecar):
    """Each histogram series has ascending buckets ending at +Inf, which equals its count."""
    _, families = scrape(sidecar)
    histograms = [family for family in families if family.type == "histogram"]
    assert histograms
    for family in histograms:
        buckets: dict[tuple[Any, ...], list[Sample]] = defaultdict(list)
        counts = {}
        for sample in family.samples:
            series = tuple(sorted((k, v) for k, v in sample.labels.items() if k != "le"))
            if sample.name == f"{family.name}_bucket":
                buckets[series].append(sample)
            elif sample.name == f"{family.name}_count":
                counts[series] = sample.value
        for series, samples in buckets.items():
            bounds = [float(sample.labels["le"]) for sample in samples]
            values = [sample.value for sample in samples]
            assert bounds == sorted(bounds), family.name
            assert bounds[-1] == float("inf"), family.name
            assert values == sorted(values), family.name
            assert values[-1] == counts[series], family.name


def test_the_look_up_is_counted_by_source(sidecar):
    """The catalog look-up shows in a series labelled with its source."""
    _, families = scrape(sidecar)
    labelled = {sample.labels.get("source") for family in families for sample in family.samples}
    assert "catalog" in labelled
