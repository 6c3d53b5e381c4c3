"""What witnesses and receipts cost the sidecar, side by side in one run.

    python -m bench.receipts [--seconds 5] [--rounds 3] [--connections 64]

Two sidecars answer ``POST /v1/sources/budget_unit/lookup`` (the lightest source, so
that the hub's own costs show): one whose trail has no witnesses, one whose trail two
witnesses (``hub audit witness serve``, each a process of its own) cosign. Each is
driven with and without ``"receipt": true`` in the body. wrk runs them at 64
connections for throughput and tail latency, and at 1 for the median latency; rounds
interleave the four arms, in a turning order, and figures are medians of the rounds.
The trail keeps its default checkpoint cadence.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import httpx

from bench._common import free_port, median, report, server_process
from bench.sidecar import KEY, PURPOSE, hub_config, lua, wrk
from hub._registry import installed_mocks
from hub.audit._checkpoint import origin_of
from hub.audit._keys import generate_audit_keys, generate_signing_key, load_public_key
from hub.audit.note import ED25519, Verifier

NODE = "bench"
PREFIX = "lienthong.example.gov.vn/audit"
SIDECARS = ("no witnesses", "2 witnesses")
RECEIPTS = ("without", "receipt")


def witness_config(work: Path, name: str, port: int, log_vkey: str) -> Path:
    """A witness's TOML file, following the benchmark's writer."""
    folder = work / name
    folder.mkdir()
    key = folder / "witness.pem"
    generate_signing_key(key)
    config = folder / "witness.toml"
    config.write_text(
        f'name = "bench.example.gov.vn/{name}"\nkey = "{key}"\nstate = "{folder / "state"}"\n'
        f'host = "127.0.0.1"\nport = {port}\nlogs = ["{log_vkey}"]\n'
    )
    return config


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--connections", type=int, default=64)
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        sys.exit("wrk is needed: apt-get install wrk")

    work = Path(tempfile.mkdtemp(prefix="bench-receipts-"))
    keys = generate_audit_keys(work / "audit-keys")
    log_vkey = Verifier(origin_of(PREFIX, NODE), ED25519, load_public_key(keys["public_key"])).vkey
    ports = {name: free_port() for name in ("mock", "w1", "w2", *SIDECARS)}
    mock_url = f"http://127.0.0.1:{ports['mock']}"
    table = installed_mocks()["budget_unit"].hub_settings(mock_url)
    audit = [
        "[audit]",
        f'node = "{NODE}"',
        f'origin_prefix = "{PREFIX}"',
        *(f'{name} = "file:{keys[name]}"' for name in ("signing_key", "pseudonym_key", "mac_key")),
    ]
    witnesses = {name: witness_config(work, name, ports[name], log_vkey) for name in ("w1", "w2")}
    c = args.connections

    samples: dict[str, list[float]] = {}
    with contextlib.ExitStack() as stack:
        mock = ["-m", "bench._mock_server", "budget_unit", str(ports["mock"])]
        stack.enter_context(server_process(mock, f"{mock_url}/_admin/stats"))
        vkeys = {}
        for name, config in witnesses.items():
            serve = ["-m", "hub", "audit", "witness", "serve", "--config", str(config)]
            stack.enter_context(server_process(serve, f"http://127.0.0.1:{ports[name]}/"))
            vkeys[name] = witness_vkey(config)
        urls = {}
        for sidecar in SIDECARS:
            folder = work / sidecar.replace(" ", "-")
            folder.mkdir()
            config = hub_config(folder, ports[sidecar], {"budget_unit": table})
            lines = list(audit)
            if sidecar == "2 witnesses":
                for name in witnesses:
                    lines += [
                        f"[audit.witnesses.{name}]",
                        f'url = "http://127.0.0.1:{ports[name]}"',
                        f'public_key = "{vkeys[name]}"',
                    ]
            with config.open("a") as file:
                file.write("\n".join(lines) + "\n")
            urls[sidecar] = f"http://127.0.0.1:{ports[sidecar]}"
            command = ["-m", "hub", "serve", "--config", str(config)]
            stack.enter_context(server_process(command, f"{urls[sidecar]}/healthz"))
        codes = httpx.get(
            f"{mock_url}/_admin/sample", params={"n": 200, "kind": "budget_unit"}
        ).json()["keys"]
        headers = {"Content-Type": "application/json", "Authorization": f"Bearer {KEY}"}
        scripts = {}
        for arm in RECEIPTS:
            extra = {"receipt": True} if arm == "receipt" else {}
            bodies = [
                (
                    "/v1/sources/budget_unit/lookup",
                    json.dumps({"query": {"code": code}, "purpose": PURPOSE, **extra}),
                )
                for code in codes
            ]
            scripts[arm] = work / f"{arm}.lua"
            scripts[arm].write_text(lua("POST", bodies, headers))
        arms = [(sidecar, receipt) for sidecar in SIDECARS for receipt in RECEIPTS]
        for sidecar, receipt in arms:
            wrk(urls[sidecar], scripts[receipt], c, 1)
        for turn in range(args.rounds):
            for sidecar, receipt in arms[turn % len(arms) :] + arms[: turn % len(arms)]:
                for connections in (1, c):
                    seconds = args.seconds / (2 if connections == 1 else 1)
                    figures = wrk(urls[sidecar], scripts[receipt], connections, seconds)
                    for metric, value in figures.items():
                        key = f"{sidecar}:{receipt}@{connections}:{metric}"
                        samples.setdefault(key, []).append(value)
        with httpx.Client(headers=headers) as client:
            witnessed = client.get(f"{urls['2 witnesses']}/readyz").json()["audit"]

    def m(sidecar: str, receipt: str, connections: int, metric: str) -> float:
        return median(samples[f"{sidecar}:{receipt}@{connections}:{metric}"])

    rows = [
        {
            "trail": sidecar,
            "answer": receipt,
            f"look-ups/s at {c}": m(sidecar, receipt, c, "requests_per_s"),
            f"p99 ms at {c}": m(sidecar, receipt, c, "p99_ms"),
            "p50 ms at 1": m(sidecar, receipt, 1, "p50_ms"),
            "non-2xx": m(sidecar, receipt, c, "errors") + m(sidecar, receipt, 1, "errors"),
        }
        for sidecar, receipt in arms
    ]

    def ratio(a: tuple[str, str], b: tuple[str, str]) -> str:
        return f"{m(*a, c, 'requests_per_s') / m(*b, c, 'requests_per_s'):.2f}"

    def added(a: tuple[str, str], b: tuple[str, str]) -> str:
        return f"{m(*a, 1, 'p50_ms') - m(*b, 1, 'p50_ms'):+.2f} ms"

    plain, cosigned = ("no witnesses", "without"), ("2 witnesses", "without")
    comparisons = [
        {
            "comparison": "2 witnesses / none",
            f"throughput ratio at {c}": ratio(cosigned, plain),
            "added at the median at 1": added(cosigned, plain),
        },
        {
            "comparison": "receipt / without (no witnesses)",
            f"throughput ratio at {c}": ratio(("no witnesses", "receipt"), plain),
            "added at the median at 1": added(("no witnesses", "receipt"), plain),
        },
        {
            "comparison": "receipt / without (2 witnesses)",
            f"throughput ratio at {c}": ratio(("2 witnesses", "receipt"), cosigned),
            "added at the median at 1": added(("2 witnesses", "receipt"), cosigned),
        },
    ]
    report(
        "receipts",
        "Sidecar look-ups (budget_unit): witnesses and receipts against neither",
        rows,
        goals=comparisons,
        witnessed_at_the_end=witnessed.get("witnessed_size"),
        command="python -m bench.receipts",
    )


def witness_vkey(config: Path) -> str:
    """The witness's vkey, as ``hub audit witness vkey`` prints it for the hub's config."""
    command = [sys.executable, "-m", "hub", "audit", "witness", "vkey", "--config", str(config)]
    return subprocess.run(command, capture_output=True, text=True, check=True).stdout.strip()


if __name__ == "__main__":
    main()
