"""Issue 15's acceptance in a real browser, on the real stack: Debian Chromium (Playwright)
against ``evidence serve`` on PostgreSQL, S3 with Object Lock (SeaweedFS), anvil, Celery
worker and beat on Redis, and a capture worker running Chromium against the HTTPS fixture
site (tests/support/console_browser.console_stack).

The story, one step per test (each builds on the one before; the module's state is
:class:`Flow`): an officer logs in with the keyboard; queues a capture of the fixture's
listing and uploads a file (the progress bar reaches its end); watches the upload become
anchored on its page; downloads its package, which ``evidence-verify`` accepts through
tier 5; sees the capture finish (htmx polling, no reload) and its evidence anchored; opens
a case citing the evidence and moves it to 立案; issues a takedown from the evidence page.
A platform user logs in and sees only that order (another platform's user lists nothing
and gets 404 for its URL), downloads the granted file, acknowledges and completes it; the
officer sees the order's history by name, whose proof links check out with the verifier
library. The administrator's pages open; English on request; an officer gets the 403
page for an administrator's; an alert appears live on the alerts page.

Users: the administrator made with ``evidence admin create-user --password-stdin`` (the
README's first user), the officer and two platform users (``example-mall`` and another)
through the accounts service; each logs in through the login form.

Every page visited is scanned by axe-core (no serious or critical violation) and must
raise no Content Security Policy refusal or script error; each is saved as a screenshot
at 1366x768 (the login page, the evidence list and the platform's orders also at 390x844,
where they must not be wider than the phone) under ``test-artifacts/console/`` (or
``$EVIDENCE_TEST_ARTIFACTS``), with axe's findings of each as ``axe-<step>.json``.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from tests.support.api import evidence_verify
from tests.support.browser import chromium
from tests.support.console_browser import (
    ACTION_MS,
    AXE,
    DESKTOP,
    OTHER_PLATFORM,
    PASSWORD,
    PHONE,
    ConsoleStack,
    Watch,
    assert_accessible,
    axe_violations,
    clear_artifacts,
    console_stack,
    create_user,
    create_user_cli,
    horizontal_overflow,
    open_alert,
    progress,
    shoot,
    tab_order,
    viewport,
    widest,
)
from tests.support.stacks import ANCHOR_DEADLINE, STACK_MARKS, skip_without_stack_tools
from verifier.bundle import Bundle
from verifier.checkpoint import open_checkpoint
from verifier.merkle import leaf_hash, verify_inclusion
from verifier.note import VerifierKey
from verifier.verify import Status, verify_bundle

pytestmark = STACK_MARKS

PLATFORM = "example-mall"
CHINA = timezone(timedelta(hours=8))
UPLOAD_NAME = "商品页截图.html"
UPLOAD_BYTES = ("<html><body><h1>假冒商品 ¥99</h1>" + "示例" * 40_000 + "</body></html>").encode()
CASE_TITLE = "示例旗舰店销售假冒商品案"
CASE_NUMBER = "泉市监网案〔2026〕12号"
PURPOSE = "控制台验收 console acceptance"
LEGAL_BASIS = "《电子商务法》第三十八条"
#: Generous: a loaded 2-core machine runs Chromium twice, anvil, PostgreSQL and S3 here.
CAPTURE_DEADLINE = 300.0


@dataclass
class Tab:
    """A logged-in browser context and its one page (reused across steps)."""

    context: Any
    page: Any
    watch: Watch

    def visit(self, url: str) -> Any:
        response = self.page.goto(url, wait_until="load")
        return response

    def check(self, where: str, *, phone: bool = False) -> None:
        """The page as it is: no CSP refusal or script error, no serious axe violation;
        a screenshot at 1366x768 (and at 390x844 with ``phone``)."""
        self.watch.assert_clean(where)
        shoot(self.page, where)
        assert_accessible(self.page, where)
        if phone:
            with viewport(self.page, PHONE):
                shoot(self.page, f"{where}-phone")
                extra = horizontal_overflow(self.page)
                assert extra <= 0, (
                    f"{where} is {extra} px too wide for a phone: {widest(self.page)}"
                )
                assert_accessible(self.page, f"{where}-phone")


@dataclass
class Flow:
    cs: ConsoleStack
    browser: Any
    tabs: dict[str, Tab] = field(default_factory=dict)
    facts: dict[str, str] = field(default_factory=dict)

    def need(self, key: str) -> str:
        assert key in self.facts, f"an earlier step did not record {key!r}"
        return self.facts[key]

    def tab(self, who: str) -> Tab:
        assert who in self.tabs, f"{who} did not log in (an earlier step failed)"
        return self.tabs[who]

    def open_tab(self, who: str) -> Tab:
        context = self.browser.new_context(
            accept_downloads=True, viewport=DESKTOP, locale="zh-CN", timezone_id="Asia/Shanghai"
        )
        context.set_default_timeout(ACTION_MS)
        watch = Watch(self.cs.base)
        page = watch.attach(context.new_page())
        self.tabs[who] = Tab(context, page, watch)
        return self.tabs[who]

    def login(self, who: str, username: str) -> Tab:
        tab = self.open_tab(who)
        tab.visit(self.cs.url("/console/login"))
        tab.page.fill("#f-username", username)
        tab.page.fill("#f-password", PASSWORD)
        with tab.page.expect_navigation():
            tab.page.press("#f-password", "Enter")
        assert "/console/login" not in tab.page.url, tab.page.url
        return tab


@pytest.fixture(scope="module")
def flow(tmp_path_factory: pytest.TempPathFactory, postgres_url: str) -> Iterator[Flow]:
    skip_without_stack_tools(None if AXE.is_file() else f"{AXE} missing: run `make install`")
    clear_artifacts()
    started = time.monotonic()
    root = tmp_path_factory.mktemp("console-stack")
    with console_stack(root, postgres_url) as cs:
        stack = cs.stack
        progress(f"stack up in {time.monotonic() - started:.1f} s at {cs.base}")
        # The administrator as the README's first user (the CLI); the others meanwhile.
        admin = create_user_cli(stack, "li.si", "admin", "李四", unit="泉州市市场监督管理局信息科")
        create_user(stack, "zhang.san", "officer", "张三", unit="泉州市市场监督管理局")
        create_user(stack, "mall.ops", "platform", "示例商城运营", platform=PLATFORM)
        create_user(stack, "other.ops", "platform", "另一商城运营", platform=OTHER_PLATFORM)
        with chromium() as browser:
            admin.wait()
            progress(f"users and browser ready at {time.monotonic() - started:.1f} s")
            flow = Flow(cs, browser)
            try:
                yield flow
            finally:
                for tab in flow.tabs.values():
                    tab.context.close()


# --- helpers ---------------------------------------------------------------------------------


def reload_until(tab: Tab, selector: str, deadline: float, what: str) -> None:
    """Reload the page until ``selector`` is on it; fail naming ``what`` past ``deadline``."""
    ends = time.monotonic() + deadline
    while tab.page.query_selector(selector) is None:
        assert time.monotonic() < ends, f"{what} not shown after {deadline} s on {tab.page.url}"
        tab.page.wait_for_timeout(1000)
        tab.page.reload(wait_until="load")


def id_from(url: str, prefix: str) -> str:
    match = re.search(re.escape(prefix) + r"([^/?#]+)", url)
    assert match, f"{prefix} not in {url}"
    return match.group(1)


def verifier_run(cs: ConsoleStack, package: Path) -> dict[str, Any]:
    """``evidence-verify`` on the package, through tier 5 (log key and chain out of band)."""
    code, report, statuses = evidence_verify(package, cs.stack.vkey, cs.stack.chain)
    assert (code, report["outcome"]) == (0, "verified"), report
    assert statuses == dict.fromkeys(range(1, 6), "verified"), report
    return report


# --- the story -------------------------------------------------------------------------------


def test_01_login_by_keyboard_and_accessible(flow: Flow) -> None:
    """Tab reaches the skip link first, then username, password and the submit button in
    that order; Enter submits; the officer lands on the evidence list. The login page
    passes axe, also with a wrong password's error on it."""
    tab = flow.open_tab("officer")
    tab.visit(flow.cs.url("/console"))
    assert "/console/login" in tab.page.url, tab.page.url
    tab.check("01-login", phone=True)
    # A wrong password: the reason is shown on the form, which stays accessible.
    tab.page.fill("#f-username", "zhang.san")
    tab.page.fill("#f-password", "not-the-password")
    with tab.page.expect_navigation():
        tab.page.click("#login-submit")
    assert "/console/login" in tab.page.url
    assert tab.page.query_selector("#login-form [role='alert']") is not None
    tab.check("01b-login-error")
    # The scan sees what it must: an unlabelled field added to the page is reported.
    tab.page.evaluate(
        "() => document.querySelector('main').append(Object.assign("
        "document.createElement('input'), {id: 'axe-probe'}))"
    )
    assert "label" in {v["id"] for v in axe_violations(tab.page)}
    # So does the CSP watch: an inline script is refused, and the refusal is seen.
    tab.page.evaluate(
        "() => document.body.append(Object.assign("
        "document.createElement('script'), {textContent: 'window.probe = 1'}))"
    )
    assert tab.page.evaluate("() => window.probe") is None
    ends = time.monotonic() + 30  # the console message arrives on its own; events are
    while not any(p.startswith("CSP:") for p in tab.watch.problems):  # pumped by Playwright
        assert time.monotonic() < ends, f"no CSP refusal seen: {tab.watch.problems}"
        tab.page.wait_for_timeout(100)
    tab.watch.take()
    tab.visit(flow.cs.url("/console/login"))
    order = tab_order(tab.page)
    assert order[0].endswith("<#main>"), order  # the first Tab: "skip to the content"
    wanted = ["[username]", "[password]", "{submit}"]
    positions = [next((i for i, f in enumerate(order) if w in f), -1) for w in wanted]
    assert -1 not in positions and positions == sorted(positions), order
    # Type as a person would, from a fresh page: focus by Tab, type, Tab on, Enter.
    tab.visit(flow.cs.url("/console/login"))
    for _ in range(positions[0] + 1):
        tab.page.keyboard.press("Tab")
    tab.page.keyboard.type("zhang.san")
    for _ in range(positions[1] - positions[0]):
        tab.page.keyboard.press("Tab")
    tab.page.keyboard.type(PASSWORD)
    with tab.page.expect_navigation():
        tab.page.keyboard.press("Enter")
    assert tab.page.url.endswith("/console/evidence"), tab.page.url
    assert "张三" in tab.page.inner_text("header")
    tab.check("02-evidence-list-empty")


def test_02_capture_queued(flow: Flow) -> None:
    """The capture form queues a capture of the fixture's listing; its page shows progress."""
    tab = flow.tab("officer")
    tab.visit(flow.cs.url("/console/captures/new"))
    tab.check("03-capture-new")
    tab.page.fill("#f-url", flow.cs.site.url("/listing"))
    tab.page.fill("#f-platform", PLATFORM)
    tab.page.click("#capture-submit")  # enabled by evidence.js once it is loaded
    tab.page.wait_for_url(re.compile(r"/console/captures/cap-[^/?#]+$"))
    flow.facts["capture"] = id_from(tab.page.url, "/console/captures/")
    assert tab.page.inner_text("#capture-id") == flow.facts["capture"]
    tab.check("04-capture-progress")


def test_03_upload_with_progress(flow: Flow, tmp_path: Path) -> None:
    """The upload page sends the file with a progress bar that reaches its end, then
    links to the new evidence."""
    tab = flow.tab("officer")
    tab.visit(flow.cs.url("/console/upload"))
    tab.check("05-upload")
    path = tmp_path / UPLOAD_NAME
    path.write_bytes(UPLOAD_BYTES)
    tab.page.set_input_files("#f-files", str(path))
    tab.page.fill("#f-source_url", "https://shop.example.com/item/42")
    tab.page.fill("#f-platform", PLATFORM)
    tab.page.fill("#f-entity", "示例旗舰店")
    tab.page.fill("#f-case_ref", CASE_NUMBER)
    tab.page.click("#upload-submit")
    tab.page.wait_for_selector(
        "#upload-receipt:not([hidden]) #receipt-link[href^='/console/evidence/']"
    )
    bar = tab.page.query_selector("#upload-progress")
    assert bar is not None
    assert bar.get_attribute("value") == bar.get_attribute("max"), bar.evaluate("e => e.outerHTML")
    href = tab.page.get_attribute("#receipt-link", "href")
    flow.facts["evidence"] = id_from(str(href), "/console/evidence/")
    assert tab.page.inner_text("#receipt-id") == flow.facts["evidence"]
    assert re.fullmatch(r"[0-9a-f]{64}", tab.page.inner_text("#receipt-leaf").strip())
    tab.check("06-upload-done")


def test_04_evidence_anchored_on_its_page(flow: Flow) -> None:
    """The evidence page's timeline reaches anchored (reloaded until it does); the list
    shows the item (also on a phone)."""
    evidence = flow.need("evidence")
    tab = flow.tab("officer")
    tab.visit(flow.cs.url(f"/console/evidence/{evidence}"))
    assert UPLOAD_NAME in tab.page.inner_text("main")
    reload_until(tab, "#anchor-tx", ANCHOR_DEADLINE, "anchored")
    tab.check("07-evidence-anchored")
    tab.visit(flow.cs.url("/console/evidence"))
    assert tab.page.query_selector(f"a[href='/console/evidence/{evidence}']") is not None
    tab.check("08-evidence-list", phone=True)


def test_05_package_downloads_and_verifies_through_tier_5(flow: Flow, tmp_path: Path) -> None:
    """The package button (with a purpose) downloads the ZIP; ``evidence-verify`` accepts
    it through tier 5; the export shows in the custody history."""
    evidence = flow.need("evidence")
    tab = flow.tab("officer")
    tab.visit(flow.cs.url(f"/console/evidence/{evidence}"))
    tab.page.fill("#f-purpose", PURPOSE)
    with tab.page.expect_download() as info:
        tab.page.click("#download-package")
    package = tmp_path / "package.zip"
    info.value.save_as(package)
    verifier_run(flow.cs, package)
    # The export is in the custody history, by name, with its purpose.
    tab.visit(flow.cs.url(f"/console/evidence/{evidence}"))
    rows = [r.inner_text() for r in tab.page.query_selector_all("[data-testid='custody-row']")]
    assert any(PURPOSE in r and "张三" in r for r in rows), rows
    tab.check("08b-evidence-custody")


def test_06_capture_done_and_its_evidence_anchored(flow: Flow) -> None:
    capture = flow.need("capture")
    tab = flow.tab("officer")
    tab.visit(flow.cs.url(f"/console/captures/{capture}"))
    # htmx polls the status fragment every 2 s until the capture is done or failed.
    tab.page.wait_for_selector(
        "#capture-evidence, #capture-reason", timeout=CAPTURE_DEADLINE * 1000
    )
    assert tab.page.query_selector("#capture-reason") is None, tab.page.inner_text(
        "#capture-reason"
    )
    tab.check("09-capture-done")
    with tab.page.expect_navigation():
        tab.page.click("#capture-evidence")
    captured = id_from(tab.page.url, "/console/evidence/")
    reload_until(tab, "#anchor-tx", ANCHOR_DEADLINE, "anchored capture")
    assert flow.cs.site.url("/listing") in tab.page.inner_text("main")
    flow.facts["captured"] = captured
    tab.check("10-captured-evidence")


def test_07_case_cites_the_evidence(flow: Flow) -> None:
    """ "Add to case" on the evidence page, then "new case" on the board: the new case's
    form cites the evidence, and the case opened with it lists it and is on the board."""
    evidence = flow.need("evidence")
    tab = flow.tab("officer")
    tab.visit(flow.cs.url(f"/console/evidence/{evidence}"))
    with tab.page.expect_navigation():
        tab.page.click("#add-to-case")
    with tab.page.expect_navigation():
        tab.page.click("#new-case")
    assert "/console/cases/new" in tab.page.url, tab.page.url
    tab.check("11-case-new")
    assert tab.page.input_value("#f-evidence_ids").split() == [evidence]
    tab.page.fill("#f-number", CASE_NUMBER)
    tab.page.fill("#f-title", CASE_TITLE)
    tab.page.click("form#case-form button[type=submit]")
    tab.page.wait_for_url(re.compile(r"/console/cases/\d+(\?|$)"))
    flow.facts["case"] = id_from(tab.page.url, "/console/cases/")
    assert tab.page.query_selector(f"a[href='/console/evidence/{evidence}']") is not None
    assert tab.page.get_attribute("#case-status", "data-status") == "clue"
    tab.check("12-case")
    # The transition button moves the clue to 立案 (filed), as the workflow allows.
    tab.page.fill("#note-filed", "证据充分，予以立案")
    with tab.page.expect_navigation():
        tab.page.click("#move-filed")
    assert tab.page.get_attribute("#case-status", "data-status") == "filed"
    tab.visit(flow.cs.url("/console/cases"))
    column = f".board-column[data-status='filed'] [data-case='{flow.facts['case']}']"
    assert CASE_TITLE in tab.page.inner_text(column)
    tab.check("13-case-board")


def test_08_takedown_issued_from_the_evidence_page(flow: Flow) -> None:
    """ "Issue a takedown" on the evidence page opens the order form citing it; the order's
    page cites the evidence."""
    evidence = flow.need("evidence")
    tab = flow.tab("officer")
    tab.visit(flow.cs.url(f"/console/evidence/{evidence}"))
    with tab.page.expect_navigation():
        tab.page.click("#issue-takedown")
    assert "/console/takedowns/new" in tab.page.url
    assert tab.page.input_value("#f-evidence_ids").split() == [evidence]
    tab.check("14-takedown-new")
    deadline = datetime.now(CHINA) + timedelta(days=2)

    def fill(listing: str) -> None:
        tab.page.select_option("#f-platform", PLATFORM)
        tab.page.fill("#f-listing_urls", listing)
        tab.page.fill("#f-legal_basis", LEGAL_BASIS)
        tab.page.fill("#f-reason", "销售假冒注册商标商品")
        tab.page.fill("#f-deadline", deadline.strftime("%Y-%m-%dT%H:%M"))
        tab.page.check("#f-grant_files")
        with tab.page.expect_navigation():
            tab.page.click("#issue")

    # A listing that is no web address: the API's reason next to the field, nothing issued.
    fill("ftp://shop.example.com/item/42")
    assert "/console/takedowns/new" in tab.page.url, tab.page.url
    assert "http" in tab.page.inner_text("#e-listing_urls")
    assert tab.page.get_attribute("#f-listing_urls", "aria-describedby") == "e-listing_urls"
    tab.check("14b-takedown-error")
    fill("https://shop.example.com/item/42")
    assert re.search(r"/console/takedowns/[^/?#]+(\?|$)", tab.page.url), tab.page.url
    flow.facts["order"] = tab.page.inner_text("#order-id")
    assert flow.facts["order"] in tab.page.url
    cited = tab.page.query_selector_all("[data-testid='cited-evidence']")
    assert [a.get_attribute("href") for a in cited] == [f"/console/evidence/{evidence}"]
    assert tab.page.get_attribute("#order-status", "data-status") == "issued"
    tab.check("15-takedown")


def test_09_platform_sees_only_its_order_acknowledges_and_completes(
    flow: Flow, tmp_path: Path
) -> None:
    """Another platform's user lists no order and gets 404 for this one's URL; the
    order's platform lists exactly it, downloads the granted file, acknowledges and
    completes it (note and removal time); its webhook page opens."""
    order = flow.need("order")
    other = flow.login("other", "other.ops")
    assert other.page.url.endswith("/console/platform/orders"), other.page.url
    assert other.page.query_selector_all("[data-testid='order-row']") == []
    response = other.visit(flow.cs.url(f"/console/platform/orders/{order}"))
    assert response is not None and response.status == 404, response and response.status
    other.check("16-other-platform-404")
    tab = flow.login("platform", "mall.ops")
    assert tab.page.url.endswith("/console/platform/orders"), tab.page.url
    rows = tab.page.query_selector_all("[data-testid='order-row']")
    assert [r.get_attribute("data-order-id") for r in rows] == [order]
    tab.check("17-platform-orders", phone=True)
    tab.page.click(f"a[href='/console/platform/orders/{order}']")
    tab.page.wait_for_url(f"**/console/platform/orders/{order}")
    tab.check("18-platform-order", phone=True)
    with tab.page.expect_download() as info:
        tab.page.click("[data-testid='file-download']")
    granted = tmp_path / "granted"
    info.value.save_as(granted)
    assert granted.read_bytes() == UPLOAD_BYTES
    with tab.page.expect_navigation():
        tab.page.click("#do-ack")
    assert tab.page.get_attribute("#order-status .badge", "class") == "badge status-acknowledged"
    tab.page.fill("#f-note", "已下架")
    tab.page.fill(
        "#f-removed_at", datetime.now(UTC).astimezone(CHINA).strftime("%Y-%m-%dT%H:%M:%S")
    )
    with tab.page.expect_navigation():
        tab.page.click("#do-complete")
    assert tab.page.get_attribute("#order-status .badge", "class") == "badge status-completed"
    tab.check("19-platform-order-completed")
    tab.visit(flow.cs.url("/console/platform/webhook"))
    tab.check("19b-platform-webhook")
    # A new webhook secret is shown once, readable on a phone too.
    with tab.page.expect_navigation():
        tab.page.click("#rotate-secret")
    secret = tab.page.input_value("[data-testid='new-secret']")
    assert len(secret) >= 32, secret
    tab.check("19c-platform-webhook-secret", phone=True)
    tab.visit(flow.cs.url("/console/platform/webhook"))
    assert secret not in tab.page.content()


def proof_bundles(flow: Flow, tab: Tab, href: str) -> dict[str, Bundle]:
    """The order's log entries (entry id -> bundle) from its "all proofs" link."""
    got = tab.context.request.get(flow.cs.url(href))
    assert got.ok, (href, got.status, got.text())
    return {
        e["bundle"]["entry"]["id"]: Bundle.model_validate(e["bundle"])
        for e in got.json()["entries"]
    }


def check_proof_link(flow: Flow, tab: Tab, href: str, bundle: Bundle) -> None:
    """One history row's proof link: an inclusion proof (or the entry's bundle) that the
    verifier library accepts against the log's signed checkpoint, for this entry's leaf."""
    key = VerifierKey.from_text(flow.cs.stack.vkey.strip())
    got = tab.context.request.get(flow.cs.url(href))
    assert got.ok, (href, got.status, got.text())
    body = got.json()
    if "matches" in body:  # a lookup: the entry's bundle
        (match,) = body["matches"]
        found = Bundle.model_validate(match)
        assert found.entry.leaf_data() == bundle.entry.leaf_data()
        report = verify_bundle(found, log_keys=[key], through=4)
        assert report.tiers[2].status == report.tiers[3].status == Status.VERIFIED, report
        return
    # An RFC 9162 inclusion proof, in the latest checkpoint (asked again at its size, so
    # a checkpoint sealed in between cannot make the two disagree).
    note = tab.context.request.get(flow.cs.url("/v1/log/checkpoint")).text()
    checkpoint = open_checkpoint(note, [key])
    sep = "&" if "?" in href else "?"
    got = tab.context.request.get(flow.cs.url(f"{href}{sep}size={checkpoint.size}"))
    assert got.ok, (href, got.status, got.text())
    proof = got.json()
    leaf = leaf_hash(bundle.entry.leaf_data())
    assert bytes.fromhex(proof["leaf_hash"]) == leaf, (proof, bundle.entry.id)
    verify_inclusion(
        leaf,
        proof["index"],
        checkpoint.size,
        [bytes.fromhex(h) for h in proof["hashes"]],
        checkpoint.root,
    )


def test_10_officer_sees_history_with_verifying_proofs(flow: Flow) -> None:
    """The officer's order page shows the platform's acknowledgement and completion; each
    history row's log entry is sealed and its proof link checks out with the verifier
    library; the "all proofs" bundles verify through tier 4."""
    order = flow.need("order")
    tab = flow.tab("officer")
    tab.visit(flow.cs.url(f"/console/takedowns/{order}"))
    rows = "[data-testid='takedown-event']"
    ends = time.monotonic() + ANCHOR_DEADLINE
    while True:
        events = tab.page.query_selector_all(rows)
        links = tab.page.query_selector_all(f"{rows} [data-testid='proof-link']")
        if events and len(links) == len(events):
            break
        assert time.monotonic() < ends, f"history rows not all sealed: {len(links)}/{len(events)}"
        tab.page.wait_for_timeout(1000)
        tab.page.reload(wait_until="load")
    assert [e.get_attribute("data-to") for e in events] == ["issued", "acknowledged", "completed"]
    actors = [e.inner_text() for e in tab.page.query_selector_all(f"{rows} [data-testid='actor']")]
    # People by name, never token-N.
    assert actors[0].startswith("张三") and all(a.startswith("示例商城运营") for a in actors[1:])
    tab.check("20-takedown-history")
    bundles = proof_bundles(flow, tab, str(tab.page.get_attribute("#all-proofs", "href")))
    key = VerifierKey.from_text(flow.cs.stack.vkey.strip())
    for event in events:
        entry_id = event.query_selector("[data-testid='entry-id']").inner_text().strip()
        bundle = bundles[entry_id]
        assert bundle.entry.kind == "takedown"
        assert bundle.entry.body["order_id"] == order
        assert bundle.entry.body["to"] == event.get_attribute("data-to")
        report = verify_bundle(bundle, log_keys=[key], through=4)
        assert report.tiers[2].status == report.tiers[3].status == Status.VERIFIED, report
        href = event.query_selector("[data-testid='proof-link']").get_attribute("href")
        check_proof_link(flow, tab, str(href), bundle)


def test_11_account_and_admin_pages(flow: Flow) -> None:
    """The administrator (made by the CLI) logs in; the account, administration and the
    remaining officer pages open and pass the scan; the users page lists the four users,
    the status page names this stack's chain (RPC endpoint, contract); an entity made
    through its form shows on its own page, which passes the scan too."""
    tab = flow.login("admin", "li.si")
    for step, path in (
        ("21-account", "/console/account"),
        ("22-admin-users", "/console/admin/users"),
        ("23-admin-tokens", "/console/admin/tokens"),
        ("24-admin-platforms", "/console/admin/platforms"),
        ("24b-admin-platform", f"/console/admin/platforms/{PLATFORM}"),
        ("25-admin-status", "/console/admin/status"),
        ("25b-admin-trust", "/console/admin/trust"),
        ("25c-admin-audits", "/console/admin/audits"),
        ("26-entities", "/console/entities"),
        ("27-takedowns", "/console/takedowns"),
        ("28-monitors", "/console/monitors"),
        ("29-alerts", "/console/alerts"),
        ("29b-entity-new", "/console/entities/new"),
        ("29c-monitor-new", "/console/monitors/new"),
    ):
        response = tab.visit(flow.cs.url(path))
        assert response is not None and response.status == 200, (path, response and response.status)
        tab.check(step)
        text = tab.page.inner_text("main")
        if step == "22-admin-users":
            assert all(u in text for u in ("zhang.san", "li.si", "mall.ops", "other.ops")), text
        if step == "25-admin-status":
            chain = flow.cs.stack.chain
            assert chain.rpc_url in text and chain.contract.lower() in text.lower(), text
    tab.visit(flow.cs.url("/console/entities/new"))
    tab.page.select_option("#f-platform", PLATFORM)
    tab.page.fill("#f-shop_name", "示例旗舰店")
    with tab.page.expect_navigation():
        tab.page.click("main form button[type='submit']")
    assert re.search(r"/console/entities/\d+\?saved=1$", tab.page.url), tab.page.url
    assert "示例旗舰店" in tab.page.inner_text("main")
    tab.check("29d-entity")


def test_12_english_toggle_and_the_forbidden_page(flow: Flow) -> None:
    """English on request (the page's lang follows); an officer opening an administrator's
    page gets the 403 page, itself accessible."""
    tab = flow.tab("officer")
    response = tab.visit(flow.cs.url("/console/admin/users"))
    assert response is not None and response.status == 403, response and response.status
    tab.check("31-forbidden")
    tab.visit(flow.cs.url("/console/evidence?lang=en"))
    assert tab.page.get_attribute("html", "lang") == "en"
    heading = tab.page.inner_text("main h1")
    assert heading and not re.search(r"[\u4e00-\u9fff]", heading), heading
    tab.check("30-evidence-list-en")
    tab.visit(flow.cs.url("/console/evidence?lang=zh"))
    assert tab.page.get_attribute("html", "lang") == "zh-CN"


def test_13_an_alert_arrives_live_on_the_alerts_page(flow: Flow) -> None:
    """The alerts page keeps itself current through its EventSource on
    /v1/alerts/stream (the session cookie authenticates it): an alert opened while the
    page is open appears in its table without a reload, with its reason and evidence.

    The stream starts after the newest event at connection time, so alerts are opened
    one by one until one shows (the first may beat the stream's start); each is given
    a generous wait."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout  # noqa: PLC0415

    evidence = flow.need("evidence")
    tab = flow.tab("officer")
    with tab.page.expect_response(lambda r: "/v1/alerts/stream" in r.url) as stream:
        tab.visit(flow.cs.url("/console/alerts"))
    assert stream.value.status == 200, stream.value.status
    assert tab.page.get_attribute("#alerts-live", "data-live") == "1"
    tab.page.evaluate("() => { window.notReloaded = true; }")
    opened: list[str] = []
    shown = None
    ends = time.monotonic() + ANCHOR_DEADLINE
    while shown is None:
        assert time.monotonic() < ends, f"none of {opened} appeared on the page"
        reason = f"价格变动：¥99 → ¥59（第 {len(opened) + 1} 次）"
        opened.append(
            open_alert(
                flow.cs.stack, recipient_user="zhang.san", reason=reason, evidence_id=evidence
            )
        )
        rows = ", ".join(f"tr[data-alert-id='{a}']" for a in opened)
        try:
            shown = tab.page.wait_for_selector(rows, timeout=15_000)
        except PlaywrightTimeout:
            continue
    assert tab.page.evaluate("() => window.notReloaded") is True
    alert_id = str(shown.get_attribute("data-alert-id"))
    progress(f"alert {alert_id} shown live ({len(opened)} opened)")
    text = shown.inner_text()
    assert "价格变动" in text and evidence in text, text
    link = shown.query_selector(f"a[href='/console/alerts/{alert_id}']")
    assert link is not None
    tab.check("32-alert-live")
    with tab.page.expect_navigation():
        link.click()
    assert evidence in tab.page.inner_text("main")
    tab.check("33-alert")
