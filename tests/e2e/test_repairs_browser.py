"""信用修复 in a real headless Chromium: the public form is filled and posted with a file
(no script), the receipt page shows the id and the access token, the status lookup finds
the application; an officer logs in, opens it from the console list and accepts it. Every
page passes axe (no serious or critical violation) with nothing refused by its
Content-Security-Policy.

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
from tests.support.console import browser_login, make_user
from tests.support.console_browser import Watch, assert_accessible
from tests.support.repairs import (
    PDF,
    RepairWorld,
    add_credit_record,
    add_entity,
    fresh_uscc,
    seed_world,
)

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def served(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[Stack, LiveServer, RepairWorld]]:
    data = tmp_path_factory.mktemp("repair-pages") / "data"
    with running_stack(Settings(data_dir=data, seal_interval=0.1)) as stack:
        world = seed_world(stack)
        with live_server(stack.client.app) as server:
            yield stack, server, world


def test_apply_look_up_and_accept_in_a_browser(
    served: tuple[Stack, LiveServer, RepairWorld],
    page: Any,  # noqa: F811 - the fixture
    tmp_path: Path,
) -> None:
    stack, server, world = served
    uscc = fresh_uscc()
    entity_id = add_entity(stack, world, uscc=uscc)
    ref = add_credit_record(stack, entity_id, "case_penalty", days_ago=400)
    report = tmp_path / "整改报告.pdf"
    report.write_bytes(PDF)
    watch = Watch(server.url)
    watch.attach(page)

    page.goto(f"{server.url}/public/credit-repair")
    assert page.locator("h1").inner_text() == "信用修复申请"
    assert_accessible(page, "public-credit-repair")
    page.fill("#f-uscc", uscc)
    page.fill("#f-record_refs", ref)
    page.fill("#f-applicant_name", "张某")
    page.fill("#f-applicant_contact", "13800000000")
    page.fill("#f-statement", "已履行处罚决定，完成整改。")
    page.set_input_files("#f-files", str(report))
    page.check('input[name="pledge"]')
    with page.expect_navigation():
        page.get_by_role("button", name="提交申请").click()
    assert page.locator("h1").inner_text() == "信用修复申请已受理"
    assert_accessible(page, "public-credit-repair-receipt")
    repair_id = page.locator('[data-testid="repair-id"]').inner_text()
    token = page.locator('[data-testid="access-token"]').inner_text()
    assert "evidence-anchor/receipt/v1" in page.locator('[data-testid="receipt"]').inner_text()

    page.get_by_role("link", name="查询办理进度").click()
    page.wait_for_url(f"{server.url}/public/credit-repair/status")
    page.fill("#f-repair_id", repair_id)
    page.fill("#f-access_token", token)
    with page.expect_navigation():
        page.get_by_role("button", name="查询").click()
    assert "待审核" in page.locator('[data-testid="repair-status"]').inner_text()
    assert token not in page.url
    assert_accessible(page, "public-credit-repair-status")

    username, password = make_user(stack.runtime, "officer", unit=world.units["a"])
    browser_login(page, server.url, username, password)
    page.goto(f"{server.url}/console/credit-repairs")
    assert_accessible(page, "console-credit-repairs")
    page.get_by_role("link", name=repair_id).click()
    page.wait_for_url(f"{server.url}/console/credit-repairs/{repair_id}")
    assert_accessible(page, "console-credit-repair")
    page.fill("#f-reason", "整改到位")
    with page.expect_navigation():
        page.get_by_role("button", name="准予信用修复").click()
    assert page.locator("#repair-status").get_attribute("data-status") == "accepted"
    watch.assert_clean("credit repair pages")
