"""The /demo/ page in a real browser: headless Chromium logs in through the VNeID mock,
and the page's table, chart and verified rows are checked against the trail.

The page completes the login by itself on ``/demo/login?hint=<national id>`` (the
mock's headless path), so Chromium's ``--dump-dom`` drives it end to end; its
``--virtual-time-budget`` lets the page's requests and WebCrypto checks finish first.
The screenshot is kept as ``demo-page.png`` in the test's tmp folder.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from lxml import html

from hub import Hub, load_settings
from hub._registry import installed_mocks
from hub.sidecar import create_app, hash_key
from hub.testing import LeakCheck, ServedApp
from tests._helpers import population_source, serve_mock

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
PORTAL = "cong-dvc"
AGENCIES = {
    "xa-gia-vien": ("key-demo-xa-gia-vien-0123456789abcdef0123", "UBND xã Gia Viễn"),
    "cong-an-hoa-lu": ("key-demo-cong-an-hoa-lu-0123456789abcdef", "Công an phường Hoa Lư"),
}

pytestmark = pytest.mark.skipif(
    CHROMIUM is None and os.environ.get("CI") != "true",
    reason="Chromium is not installed (Debian's package chromium; .ci/run installs it)",
)


@pytest.fixture(scope="module")
def served(tmp_path_factory, population_mock, leaks: LeakCheck) -> Iterator[dict[str, Any]]:
    leaks.add_values(key for key, _ in AGENCIES.values())
    with serve_mock("vneid", seed=1, citizens=10_000) as vneid:
        clients: dict[str, Any] = {
            PORTAL: {"roles": ["citizen-portal"], "title": "Cổng dịch vụ công tỉnh",
                     "sources": {"vneid": {"operations": ["authenticate"]}}},
            **{name: {"key_sha256": hash_key(key), "title": title,
                      "sources": {"population": {"operations": ["lookup"]}}}
               for name, (key, title) in AGENCIES.items()},
        }  # fmt: skip
        settings = load_settings(
            None,
            data_dir=str(tmp_path_factory.mktemp("demo")),
            sources={
                "vneid": installed_mocks()["vneid"].hub_settings(vneid.url),
                "population": population_source(population_mock),
            },
            clients=clients,
            procedures={"1.001757": "Đăng ký thường trú"},
        )
        hub = Hub(settings)
        with ServedApp(create_app(settings, hub=hub, demo_client=PORTAL)) as sidecar:
            yield {"url": sidecar.url, "vneid": vneid.url}


def chromium(*arguments: str, cwd: Path) -> str:
    assert CHROMIUM is not None, "Chromium is required under CI"
    done = subprocess.run(
        [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
         f"--user-data-dir={cwd / 'profile'}", "--virtual-time-budget=20000", *arguments],
        capture_output=True, text=True, timeout=60, cwd=cwd, check=True,
    )  # fmt: skip
    return done.stdout


def test_the_page_shows_her_accesses_verified(served, tmp_path, leaks):
    """Logged in through VNeID, the page lists her accesses as the trail holds them, verified."""
    her = httpx.get(
        f"{served['vneid']}/_admin/sample", params={"n": 1, "kind": "vneid_level2"}
    ).json()["keys"][0]
    leaks.add_values([her])
    looked = {}
    for name, (key, _) in AGENCIES.items():
        answer = httpx.post(
            f"{served['url']}/v1/sources/population/lookup",
            headers={"Authorization": f"Bearer {key}"},
            json={"query": {"national_id": her},
                  "purpose": {"officer": "cb.0042", "procedure": "1.001757", "dossier": "H-1"}},
        )  # fmt: skip
        assert answer.status_code == 200, answer.text
        looked[name] = answer.json()["audit_id"]

    login = f"{served['url']}/demo/login?hint={her}"
    page = html.fromstring(chromium("--dump-dom", login, cwd=tmp_path))

    assert page.body.get("data-state") == "done"
    rows = page.xpath("//tbody[@id='rows']/tr")
    shown = {
        row.get("data-audit-id"): [cell.text_content() for cell in row.xpath("td")] for row in rows
    }
    assert len(shown) == 4  # this reading, her login, two look-ups
    for name, (_, title) in AGENCIES.items():
        assert shown[looked[name]][1] == title
        assert shown[looked[name]][2] == "Đăng ký thường trú"
        assert shown[looked[name]][5] == "Tra cứu"
    operations = sorted(cells[5] for cells in shown.values())
    assert operations == ["Tra cứu", "Tra cứu", "Xem nhật ký", "Đăng nhập"]
    assert all(cells[8] == "Đã kiểm chứng" for cells in shown.values())
    bars = page.xpath("//div[@id='chart']//*[local-name()='rect'][@data-agency]")
    assert sorted(bar.get("data-agency") for bar in bars if bar.get("data-count") != "0") == sorted(
        ["Cổng dịch vụ công tỉnh", *(title for _, title in AGENCIES.values())]
    )
    assert "cb.0042" not in html.tostring(page, encoding="unicode")

    chromium("--screenshot=demo-page.png", "--window-size=1280,900", login, cwd=tmp_path)
    assert (tmp_path / "demo-page.png").stat().st_size > 10_000
