"""The `hub` command against every mock: look-ups, verifications, one-line errors."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from hub._cli import app, mock_sources_toml
from hub._registry import installed_mocks
from hub.testing import ServedApp

PURPOSE = [
    "--client",
    "portal-cli",
    "--officer",
    "cb.0001",
    "--procedure",
    "1.001757",
    "--dossier",
    "CLI-1",
]
runner = CliRunner()


@pytest.fixture(scope="module")
def config(tmp_path_factory) -> Iterator[tuple[Path, dict[str, str]]]:
    """Every installed mock served, and a hub config pointing at them."""
    served = [
        ServedApp(mock.create_app(seed=1, citizens=2_000)).start()
        for mock in installed_mocks().values()
    ]
    urls = {name: app.url for name, app in zip(installed_mocks(), served, strict=True)}
    folder = tmp_path_factory.mktemp("cli")
    path = folder / "hub.toml"
    path.write_text(f'data_dir = "{folder / "var"}"\n' + mock_sources_toml(urls), encoding="utf-8")
    yield path, urls
    for app_ in served:
        app_.stop()


def sample(url: str, kind: str) -> str:
    keys: list[str] = httpx.get(f"{url}/_admin/sample", params={"n": 1, "kind": kind}).json()[
        "keys"
    ]
    return keys[0]


def run(*args: str):
    return runner.invoke(app, list(args))


@pytest.mark.parametrize(
    ("source", "kind", "field"),
    [
        ("population", "citizen", "national_id"),
        ("business", "enterprise", "code"),
        ("driving_licence", "licence", "number"),
        ("budget_unit", "budget_unit", "code"),
    ],
)
def test_lookup_prints_json_with_an_audit_id(config, source, kind, field, leaks):
    """`hub lookup SOURCE key=value --json` prints the record and its audit id."""
    path, urls = config
    key = sample(urls[source], kind)
    result = run("lookup", source, f"{field}={key}", *PURPOSE, "--config", str(path), "--json")
    assert result.exit_code == 0, result.output
    answer = json.loads(result.stdout)
    assert answer["source"] == source
    assert answer["audit_id"]
    assert answer["record"][field] == key


def test_lookup_prints_a_table_for_people(config):
    """Without --json, a citizen comes out as a field/value table."""
    path, urls = config
    key = sample(urls["population"], "citizen")
    result = run("lookup", "population", f"national_id={key}", *PURPOSE, "--config", str(path))
    assert result.exit_code == 0, result.output
    assert "full_name" in result.output
    assert "audit id" in result.output


def test_a_catalog_entry_is_found(config):
    """The catalog answers an entry by catalog and code."""
    path, _ = config
    result = run(
        "lookup",
        "catalog",
        "catalog=provinces",
        "code=01",
        *PURPOSE,
        "--config",
        str(path),
        "--json",
    )
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["record"]["name"] == "Thành phố Hà Nội"


@pytest.mark.parametrize("source", ["population", "driving_licence"])
def test_verify_prints_each_field(config, source):
    """`hub verify` prints match / mismatch per field and the verdict."""
    path, urls = config
    if source == "population":
        key = sample(urls[source], "citizen")
        record = json.loads(
            run(
                "lookup", source, f"national_id={key}", *PURPOSE, "--config", str(path), "--json"
            ).stdout
        )["record"]
        claim = [f"national_id={key}", f"full_name={record['full_name']}"]
    else:
        key = sample(urls[source], "licence")
        record = json.loads(
            run("lookup", source, f"number={key}", *PURPOSE, "--config", str(path), "--json").stdout
        )["record"]
        claim = [f"number={key}", f"full_name={record['holder']['full_name']}"]
    result = run("verify", source, *claim, *PURPOSE, "--config", str(path), "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["verification"]["matches"]["full_name"] == "match"


def test_bad_input_is_one_line_exit_2(config, leaks):
    """An invalid national id: one line naming the field, no traceback, exit status 2."""
    path, _ = config
    result = run("lookup", "population", "national_id=12", *PURPOSE, "--config", str(path))
    leaks.add(result.output)
    assert result.exit_code == 2
    assert "Traceback" not in result.output
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert errors == ["error: query.national_id: a national id must be exactly 12 digits"]


def test_an_unreachable_upstream_is_one_line_exit_1(tmp_path):
    """Nothing listening: one line, exit status 1, after the retries."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    path = tmp_path / "hub.toml"
    path.write_text(
        f'data_dir = "{tmp_path}"\n[sources.budget_unit]\nurl = "http://127.0.0.1:{port}"\n'
        'api_key = "x"\ndeadline = 2.0\n[sources.budget_unit.retry]\nattempts = 2\n'
        "backoff_initial = 0.01\n",
        encoding="utf-8",
    )
    result = run("lookup", "budget_unit", "code=1000001", *PURPOSE, "--config", str(path))
    assert result.exit_code == 1
    assert "Traceback" not in result.output
    assert "unavailable" in result.output.lower()


# `hub serve` where the sidecar extra is not installed: its modules cannot be imported.
_WITHOUT_SIDECAR = (
    "import sys\n"
    "for name in ('fastapi', 'prometheus_client'):\n"
    "    sys.modules[name] = None\n"
    "from hub._cli import main\n"
    "main(sys.argv[1:])\n"
)


def test_serve_without_the_sidecar_extra_says_how_to_install_it(tmp_path):
    """One line naming the extra to install, no traceback, exit status 2."""
    path = tmp_path / "hub.toml"
    path.write_text(f'data_dir = "{tmp_path}"\n', encoding="utf-8")
    result = subprocess.run(
        [sys.executable, "-c", _WITHOUT_SIDECAR, "serve", "--config", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "COLUMNS": "200"},
    )
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    assert result.stderr.splitlines() == [
        "error: the sidecar needs the sidecar extra: pip install 'lienthong[sidecar]'"
    ]


def test_sources_lists_every_configured_source_with_health(config):
    """`hub sources --json` shows each source up."""
    path, urls = config
    result = run("sources", "--config", str(path), "--json")
    assert result.exit_code == 0, result.output
    listed = {row["name"]: row["health"]["status"] for row in json.loads(result.stdout)}
    assert listed == dict.fromkeys(urls, "up")


def test_mocks_serve_starts_every_mock_and_writes_a_config(tmp_path):
    """`hub mocks serve` takes consecutive ports, prints them, writes a config, stops on ^C."""
    base = _free_block(len(installed_mocks()))
    out = tmp_path / "mocks.toml"
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "hub",
            "mocks",
            "serve",
            "--port",
            str(base),
            "--citizens",
            "1000",
            "--config-out",
            str(out),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "COLUMNS": "120"},
    )
    try:
        deadline = time.monotonic() + 60
        while not out.exists() and time.monotonic() < deadline:
            time.sleep(0.2)
        assert out.exists(), "no config written"
        for offset in range(len(installed_mocks())):
            assert (
                httpx.get(f"http://127.0.0.1:{base + offset}/_admin/stats", timeout=10).status_code
                == 200
            )
        assert f"http://127.0.0.1:{base}/dancu" in out.read_text(encoding="utf-8")
    finally:
        process.send_signal(signal.SIGINT)
        interrupted = time.monotonic()
        output = process.communicate(timeout=20)[0]
    assert time.monotonic() - interrupted < 5
    assert process.returncode == 0
    assert "population" in output
    assert f"127.0.0.1:{base}" in output
    assert "Traceback" not in output


def _free_block(size: int) -> int:
    """A base port with ``size`` free ports after it."""
    for base in range(20_000, 60_000, 97):
        sockets = []
        try:
            for offset in range(size):
                sock = socket.socket()
                sockets.append(sock)
                sock.bind(("127.0.0.1", base + offset))
            return base
        except OSError:
            continue
        finally:
            for sock in sockets:
                sock.close()
    raise RuntimeError("no free block of ports")
