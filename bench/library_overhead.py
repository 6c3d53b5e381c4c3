"""What the hub costs per look-up: Hub.lookup (audit on, SQLite, durable) against a bare
call of the same upstream with the same client library, in the same run.

    python -m bench.library_overhead [--seconds 4] [--rounds 3]

Population: zeep over httpx (aiohttp transport) against the SOAP mock; budget_unit:
httpx (aiohttp transport) against the REST mock. Each mock runs in its own process;
the callers run here, at 1 and at 64 at once. Rounds interleave bare and hub runs so
that the machine's noise falls on both; figures are medians of the rounds. The
targets: at most 15% more per look-up at 1 caller, at least 85% of the bare
throughput at 64.

At 1 caller a third run separates the hub's own time from the machine's: bare calls
again, each after an idle pause as long as the hub's extra time per look-up in that
round. Back-to-back bare calls find the mock's process awake; calls spaced out as the
hub spaces them find it asleep, and on a shared VM waking it costs as much as the
call. The paced figure is reported beside the target's, not instead of it.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import uvloop
import zeep
from httpx_aiohttp import AiohttpTransport
from zeep.proxy import AsyncServiceProxy
from zeep.transports import AsyncTransport

from bench._common import free_port, median, report, server_process
from hub import Hub, load_settings
from hub._logging import configure_logging
from hub._registry import installed_mocks
from hub.schemas import schema_path

PURPOSE = {"client": "bench", "officer": "cb.0001", "procedure": "1.001757", "dossier": "BENCH-1"}
LIMITS = httpx.Limits(max_connections=100, max_keepalive_connections=100)


async def rate(
    call: Callable[[str], Awaitable[Any]],
    keys: list[str],
    callers: int,
    seconds: float,
    pause: float = 0.0,
) -> tuple[float, float]:
    """(look-ups per second, median latency in ms) of ``callers`` loops over ``keys``.

    ``pause`` seconds of idleness precede each call, outside its latency.
    """
    latencies: list[float] = []
    stop = time.monotonic() + seconds

    async def loop(offset: int) -> None:
        index = offset
        while time.monotonic() < stop:
            if pause:
                await asyncio.sleep(pause)
            started = time.perf_counter()
            await call(keys[index % len(keys)])
            latencies.append(time.perf_counter() - started)
            index += callers

    began = time.monotonic()
    await asyncio.gather(*(loop(i) for i in range(callers)))
    return len(latencies) / (time.monotonic() - began), median(latencies) * 1000


def bare_client() -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=AiohttpTransport(limits=LIMITS, trust_env=False))


async def bare_population(
    url: str, keys: list[str], callers: int, seconds: float, pause: float = 0.0
) -> tuple[float, float]:
    async with bare_client() as http:
        transport = AsyncTransport(client=http, wsdl_client=httpx.Client())
        client = zeep.AsyncClient(
            str(schema_path("population/population.wsdl")), transport=transport
        )
        service = AsyncServiceProxy(
            client, client.wsdl.bindings["{urn:lienthong:dancu:1}DanCuBinding"], address=url
        )

        async def call(key: str) -> Any:
            return await service.TraCuuCongDan(MaDonVi="bench", MaYeuCau="bench", SoDinhDanh=key)

        await call(keys[0])
        try:
            return await rate(call, keys, callers, seconds, pause)
        finally:
            transport.wsdl_client.close()


async def bare_budget_unit(
    url: str, api_key: str, keys: list[str], callers: int, seconds: float, pause: float = 0.0
) -> tuple[float, float]:
    async with bare_client() as http:

        async def call(key: str) -> Any:
            response = await http.get(f"{url}/v1/units/{key}", headers={"X-Api-Key": api_key})
            response.raise_for_status()
            return response.json()

        await call(keys[0])
        return await rate(call, keys, callers, seconds, pause)


def run_bare(
    source: str,
    table: dict[str, Any],
    keys: list[str],
    callers: int,
    seconds: float,
    pause: float = 0.0,
) -> tuple[float, float]:
    """The bare client's (rate, median ms) against ``source``'s mock."""
    if source == "population":
        return uvloop.run(bare_population(table["url"], keys, callers, seconds, pause))
    run = bare_budget_unit(table["url"], table["api_key"], keys, callers, seconds, pause)
    return uvloop.run(run)


async def through_hub(
    source: str, table: dict[str, Any], field: str, keys: list[str], callers: int, seconds: float
) -> tuple[float, float]:
    data_dir = tempfile.mkdtemp(prefix="bench-overhead-")
    settings = load_settings(
        None,
        data_dir=data_dir,
        sources={source: {**table, "limits": {"concurrency": 256, "max_connections": 100}}},
        logging={"level": "warning"},
    )
    async with Hub(settings) as hub:

        async def call(key: str) -> Any:
            return await hub.lookup(source, {field: key}, purpose=PURPOSE)

        await call(keys[0])
        return await rate(call, keys, callers, seconds)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=4.0)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    configure_logging(load_settings(None, logging={"level": "warning"}).logging)

    samples: dict[tuple[str, str, int], list[tuple[float, float]]] = {}
    for source, kind, field in (
        ("population", "citizen", "national_id"),
        ("budget_unit", "budget_unit", "code"),
    ):
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        with server_process(
            ["-m", "bench._mock_server", source, str(port)], f"{base}/_admin/stats"
        ):
            keys = httpx.get(f"{base}/_admin/sample", params={"n": 500, "kind": kind}).json()[
                "keys"
            ]
            table = installed_mocks()[source].hub_settings(base)

            for _ in range(args.rounds):
                for callers in (1, 64):
                    bare_run = run_bare(source, table, keys, callers, args.seconds)
                    samples.setdefault((source, "bare", callers), []).append(bare_run)
                    hubbed = through_hub(source, table, field, keys, callers, args.seconds)
                    hub_run = uvloop.run(hubbed)
                    samples.setdefault((source, "hub", callers), []).append(hub_run)
                    if callers == 1:
                        pause = max(0.0, hub_run[1] - bare_run[1]) / 1000
                        paced = samples.setdefault((source, "bare paced", callers), [])
                        paced.append(run_bare(source, table, keys, callers, args.seconds, pause))

    rows = []
    extra: dict[str, Any] = {}
    for source in ("population", "budget_unit"):
        for callers in (1, 64):
            bare_rate = median([r for r, _ in samples[(source, "bare", callers)]])
            hub_rate = median([r for r, _ in samples[(source, "hub", callers)]])
            bare_ms = median([m for _, m in samples[(source, "bare", callers)]])
            hub_ms = median([m for _, m in samples[(source, "hub", callers)]])
            rows.append(
                {
                    "source": source,
                    "callers": callers,
                    "bare look-ups/s": bare_rate,
                    "hub look-ups/s": hub_rate,
                    "bare p50 ms": bare_ms,
                    "hub p50 ms": hub_ms,
                    "hub/bare time": round(hub_ms / bare_ms, 3),
                    "hub/bare throughput": round(hub_rate / bare_rate, 3),
                }
            )
            if callers == 1:
                extra[f"{source}_extra_cost_at_1"] = (
                    f"{(hub_ms / bare_ms - 1) * 100:.1f}% (target <= 15%)"
                )
                paced_ms = median([m for _, m in samples[(source, "bare paced", callers)]])
                extra[f"{source}_bare_p50_ms_at_1_paced_as_the_hub"] = round(paced_ms, 3)
                extra[f"{source}_extra_cost_at_1_against_paced_bare"] = (
                    f"{(hub_ms / paced_ms - 1) * 100:.1f}%"
                )
            else:
                extra[f"{source}_throughput_kept_at_64"] = (
                    f"{hub_rate / bare_rate * 100:.1f}% (target >= 85%)"
                )
    report(
        "library_overhead",
        "Hub.lookup (audit on, SQLite durable) against a bare call of the same upstream",
        rows,
        **extra,
        command="python -m bench.library_overhead",
    )


if __name__ == "__main__":
    main()
