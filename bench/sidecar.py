"""Look-ups through the sidecar (audit on, SQLite, durable) against calling the mock directly.

    python -m bench.sidecar [--source budget_unit] [--seconds 10] [--rounds 3]

wrk (Debian's package) drives both: the mock alone, then the sidecar in front of the
same mock, each in its own process; at 64 connections for throughput and tail latency,
and at 1 connection for the latency the sidecar adds. Rounds interleave the two so
that the machine's noise falls on both alike; figures are medians of the rounds. The
sidecar's peak resident memory is read from /proc after the load.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import httpx

from bench._common import free_port, median, report, server_process
from hub._registry import installed_mocks
from hub.sidecar import hash_key

KEY = "bench-key-0123456789abcdef0123456789abcdef"
PURPOSE = {"officer": "cb.0001", "procedure": "1.001757", "dossier": "BENCH-0001"}

_SOAP_LOOKUP = (
    '<?xml version="1.0" encoding="utf-8"?>'
    '<soap-env:Envelope xmlns:soap-env="http://schemas.xmlsoap.org/soap/envelope/">'
    '<soap-env:Body><ns0:TraCuuCongDan xmlns:ns0="urn:lienthong:dancu:1">'
    "<ns0:MaDonVi>bench</ns0:MaDonVi><ns0:MaYeuCau>bench</ns0:MaYeuCau>"
    "<ns0:SoDinhDanh>{key}</ns0:SoDinhDanh>"
    "</ns0:TraCuuCongDan></soap-env:Body></soap-env:Envelope>"
)


def _direct_budget_unit(
    table: dict[str, Any], keys: list[str]
) -> tuple[str, list[tuple[str, str]], dict[str, str]]:
    return "GET", [(f"/v1/units/{key}", "") for key in keys], {"X-Api-Key": table["api_key"]}


def _direct_population(
    table: dict[str, Any], keys: list[str]
) -> tuple[str, list[tuple[str, str]], dict[str, str]]:
    headers = {
        "Content-Type": "text/xml; charset=utf-8",
        "SOAPAction": '"urn:lienthong:dancu:1#TraCuuCongDan"',
    }
    return "POST", [("/dancu", _SOAP_LOOKUP.format(key=key)) for key in keys], headers


# For each source: the sample kind, the query field of a key, and the bare request the
# mock answers for each key (the same upstream call the connector makes).
SOURCES: dict[str, dict[str, Any]] = {
    "budget_unit": {"kind": "budget_unit", "field": "code", "direct": _direct_budget_unit},
    "population": {"kind": "citizen", "field": "national_id", "direct": _direct_population},
}


def wrk(url: str, script: Path, connections: int, seconds: float) -> dict[str, float]:
    """Run wrk; return requests/s and latency percentiles in ms."""
    out = subprocess.run(
        [
            "wrk",
            "-t",
            "1",
            "-c",
            str(connections),
            "-d",
            f"{max(1, round(seconds))}s",
            "--latency",
            "-s",
            str(script),
            url,
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    figures = {"requests_per_s": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))}  # type: ignore[union-attr]
    for label, name in (("50%", "p50_ms"), ("99%", "p99_ms")):
        value, unit = re.search(rf"\s{label}\s+([\d.]+)(us|ms|s)", out).groups()  # type: ignore[union-attr]
        figures[name] = float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    figures["errors"] = float(errors.group(1)) if errors else 0.0
    return figures


def lua(method: str, requests: list[tuple[str, str]], headers: dict[str, str]) -> str:
    """A wrk script cycling through (path, body) pairs."""
    lines = [f'wrk.method = "{method}"']
    lines += [f"wrk.headers[{json.dumps(k)}] = {json.dumps(v)}" for k, v in headers.items()]
    lines.append("local requests = {")
    lines += [f"  {{{json.dumps(path)}, {json.dumps(body)}}}," for path, body in requests]
    lines += [
        "}",
        "local i = 0",
        "request = function()",
        "  i = i % #requests + 1",
        "  local body = requests[i][2] ~= '' and requests[i][2] or nil",
        "  return wrk.format(nil, requests[i][1], nil, body)",
        "end",
    ]
    return "\n".join(lines) + "\n"


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--source", default="budget_unit", choices=sorted(SOURCES))
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--connections", type=int, default=64)
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        sys.exit("wrk is needed: apt-get install wrk")

    source = args.source
    spec = SOURCES[source]
    mock_port, sidecar_port = free_port(), free_port()
    mock_url = f"http://127.0.0.1:{mock_port}"
    sidecar_url = f"http://127.0.0.1:{sidecar_port}"
    work = Path(tempfile.mkdtemp(prefix="bench-sidecar-"))
    mock = installed_mocks()[source]
    table = mock.hub_settings(mock_url)
    config = work / "hub.toml"
    config.write_text(
        "\n".join(
            [
                f'data_dir = "{work / "var"}"',
                "[logging]",
                'level = "warning"',
                "[sidecar]",
                f"port = {sidecar_port}",
                f"[sources.{source}]",
                *(f"{k} = {json.dumps(v)}" for k, v in table.items()),
                f"[sources.{source}.limits]",
                "concurrency = 256",
                "[clients.bench]",
                f'key_sha256 = "{hash_key(KEY)}"',
                f"[clients.bench.sources.{source}]",
                'operations = ["lookup"]',
            ]
        )
        + "\n"
    )

    samples: dict[str, list[float]] = {}
    with server_process(
        ["-m", "bench._mock_server", source, str(mock_port)], f"{mock_url}/_admin/stats"
    ):
        keys = httpx.get(
            f"{mock_url}/_admin/sample", params={"n": 200, "kind": spec["kind"]}
        ).json()["keys"]
        bodies = [
            (
                f"/v1/sources/{source}/lookup",
                json.dumps({"query": {spec["field"]: key}, "purpose": PURPOSE}),
            )
            for key in keys
        ]
        sidecar_script = work / "sidecar.lua"
        sidecar_script.write_text(
            lua(
                "POST",
                bodies,
                {"Content-Type": "application/json", "Authorization": f"Bearer {KEY}"},
            )
        )
        direct_script = work / "direct.lua"
        direct_script.write_text(lua(*spec["direct"](table, keys)))
        command = ["-m", "hub", "serve", "--config", str(config)]
        with server_process(command, f"{sidecar_url}/healthz") as sidecar:
            for _ in range(args.rounds):
                for name, url, script in (
                    ("direct", mock_url, direct_script),
                    ("sidecar", sidecar_url, sidecar_script),
                ):
                    for connections in (1, args.connections):
                        figures = wrk(
                            url, script, connections, args.seconds / (2 if connections == 1 else 1)
                        )
                        for metric, value in figures.items():
                            samples.setdefault(f"{name}@{connections}:{metric}", []).append(value)
            rss = peak_rss_mb(sidecar.pid)

    def m(name: str) -> float:
        return median(samples[name])

    c = args.connections
    rows = [
        {
            "path": name,
            "connections": conns,
            "requests/s": m(f"{name}@{conns}:requests_per_s"),
            "p50 ms": m(f"{name}@{conns}:p50_ms"),
            "p99 ms": m(f"{name}@{conns}:p99_ms"),
            "non-2xx": m(f"{name}@{conns}:errors"),
        }
        for name in ("direct", "sidecar")
        for conns in (1, c)
    ]
    report(
        f"sidecar_{source}",
        f"Sidecar look-ups of {source} (audit on, SQLite durable) against the mock directly",
        rows,
        added_latency_p50_ms_at_1=round(m("sidecar@1:p50_ms") - m("direct@1:p50_ms"), 3),
        sidecar_share_of_direct_throughput_at_64=round(
            m(f"sidecar@{c}:requests_per_s") / m(f"direct@{c}:requests_per_s"), 3
        ),
        sidecar_peak_rss_mb=round(rss, 1),
        command=f"python -m bench.sidecar --source {source}",
    )


if __name__ == "__main__":
    main()
