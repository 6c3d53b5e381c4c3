"""What every benchmark shares: the machine's description, results on disk, servers."""

from __future__ import annotations

import contextlib
import json
import os
import platform
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import httpx

RESULTS = Path(__file__).parent / "results"


def machine() -> dict[str, Any]:
    """The machine the figures were measured on."""
    model = platform.processor() or "unknown"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    return {
        "cpu": model,
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "system": f"{platform.system()} {platform.release()}",
    }


def command() -> str:
    return "python -m " + " ".join(
        [sys.argv[0].rsplit("/", 1)[-1].removesuffix(".py"), *sys.argv[1:]]
    )


def report(
    name: str,
    title: str,
    rows: Sequence[dict[str, Any]],
    *,
    goals: Sequence[dict[str, Any]] = (),
    **extra: Any,
) -> None:
    """Print a table of ``rows`` (and one of ``goals``) and write them with the machine
    to results/<name>.json."""
    info = machine()
    print(f"\n== {title}")
    print(f"   machine: {info['cpu']}, {info['cores']} cores, Python {info['python']}")
    _print_table(rows)
    if goals:
        print("   goals:")
        _print_table(goals)
    for key, value in extra.items():
        print(f"   {key}: {value}")
    RESULTS.mkdir(exist_ok=True)
    payload = {"name": name, "title": title, "machine": info, "rows": list(rows), **extra}
    if goals:
        payload["goals"] = list(goals)
    (RESULTS / f"{name}.json").write_text(json.dumps(payload, indent=2, ensure_ascii=False) + "\n")


def _print_table(rows: Sequence[dict[str, Any]]) -> None:
    if not rows:
        return
    columns = list(rows[0])
    widths = [max(len(str(c)), *(len(_cell(r[c])) for r in rows)) for c in columns]
    print("   " + "  ".join(str(c).ljust(w) for c, w in zip(columns, widths, strict=True)))
    for row in rows:
        print(
            "   " + "  ".join(_cell(row[c]).ljust(w) for c, w in zip(columns, widths, strict=True))
        )


def _cell(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:,.2f}" if value < 100 else f"{value:,.0f}"
    return str(value)


def median(values: Sequence[float]) -> float:
    return statistics.median(values)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextlib.contextmanager
def server_process(
    args: Sequence[str], ready_url: str, timeout: float = 30.0
) -> Iterator[subprocess.Popen[bytes]]:
    """Run a server in its own process (its own core, its own GIL) until the block ends."""
    process = subprocess.Popen(
        [sys.executable, *args], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    try:
        deadline = time.monotonic() + timeout
        while True:
            try:
                if httpx.get(ready_url, timeout=1).status_code < 500:
                    break
            except httpx.HTTPError:
                pass
            if process.poll() is not None:
                errors = process.stderr.read().decode()[-2000:] if process.stderr else ""
                raise RuntimeError(f"server exited: {errors}")
            if time.monotonic() > deadline:
                raise RuntimeError("server did not start")
            time.sleep(0.1)
        yield process
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
