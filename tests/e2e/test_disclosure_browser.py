"""信息公示 in a real headless Chromium: the public pages load with nothing refused by
their Content-Security-Policy and no failed request, pass axe (no serious or critical
violation), search by 统一社会信用代码 through the form, open a decision, and download its
proof bundle, which the verifier library accepts through tier 4 once sealed.

One in-process stack (SQLite, local storage, no chain) served by uvicorn in a thread.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from evidence_api.core.config import Settings
from tests.support.api import Stack, running_stack
from tests.support.browser import (
    LiveServer,
    browser,  # noqa: F401 - fixture
    live_server,
    page,  # noqa: F401 - fixture
)
from tests.support.console_browser import Watch, assert_accessible
from tests.support.disclosure import USCC, add_unit, closed_case, decision
from tests.support.waiting import wait_until
from verifier.bundle import load_bundle
from verifier.note import VerifierKey
from verifier.verify import verify_bundle

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Stack, LiveServer, str]]:
    data = tmp_path_factory.mktemp("public-pages") / "data"
    with running_stack(Settings(data_dir=data, seal_interval=0.1)) as stack:
        officer = stack.auth("officer")
        case_id = closed_case(stack, officer, unit_id=add_unit(stack))
        made = stack.client.post(
            f"/v1/cases/{case_id}/publication", json=decision(), headers=officer
        )
        assert made.status_code == 201, made.text
        other = closed_case(
            stack, officer, unit_id=add_unit(stack), shop_name="个体小店", uscc=None
        )
        assert (
            stack.client.post(
                f"/v1/cases/{other}/publication", json=decision(), headers=officer
            ).status_code
            == 201
        )
        with live_server(stack.client.app) as server:
            yield stack, server, str(made.json()["id"])


def test_public_pages_in_a_browser(
    served: tuple[Stack, LiveServer, str],
    page: Any,  # noqa: F811 - the fixture
    tmp_path: Path,
) -> None:
    stack, server, pid = served
    watch = Watch(server.url)
    watch.attach(page)
    page.goto(f"{server.url}/public")
    assert page.url == f"{server.url}/public/spot-checks"
    assert page.locator("h1").inner_text() == "“双随机、一公开”抽查公示"
    assert_accessible(page, "public-spot-checks")
    page.get_by_role("link", name="行政处罚").click()
    page.wait_for_url(f"{server.url}/public/penalties")
    assert page.locator('[data-testid="penalty-row"]').count() == 2
    assert_accessible(page, "public-penalties")
    page.fill("#q", USCC.lower())
    page.get_by_role("button", name="搜索").click()
    page.wait_for_url("**/public/penalties?q=*")
    rows = page.locator('[data-testid="penalty-row"]')
    assert rows.count() == 1 and "某某保健品旗舰店" in rows.inner_text()
    rows.get_by_role("link").click()
    page.wait_for_url(f"{server.url}/public/penalties/{pid}")
    assert_accessible(page, "public-penalty")
    assert page.get_by_role("link", name="在核验平台验证").get_attribute("href") == (
        "/verifier/verify"
    )
    vkey = VerifierKey.from_text(stack.client.get("/v1/log/key").text.strip())
    wait_until(
        lambda: stack.client.get(f"/v1/public/penalties/{pid}").json()["proof_status"] != "pending",
        30,
        "the publication's entry to be sealed",
    )
    page.reload()
    with page.expect_download() as download:
        page.get_by_role("link", name="下载证明包（proof.json）").click()
    saved = tmp_path / download.value.suggested_filename
    download.value.save_as(saved)
    assert saved.name == f"{pid}.proof.json"
    report = verify_bundle(load_bundle(saved.read_bytes()), log_keys=[vkey], through=4)
    assert {t.tier: t.status.value for t in report.tiers}[4] == "verified", report
    watch.assert_clean("public pages")
