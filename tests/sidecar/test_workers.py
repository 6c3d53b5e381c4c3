"""What each sidecar worker process is given: its share of the limits, a writer slot."""

from __future__ import annotations

import os

import pytest
from typer.testing import CliRunner

from hub import load_settings
from hub._cli import app
from hub._config import SidecarSettings
from hub.errors import ConfigError
from hub.sidecar._auth import hash_key
from hub.sidecar._serve import per_worker


def key_hash(client: str) -> str:
    """A key of its own for each client: two clients never share one."""
    return hash_key(f"key-{client}-0123456789abcdef0123456789")


def settings_with(**values: object):
    clients = {
        "limited": {"key_sha256": key_hash("limited"), "rate": 50.0, "burst": 100},
        "tiny": {"key_sha256": key_hash("tiny"), "rate": 1.0, "burst": 1},
        "free": {"key_sha256": key_hash("free")},
    }
    return load_settings(None, clients=clients, **values)


def test_without_redis_each_worker_gets_its_share_of_each_rate_limit():
    """Rate and burst are divided among the workers, never below a burst of one."""
    divided = per_worker(settings_with(), 4).clients
    assert (divided["limited"].rate, divided["limited"].burst) == (12.5, 25)
    assert (divided["tiny"].rate, divided["tiny"].burst) == (0.25, 1)
    assert (divided["free"].rate, divided["free"].burst) == (None, None)


def test_with_redis_or_one_worker_the_limits_stay_whole():
    """A limit shared through Redis, or kept by a single worker, is not divided."""
    shared = settings_with(redis_url="redis://127.0.0.1:6379/14")
    assert per_worker(shared, 4).clients["limited"].rate == 50.0
    assert per_worker(settings_with(), 1).clients["limited"].burst == 100


def test_several_workers_cannot_share_a_named_audit_node():
    """A named node is one writer: several workers are refused, naming the way out."""
    named = settings_with(audit={"node": "hue-1"})
    with pytest.raises(ConfigError, match="leave \\[audit\\] node unset"):
        per_worker(named, 2)
    assert per_worker(named, 1) is named


def test_auto_workers_are_one_per_core():
    """workers = "auto" means one worker process per core; a number means itself."""
    assert SidecarSettings(workers="auto").worker_count == min(os.cpu_count() or 1, 256)
    assert SidecarSettings(workers=3).worker_count == 3
    assert SidecarSettings().worker_count == 1


@pytest.mark.parametrize("workers", ["0", "257", "many"])
def test_serve_refuses_a_worker_count_out_of_bounds(workers, tmp_path, monkeypatch):
    """hub serve --workers takes 1 to 256 or auto; anything else exits 2 naming the setting."""
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(app, ["serve", "--workers", workers])
    assert result.exit_code == 2
    assert "workers" in result.output
