"""The admin surface every mock shares, and fault plans: validation and their draw."""

from __future__ import annotations

import httpx
import pytest
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from hub.mocks._common import FaultPlan, PlanError, parse_plan
from hub.mocks.population import create_app, hub_settings
from hub.testing import MockProfile, mock_app


def test_stats_count_protocol_requests_only(mock):
    """Protocol requests count, faulted ones too; /_admin/ requests do not."""
    mock.admin("DELETE", "stats")
    (national_id,) = mock.sample()
    mock.soap("TraCuuCongDan", SoDinhDanh=national_id)
    mock.http.get("/dancu?wsdl")
    mock.fault({"kind": "status", "status": 503, "count": 1})
    mock.soap("TraCuuCongDan", SoDinhDanh=national_id)
    for _ in range(3):
        mock.admin("GET", "faults")
    assert mock.requests() == 3


def test_sample_gives_keys_of_the_asked_kind(mock):
    """n keys of the kind asked; the mock's default kind is the citizen."""
    keys = mock.admin("GET", "sample", params={"n": 3, "kind": "licence"}).json()["keys"]
    assert len(keys) == 3
    assert all(len(k) == 12 for k in keys)
    default = mock.admin("GET", "sample").json()["keys"]
    assert len(default) == 5
    assert mock.soap("TraCuuCongDan", SoDinhDanh=default[0]).status_code == 200


@pytest.mark.parametrize(
    ("params", "field"),
    [({"kind": "unicorn"}, "kind"), ({"n": "0"}, "n"), ({"n": "x"}, "n"), ({"n": "1001"}, "n")],
)
def test_an_invalid_sample_names_the_field(mock, params, field):
    """422 with the offending parameter named."""
    response = mock.admin("GET", "sample", params=params)
    assert response.status_code == 422
    assert [e["field"] for e in response.json()["errors"]] == [field]


def test_faults_can_be_set_read_and_cleared(mock):
    """PUT sets the plan, GET shows it with what is left of a count, DELETE clears it."""
    plan = [{"kind": "latency", "ms": 5}, {"kind": "status", "status": 503, "count": 2}]
    assert mock.admin("PUT", "faults", json=plan).status_code == 200
    shown = mock.admin("GET", "faults").json()["faults"]
    assert [f["kind"] for f in shown] == ["latency", "status"]
    assert shown[1]["remaining"] == 2
    (national_id,) = mock.sample()
    mock.soap("TraCuuCongDan", SoDinhDanh=national_id)
    assert mock.admin("GET", "faults").json()["faults"][1]["remaining"] == 1
    assert mock.admin("DELETE", "faults").json() == {"faults": []}
    assert mock.admin("GET", "faults").json() == {"faults": []}


def test_a_single_fault_object_is_a_plan(mock):
    """An object is accepted as a plan of one entry."""
    mock.fault({"kind": "status", "status": 502})
    assert [f["kind"] for f in mock.admin("GET", "faults").json()["faults"]] == ["status"]


@pytest.mark.parametrize(
    ("plan", "field"),
    [
        ({"kind": "status", "status": 200}, "faults[0].status"),
        ({"kind": "status"}, "faults[0].status"),
        ({"kind": "nope"}, "faults[0].kind"),
        ({"status": 503}, "faults[0].kind"),
        ([{"kind": "latency", "ms": 5}, {"kind": "latency", "ms": -1}], "faults[1].ms"),
        ({"kind": "reset", "rate": 1.5}, "faults[0].rate"),
        ({"kind": "reset", "count": 0}, "faults[0].count"),
        ({"kind": "timeout", "colour": "red"}, "faults[0].colour"),
        ({"kind": "soap_fault", "fault": "Other"}, "faults[0].fault"),
        ({"kind": "hostile_xml", "variant": "zip_bomb"}, "faults[0].variant"),
        ({"kind": "drip", "bytes_per_second": 0}, "faults[0].bytes_per_second"),
        ("not a plan", "faults"),
    ],
)
def test_an_invalid_plan_is_422_naming_the_field(mock, plan, field):
    """The plan is refused whole, the field named, and the previous plan stays."""
    mock.fault({"kind": "latency", "ms": 1})
    response = mock.admin("PUT", "faults", json=plan)
    assert response.status_code == 422
    assert field in [e["field"] for e in response.json()["errors"]]
    assert [f["kind"] for f in mock.admin("GET", "faults").json()["faults"]] == ["latency"]


def test_a_body_that_is_not_json_is_refused(mock):
    """422, naming the plan."""
    response = mock.admin("PUT", "faults", content=b"{oops")
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "faults"


def test_faults_never_touch_the_admin_surface(mock):
    """With every request failing, /_admin/ still answers."""
    mock.fault({"kind": "status", "status": 503})
    assert mock.admin("GET", "stats").status_code == 200
    assert mock.admin("GET", "sample").status_code == 200
    assert mock.http.get("/dancu?wsdl").status_code == 503


def test_create_app_takes_a_plan_and_refuses_a_bad_one():
    """A plan given at start is in force; an invalid one raises naming the field."""
    app = create_app(citizens=10, faults=[{"kind": "status", "status": 503, "count": 1}])
    assert app.state.mock.plan.describe()[0]["remaining"] == 1
    with pytest.raises(PlanError, match=r"faults\[0\]\.status"):
        create_app(citizens=10, faults=[{"kind": "status", "status": 99}])


def test_hub_settings_point_at_the_endpoint():
    """The [sources.population] table names the SOAP endpoint of the served mock."""
    assert hub_settings("http://127.0.0.1:8700") == {"url": "http://127.0.0.1:8700/dancu"}


def _draws(plan: FaultPlan, n: int) -> list[str | None]:
    out = []
    for _ in range(n):
        _, entry = plan.draw()
        out.append(None if entry is None else entry.kind)
    return out


def test_count_applies_to_the_next_requests_then_goes():
    """count: N fires N times in a row, then the plan is empty."""
    plan = FaultPlan(parse_plan({"kind": "status", "status": 503, "count": 2}), seed=1)
    assert _draws(plan, 4) == ["status", "status", None, None]
    assert plan.describe() == []


def test_a_rate_replays_with_its_seed():
    """The same seed gives the same sequence of faults; another seed another one."""
    entry = {"kind": "reset", "rate": 0.3}
    first = _draws(FaultPlan(parse_plan(entry), seed=7), 200)
    assert first == _draws(FaultPlan(parse_plan(entry), seed=7), 200)
    assert first != _draws(FaultPlan(parse_plan(entry), seed=8), 200)
    assert first == _draws(FaultPlan(parse_plan({**entry, "seed": 7}), seed=99), 200)
    assert 30 < first.count("reset") < 90


def test_latency_composes_and_the_first_answering_fault_wins():
    """Latencies add up; only the first answering entry fires and spends its count."""
    plan = FaultPlan(
        parse_plan(
            [
                {"kind": "latency", "ms": 100},
                {"kind": "status", "status": 503, "count": 1},
                {"kind": "latency", "ms": 50, "count": 1},
                {"kind": "malformed", "count": 1},
            ]
        ),
        seed=1,
    )
    delay, entry = plan.draw()
    assert delay == pytest.approx(0.15)
    assert entry.kind == "status"
    delay, entry = plan.draw()
    assert delay == pytest.approx(0.1)
    assert entry.kind == "malformed"
    assert plan.draw() == (pytest.approx(0.1), None)


class _Members:
    """The data of a mock outside the hub: kinds of its own, keys drawn by a coroutine."""

    sample_kinds = ("member", "retired")

    def __init__(self, seed: int) -> None:
        self.seed = seed

    async def sample(self, kind: str, n: int) -> list[str]:
        return [f"{kind}-{i}" for i in range(n)]


async def test_a_mock_outside_the_hub_gets_the_shared_admin_surface_and_faults():
    """`hub.testing.mock_app` samples another world (awaited), and faults and counts its routes."""
    profile = MockProfile(
        name="members",
        content_type="application/json",
        malformed_body=b'{"member": [',
        oversized_prefix=b'{"member": "',
        sample_kind="member",
    )

    async def status(request: Request) -> Response:
        return JSONResponse({"up": True})

    app = mock_app(world=_Members(7), profile=profile, routes=[Route("/status", status)])
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://mock") as client:
        sample = await client.get("/_admin/sample", params={"n": 2})
        assert sample.json() == {"keys": ["member-0", "member-1"]}
        refused = await client.get("/_admin/sample", params={"kind": "citizen"})
        assert refused.json()["errors"] == [{"field": "kind", "message": "one of member, retired"}]
        await client.put("/_admin/faults", json={"kind": "malformed", "count": 1})
        assert (await client.get("/status")).content == b'{"member": ['
        assert (await client.get("/status")).json() == {"up": True}
        assert (await client.get("/_admin/stats")).json() == {"requests": 2}
