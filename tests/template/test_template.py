"""The connector template, installed from outside: the hub finds and serves it unchanged.

The package in examples/connector-template is installed into a directory of its own
(never into the project's environment); the commands then run in subprocesses with
that directory on PYTHONPATH, where ``importlib.metadata`` finds its entry points.
"""

from __future__ import annotations

import importlib.metadata
import importlib.resources
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from hub._registry import installed_connectors, installed_mocks
from hub.sidecar import hash_key

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "examples" / "connector-template"
SOURCE = "social_insurance"
CLIENT = "portal-template"
KEY = "key-portal-template-0123456789abcdef0123"
PURPOSE = {"officer": "cb.0042", "procedure": "1.001757", "dossier": "H37-0001"}
# The mocks `hub mocks serve` starts: the project's, then the template's.
MOCKS = len(installed_mocks()) + 1


def _uv() -> str:
    uv = shutil.which("uv") or str(ROOT / ".uv" / "bin" / "uv")
    if not Path(uv).is_file():
        pytest.fail("uv is neither on the PATH nor in .uv/ (make bootstraps it)")
    return uv


def _install(target: Path) -> None:
    command = [
        _uv(), "pip", "install", "--quiet", "--python", sys.executable,
        "--target", str(target), "--no-deps", str(TEMPLATE),
    ]  # fmt: skip
    # The build backend is in uv's cache once the project itself was built; only on a
    # machine where it is not is it fetched from the package index.
    result = subprocess.run([*command, "--offline"], capture_output=True, text=True)
    if result.returncode != 0:
        result = subprocess.run(command, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """The environment of a subprocess that sees the installed template."""
    target = tmp_path_factory.mktemp("template-target")
    _install(target)
    env = {k: v for k, v in os.environ.items() if not k.startswith("HUB_")}
    env.update(
        PYTHONPATH=str(target),
        PYTHONDONTWRITEBYTECODE="1",
        PYTHONUNBUFFERED="1",
        COLUMNS="200",
    )
    return env


def _free_block(size: int) -> int:
    """A base port with ``size`` free ports after it."""
    for base in range(21_000, 60_000, 89):
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


def _wait_for(condition: Any, what: str, process: subprocess.Popen[Any]) -> None:
    deadline = time.monotonic() + 30
    while not condition():
        assert process.poll() is None, f"the process serving {what} exited"
        assert time.monotonic() < deadline, f"{what} did not come up"
        time.sleep(0.1)


def _stop(process: subprocess.Popen[Any]) -> None:
    process.send_signal(signal.SIGINT)
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


@dataclass
class Mocks:
    base: int
    config: Path
    output: Path


@pytest.fixture(scope="module")
def mocks(env: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> Iterator[Mocks]:
    """`hub mocks serve` with the template installed, until the module's tests are done."""
    folder = tmp_path_factory.mktemp("mocks")
    base = _free_block(MOCKS)
    served = Mocks(base, folder / "mocks.toml", folder / "output.txt")
    command = [
        sys.executable, "-m", "hub", "mocks", "serve", "--port", str(base),
        "--citizens", "1000", "--config-out", str(served.config),
    ]  # fmt: skip
    with served.output.open("w") as output:
        process = subprocess.Popen(command, stdout=output, stderr=subprocess.STDOUT, env=env)
    try:
        _wait_for(served.config.exists, "the mocks", process)
        yield served
    finally:
        _stop(process)
    assert "Traceback" not in served.output.read_text()


def _source_table(config: Path) -> dict[str, Any]:
    table: dict[str, Any] = tomllib.loads(config.read_text(encoding="utf-8"))["sources"][SOURCE]
    return table


def test_the_projects_environment_is_untouched():
    """The template is installed only where the tests put it, never in the project's venv."""
    with pytest.raises(importlib.metadata.PackageNotFoundError):
        importlib.metadata.distribution("lienthong-social-insurance")
    assert SOURCE not in installed_connectors()


def test_mocks_serve_lists_the_template_and_it_answers(mocks, leaks):
    """`hub mocks serve` prints the template's mock on the port after the bundled ones."""
    url = f"http://127.0.0.1:{mocks.base + MOCKS - 1}"
    printed = mocks.output.read_text()
    assert SOURCE in printed
    assert url in printed
    table = _source_table(mocks.config)
    assert table["url"] == url
    (number,) = httpx.get(f"{url}/_admin/sample", params={"n": 1}, timeout=30).json()["keys"]
    leaks.add_values([number])
    answer = httpx.post(
        f"{url}/api/v1/tra-cuu",
        json={"maSoBhxh": number},
        headers={"X-Api-Key": table["api_key"], "X-Ma-Don-Vi": table["agency_code"]},
        timeout=30,
    )
    assert answer.status_code == 200
    assert answer.json()["maSoBhxh"] == number


def test_the_sidecar_serves_it_and_the_trail_records_it(mocks, env, tmp_path, leaks):
    """`hub serve` lists the source, looks a member up, and `hub audit` finds and verifies it."""
    mock_url = _source_table(mocks.config)["url"]
    (national_id,) = httpx.get(
        f"{mock_url}/_admin/sample", params={"n": 1, "kind": "national_id"}, timeout=30
    ).json()["keys"]
    leaks.add_values([national_id])
    config = tmp_path / "hub.toml"
    config.write_text(
        f'data_dir = "{tmp_path / "var"}"\n[audit]\nnode = "template-1"\n\n'
        + mocks.config.read_text(encoding="utf-8")
        + f'\n[clients.{CLIENT}]\nkey_sha256 = "{hash_key(KEY)}"\n'
        + f'[clients.{CLIENT}.sources.{SOURCE}]\noperations = ["lookup"]\n',
        encoding="utf-8",
    )
    port = _free_block(1)
    log = tmp_path / "sidecar.log"
    command = [sys.executable, "-m", "hub", "serve", "--config", str(config), "--port", str(port)]
    with log.open("w") as output:
        process = subprocess.Popen(command, stdout=output, stderr=subprocess.STDOUT, env=env)
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_for(lambda: _answers(f"{base}/healthz"), "the sidecar", process)
        with httpx.Client(
            base_url=base, headers={"Authorization": f"Bearer {KEY}"}, timeout=30
        ) as client:
            listed = client.get("/v1/sources")
            assert listed.status_code == 200, listed.text
            mine = [row for row in listed.json()["sources"] if row["name"] == SOURCE]
            assert [(row["operations"], row["health"]["status"]) for row in mine] == [
                (["lookup"], "up")
            ]
            found = client.post(
                f"/v1/sources/{SOURCE}/lookup",
                json={"query": {"national_id": national_id}, "purpose": PURPOSE},
            )
            assert found.status_code == 200, found.text
            answer = found.json()
            assert answer["record"]["holder"]["national_id"] == national_id
            leaks.add_values([answer["record"]["holder"]["full_name"]])
    finally:
        _stop(process)
        leaks.add(log.read_text())
    assert "Traceback" not in log.read_text()

    audit = [sys.executable, "-m", "hub", "audit"]
    found_entries = subprocess.run(
        [*audit, "find", "--subject", national_id, "--config", str(config), "--json"],
        capture_output=True, text=True, env=env,
    )  # fmt: skip
    assert found_entries.returncode == 0, found_entries.stderr
    entries = json.loads(found_entries.stdout)
    assert [(e["audit_id"], e["source"], e["client"]) for e in entries] == [
        (answer["audit_id"], SOURCE, CLIENT)
    ]
    assert "holder" in entries[0]["fields"]
    verified = subprocess.run(
        [*audit, "verify", "--config", str(config)], capture_output=True, text=True, env=env
    )
    assert verified.returncode == 0, verified.stdout + verified.stderr


def _answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=1).status_code == 200
    except httpx.TransportError:
        return False


def test_its_own_tests_pass_with_pytest(env):
    """The template's tests, the contract kit among them, pass when run from its directory."""
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-v", "-p", "no:cacheprovider"],
        cwd=TEMPLATE, capture_output=True, text=True, env=env,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    contract = "tests/test_contract.py::TestSocialInsuranceContract::"
    for check in (
        "test_is_installed_with_its_mock",
        "test_lookup_returns_uniform_records",
        "test_invalid_input_never_reaches_the_upstream",
        "test_a_burst_of_503_is_retried",
        "test_a_malformed_answer_is_an_upstream_error",
    ):
        assert f"{contract}{check} PASSED" in result.stdout


def test_the_hub_declares_its_type_hints():
    """The hub ships a py.typed marker, so a connector outside it type-checks against it."""
    assert importlib.resources.files("hub").joinpath("py.typed").is_file()


KIT_MODULE = """
from hub.connectors.budget_unit import BudgetUnitConnector
from hub.testing import ConnectorContract


class TestKit(ConnectorContract):
    connector = BudgetUnitConnector
    sample_kind = "budget_unit"

    def lookup_query(self, key):
        return {"code": key}
"""


def test_the_contract_kit_ignores_the_callers_hub_config(tmp_path):
    """A vendor's HUB_CONFIG (or ./hub.toml) does not send the kit's entries to its audit store."""
    stray = tmp_path / "operators-audit.db"
    (tmp_path / "hub.toml").write_text(f'[audit]\nstore = "sqlite:///{stray}"\n', encoding="utf-8")
    (tmp_path / "test_kit.py").write_text(KIT_MODULE, encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith("HUB_")}
    env.update(HUB_CONFIG=str(tmp_path / "hub.toml"), PYTHONDONTWRITEBYTECODE="1")
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-k", "lookup_returns",
         "test_kit.py"],
        cwd=tmp_path, capture_output=True, text=True, env=env,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout[-3000:]
    assert not stray.exists(), "the kit wrote its audit entries into the caller's store"
