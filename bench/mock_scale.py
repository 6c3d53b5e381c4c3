"""Scale of the mocks: a million synthetic citizens, served from a function of the index.

    python -m bench.mock_scale [--citizens 1000000] [--lookups 2000]

The population mock runs in its own process with the given world size; SOAP look-ups
of the first citizens and of random ones alternate in rounds (same client, same
connection); the mock's resident memory is read from /proc before and after. The
target: under 150 MB resident with a million citizens, and random look-ups as fast
as look-ups of the first ones.
"""

from __future__ import annotations

import argparse
import random
import statistics
import time
from pathlib import Path

import httpx

from bench._common import free_port, report, server_process
from hub.mocks._world import World

_LOOKUP = (
    '<?xml version="1.0" encoding="utf-8"?>'
    '<soap-env:Envelope xmlns:soap-env="http://schemas.xmlsoap.org/soap/envelope/">'
    '<soap-env:Body><ns0:TraCuuCongDan xmlns:ns0="urn:lienthong:dancu:1">'
    "<ns0:MaDonVi>bench</ns0:MaDonVi><ns0:MaYeuCau>bench</ns0:MaYeuCau>"
    "<ns0:SoDinhDanh>{key}</ns0:SoDinhDanh>"
    "</ns0:TraCuuCongDan></soap-env:Body></soap-env:Envelope>"
)
_HEADERS = {
    "Content-Type": "text/xml; charset=utf-8",
    "SOAPAction": '"urn:lienthong:dancu:1#TraCuuCongDan"',
}


def rss_mb(pid: int, field: str = "VmRSS") -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def timed(client: httpx.Client, url: str, keys: list[str]) -> list[float]:
    latencies = []
    for key in keys:
        started = time.perf_counter()
        response = client.post(url, content=_LOOKUP.format(key=key), headers=_HEADERS)
        latencies.append((time.perf_counter() - started) * 1000)
        assert response.status_code == 200, response.status_code
    return latencies


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--citizens", type=int, default=1_000_000)
    parser.add_argument("--lookups", type=int, default=2_000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()

    world = World(seed=1, citizens=args.citizens)
    per_round = args.lookups // args.rounds
    first = [world.citizen(i).national_id for i in range(per_round)]
    rng = random.Random(7)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    samples: dict[str, list[float]] = {"first": [], "random": []}
    with server_process(
        ["-m", "bench._mock_server", "population", str(port), str(args.citizens)],
        f"{base}/_admin/stats",
    ) as mock:
        started_rss = rss_mb(mock.pid)
        with httpx.Client(timeout=10) as client:
            for _ in range(args.rounds):
                random_keys = [
                    world.citizen(rng.randrange(args.citizens)).national_id
                    for _ in range(per_round)
                ]
                samples["first"] += timed(client, f"{base}/dancu", first)
                samples["random"] += timed(client, f"{base}/dancu", random_keys)
        after_rss, peak_rss = rss_mb(mock.pid), rss_mb(mock.pid, "VmHWM")

    rows = [
        {
            "citizens": f"{args.citizens:,}",
            "look-ups of": name,
            "count": len(values),
            "p50 ms": statistics.median(values),
            "p90 ms": sorted(values)[int(len(values) * 0.9)],
        }
        for name, values in samples.items()
    ]
    report(
        "mock_scale",
        f"Population mock with {args.citizens:,} citizens: memory, first against random citizens",
        rows,
        rss_mb_started=round(started_rss, 1),
        rss_mb_after=round(after_rss, 1),
        rss_mb_peak=round(peak_rss, 1),
        random_over_first_p50=round(
            statistics.median(samples["random"]) / statistics.median(samples["first"]), 3
        ),
        command="python -m bench.mock_scale",
    )


if __name__ == "__main__":
    main()
