"""The sidecar against a bare forwarder of the same look-ups, side by side in one run.

    python -m bench.sidecar [--seconds 5] [--rounds 3] [--connections 64] [--workers N]

Both answer ``POST /v1/sources/{source}/lookup`` for the population (SOAP) and the
budget-unit (REST) mocks: the sidecar (audit on, SQLite, durable) and
`bench._bare_forwarder`, the least a look-up service does (check the key, parse, call
the mock, parse, answer). Each mock and each service runs in its own process; wrk
(Debian's package) drives them at 64 connections for throughput and tail latency, and
at 1 for the latency the sidecar adds. Rounds interleave the two services, each going
first in turn, so that the machine's noise falls on both; figures are medians of the
rounds. Peak resident memory is read from /proc after the load.

The goals, each printed as met or not: at 64 connections, at least two thirds of the
bare forwarder's throughput and at most twice its p99; at 1 connection, at most 1 ms
more at the median; the sidecar under 200 MB resident.

With ``--workers N`` a third service joins the rounds: the same sidecar with N worker
processes (`hub serve --workers N`). Every row also gives the CPU its service's
processes (the supervisor and its workers) spent per look-up, read from /proc: the
figure from which a projection to a larger host starts.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
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
SERVICES = ("sidecar", "bare")

# For each source: the sample kind and the query field of a key.
SOURCES: dict[str, tuple[str, str]] = {
    "population": ("citizen", "national_id"),
    "budget_unit": ("budget_unit", "code"),
}

THROUGHPUT_SHARE = 2 / 3
P99_RATIO = 2.0
ADDED_P50_MS = 1.0
RESIDENT_MB = 200.0


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
            # A slow answer counts in the latencies rather than dropping out of them.
            "--timeout",
            "30s",
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


def cpu_seconds(pid: int) -> float:
    """CPU time (user and system) of a process and every process below it, from /proc."""
    total = 0.0
    pending = [pid]
    tick = os.sysconf("SC_CLK_TCK")
    while pending:
        current = pending.pop()
        try:
            fields = Path(f"/proc/{current}/stat").read_text().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / tick
            for task in Path(f"/proc/{current}/task").iterdir():
                pending += [int(child) for child in (task / "children").read_text().split()]
        except (FileNotFoundError, ProcessLookupError):
            continue
    return total


def hub_config(
    work: Path, port: int, tables: dict[str, dict[str, Any]], *, workers: int = 1
) -> Path:
    """The sidecar's configuration; the bare forwarder reads its sources and client key."""
    lines = [
        f'data_dir = "{work / "var"}"',
        "[logging]",
        'level = "warning"',
        "[sidecar]",
        f"port = {port}",
        f"workers = {workers}",
        "[clients.bench]",
        f'key_sha256 = "{hash_key(KEY)}"',
    ]
    for source in tables:
        lines += [f"[clients.bench.sources.{source}]", 'operations = ["lookup"]']
    for source, table in tables.items():
        lines += [f"[sources.{source}]", *(f"{k} = {json.dumps(v)}" for k, v in table.items())]
        lines += [f"[sources.{source}.limits]", "concurrency = 256"]
    config = work / f"hub-{workers}.toml"
    config.write_text("\n".join(lines) + "\n")
    return config


def verdict(met: bool) -> str:
    return "met" if met else "not met"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--workers", type=int, default=0, help="add a sidecar with N workers")
    args = parser.parse_args()
    services = SERVICES if args.workers < 2 else (*SERVICES, f"sidecar x{args.workers}")
    if shutil.which("wrk") is None:
        sys.exit("wrk is needed: apt-get install wrk")

    work = Path(tempfile.mkdtemp(prefix="bench-sidecar-"))
    ports = {name: free_port() for name in (*SOURCES, *services)}
    mock_urls = {source: f"http://127.0.0.1:{ports[source]}" for source in SOURCES}
    urls = {service: f"http://127.0.0.1:{ports[service]}" for service in services}
    tables = {
        source: installed_mocks()[source].hub_settings(mock_urls[source]) for source in SOURCES
    }
    config = hub_config(work, ports["sidecar"], tables)
    commands = {
        "sidecar": ["-m", "hub", "serve", "--config", str(config)],
        "bare": ["-m", "bench._bare_forwarder", str(config), str(ports["bare"])],
    }
    if args.workers >= 2:
        service = services[-1]
        several = hub_config(work, ports[service], tables, workers=args.workers)
        commands[service] = ["-m", "hub", "serve", "--config", str(several)]
    c = args.connections

    samples: dict[str, list[float]] = {}
    with contextlib.ExitStack() as stack:
        for source, url in mock_urls.items():
            mock = ["-m", "bench._mock_server", source, str(ports[source])]
            stack.enter_context(server_process(mock, f"{url}/_admin/stats"))
        scripts = {}
        for source, (kind, field) in SOURCES.items():
            keys = httpx.get(
                f"{mock_urls[source]}/_admin/sample", params={"n": 200, "kind": kind}
            ).json()["keys"]
            path = f"/v1/sources/{source}/lookup"
            bodies = [
                (path, json.dumps({"query": {field: key}, "purpose": PURPOSE})) for key in keys
            ]
            headers = {"Content-Type": "application/json", "Authorization": f"Bearer {KEY}"}
            scripts[source] = work / f"{source}.lua"
            scripts[source].write_text(lua("POST", bodies, headers))
        processes = {
            service: stack.enter_context(server_process(commands[service], f"{url}/healthz"))
            for service, url in urls.items()
        }
        # Pools filled and code paths warm before anything counts.
        for source in SOURCES:
            for url in urls.values():
                wrk(url, scripts[source], c, 1)
        for turn in range(args.rounds):
            for source in SOURCES:
                for service in services[:: 1 if turn % 2 == 0 else -1]:
                    for connections in (1, c):
                        seconds = args.seconds / (2 if connections == 1 else 1)
                        before = cpu_seconds(processes[service].pid)
                        figures = wrk(urls[service], scripts[source], connections, seconds)
                        spent = cpu_seconds(processes[service].pid) - before
                        served = figures["requests_per_s"] * seconds
                        figures["cpu_ms_per_request"] = 1000 * spent / max(served, 1)
                        for metric, value in figures.items():
                            key = f"{source}:{service}@{connections}:{metric}"
                            samples.setdefault(key, []).append(value)
        rss = {service: peak_rss_mb(process.pid) for service, process in processes.items()}

    def m(source: str, service: str, connections: int, metric: str) -> float:
        return median(samples[f"{source}:{service}@{connections}:{metric}"])

    rows = [
        {
            "source": source,
            "connections": connections,
            "service": service,
            "look-ups/s": m(source, service, connections, "requests_per_s"),
            "p50 ms": m(source, service, connections, "p50_ms"),
            "p99 ms": m(source, service, connections, "p99_ms"),
            "non-2xx": m(source, service, connections, "errors"),
            "CPU ms/look-up": m(source, service, connections, "cpu_ms_per_request"),
        }
        for source in SOURCES
        for connections in (c, 1)
        for service in services
    ]
    goals = []
    for source in SOURCES:
        share = m(source, "sidecar", c, "requests_per_s") / m(source, "bare", c, "requests_per_s")
        p99 = m(source, "sidecar", c, "p99_ms") / m(source, "bare", c, "p99_ms")
        added = m(source, "sidecar", 1, "p50_ms") - m(source, "bare", 1, "p50_ms")
        goals += [
            {
                "source": source,
                "goal": f"sidecar/bare throughput at {c}",
                "measured": f"{share:.2f}",
                "target": f">= {THROUGHPUT_SHARE:.2f}",
                "verdict": verdict(share >= THROUGHPUT_SHARE),
            },
            {
                "source": source,
                "goal": f"sidecar/bare p99 at {c}",
                "measured": f"{p99:.2f}",
                "target": f"<= {P99_RATIO:.0f}",
                "verdict": verdict(p99 <= P99_RATIO),
            },
            {
                "source": source,
                "goal": "added at the median at 1",
                "measured": f"{added:+.2f} ms",
                "target": f"<= {ADDED_P50_MS:.0f} ms",
                "verdict": verdict(added <= ADDED_P50_MS),
            },
        ]
    goals.append(
        {
            "source": "both",
            "goal": "sidecar peak resident memory",
            "measured": f"{rss['sidecar']:.0f} MB",
            "target": f"< {RESIDENT_MB:.0f} MB",
            "verdict": verdict(rss["sidecar"] < RESIDENT_MB),
        }
    )
    report(
        "sidecar",
        "Sidecar look-ups (audit on, SQLite durable) against a bare forwarder of the same",
        rows,
        goals=goals,
        bare_forwarder_peak_rss_mb=round(rss["bare"], 1),
        command=" ".join(["python -m bench.sidecar", *sys.argv[1:]]),
    )


if __name__ == "__main__":
    main()
