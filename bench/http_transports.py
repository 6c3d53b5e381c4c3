"""Outbound HTTP transports compared: httpx's own, httpx on aiohttp, bare aiohttp; and zeep.

    python -m bench.http_transports [--seconds 2] [--rounds 3]

Each client runs against a trivial JSON endpoint served in another process, from 1
and from 32 concurrent callers; then zeep's async client calls the population mock
over both httpx transports. Rounds interleave the clients so that the machine's
noise falls on all of them alike; the figures are medians of the rounds.
"""

from __future__ import annotations

import argparse
import asyncio
import time
from collections.abc import Awaitable, Callable

import aiohttp
import httpx
import zeep
from httpx_aiohttp import AiohttpTransport
from zeep.proxy import AsyncServiceProxy
from zeep.transports import AsyncTransport

from bench._common import free_port, median, report, server_process
from hub.schemas import schema_path

LIMITS = httpx.Limits(max_connections=100, max_keepalive_connections=100)


async def rate(call: Callable[[], Awaitable[object]], callers: int, seconds: float) -> float:
    """Requests per second that ``callers`` concurrent loops of ``call`` achieve."""
    done = 0
    stop = time.monotonic() + seconds

    async def loop() -> None:
        nonlocal done
        while time.monotonic() < stop:
            await call()
            done += 1

    started = time.monotonic()
    await asyncio.gather(*(loop() for _ in range(callers)))
    return done / (time.monotonic() - started)


def httpx_client(kind: str) -> httpx.AsyncClient:
    if kind == "aiohttp":
        return httpx.AsyncClient(transport=AiohttpTransport(limits=LIMITS, trust_env=False))
    return httpx.AsyncClient(transport=httpx.AsyncHTTPTransport(limits=LIMITS, trust_env=False))


async def json_round(url: str, callers: int, seconds: float) -> dict[str, float]:
    results: dict[str, float] = {}
    for kind in ("native", "aiohttp"):
        async with httpx_client(kind) as client:
            await client.get(url)
            results[f"httpx ({kind} transport)"] = await rate(
                lambda: client.get(url), callers, seconds
            )
    connector = aiohttp.TCPConnector(limit=100)
    async with aiohttp.ClientSession(connector=connector) as session:

        async def bare() -> None:
            async with session.get(url) as response:
                await response.read()

        await bare()
        results["bare aiohttp"] = await rate(bare, callers, seconds)
    return results


async def soap_round(url: str, national_id: str, callers: int, seconds: float) -> dict[str, float]:
    results: dict[str, float] = {}
    for kind in ("native", "aiohttp"):
        async with httpx_client(kind) as http:
            transport = AsyncTransport(client=http, wsdl_client=httpx.Client())
            client = zeep.AsyncClient(
                str(schema_path("population/population.wsdl")), transport=transport
            )
            binding = client.wsdl.bindings["{urn:lienthong:dancu:1}DanCuBinding"]
            service = AsyncServiceProxy(client, binding, address=url)

            async def call(service: object = service) -> None:
                await service.TraCuuCongDan(  # type: ignore[attr-defined]
                    MaDonVi="bench", MaYeuCau="bench", SoDinhDanh=national_id
                )

            await call()
            results[f"zeep on httpx ({kind} transport)"] = await rate(call, callers, seconds)
            transport.wsdl_client.close()
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=2.0)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()

    samples: dict[tuple[str, int], list[float]] = {}
    json_port, mock_port = free_port(), free_port()
    json_url = f"http://127.0.0.1:{json_port}/"
    mock_url = f"http://127.0.0.1:{mock_port}"
    with (
        server_process(["-m", "bench._json_server", str(json_port)], json_url),
        server_process(
            ["-m", "bench._mock_server", "population", str(mock_port)], f"{mock_url}/_admin/stats"
        ),
    ):
        national_id = httpx.get(f"{mock_url}/_admin/sample", params={"n": 1}).json()["keys"][0]
        for _ in range(args.rounds):
            for callers in (1, 32):
                for name, value in asyncio.run(json_round(json_url, callers, args.seconds)).items():
                    samples.setdefault((name, callers), []).append(value)
            soap = asyncio.run(soap_round(f"{mock_url}/dancu", national_id, 32, args.seconds))
            for name, value in soap.items():
                samples.setdefault((name, 32), []).append(value)

    rows = [
        {
            "client": name,
            "callers": callers,
            "requests/s (median)": median(values),
            "rounds": len(values),
        }
        for (name, callers), values in samples.items()
    ]
    native32 = median(samples[("httpx (native transport)", 32)])
    aio32 = median(samples[("httpx (aiohttp transport)", 32)])
    report(
        "http_transports",
        "Outbound HTTP transports (JSON endpoint and zeep SOAP, another process serving)",
        rows,
        ratio_aiohttp_over_native_at_32=round(aio32 / native32, 2),
        command="python -m bench.http_transports",
    )


if __name__ == "__main__":
    main()
