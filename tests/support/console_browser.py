"""The console in a real browser: Debian Chromium through Playwright, axe-core scans,
screenshots, and the console's stack on the production shape.

* :func:`console_stack` — the browser stack of tests/support/stacks.py (PostgreSQL, S3 with
  Object Lock, anvil, Celery worker and beat on Redis, a capture worker running Chromium)
  with the capture fixture site, two platforms registered (``example-mall`` and
  :data:`OTHER_PLATFORM`).
* :class:`Watch` — what went wrong in a page that the page itself does not show: Content
  Security Policy refusals (the console allows no inline script or style), uncaught script
  errors, failed same-origin requests.
* :func:`assert_accessible` — axe-core (npm, pinned in evidence_api/console/assets, a
  devDependency: injected by the tests, never served) run in the page; no violation of
  impact "serious" or "critical", else every rule id, target and help URL in the message.
* :func:`shoot` — a full-page screenshot under :func:`artifacts_dir`, named by step.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from evidence_api.registry.models import Platform
from tests.support.api import EVIDENCE_CLI, AnchoringStack, ensure_example_platform
from tests.support.browser import REPO
from tests.support.capture_site import Site, capture_site
from tests.support.stacks import browser_stack

AXE = REPO / "evidence_api" / "console" / "assets" / "node_modules" / "axe-core" / "axe.min.js"
#: The laptop the issue names, and a phone.
DESKTOP = {"width": 1366, "height": 768}
PHONE = {"width": 390, "height": 844}
#: Impacts that fail a page (axe's "minor" and "moderate" are reported, not failed).
BLOCKING = ("serious", "critical")
#: How long one page action may take on a loaded 2-core machine (Chromium, anvil, S3, ...).
ACTION_MS = 60_000
#: The second platform: its user must not see ``example-mall``'s orders.
OTHER_PLATFORM = "other-mall"
#: The password of every user the browser tests create.
PASSWORD = "控制台-e2e-密码-2026"


def progress(message: str) -> None:
    print(f"[console e2e {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def artifacts_dir() -> Path:
    """``$EVIDENCE_TEST_ARTIFACTS`` if set, else ``<repo>/test-artifacts/console`` (git
    ignores test-artifacts/); created."""
    configured = os.environ.get("EVIDENCE_TEST_ARTIFACTS")
    folder = Path(configured) if configured else REPO / "test-artifacts" / "console"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def clear_artifacts() -> None:
    """Remove the screenshots and scan reports of an earlier run (the folder then holds
    this run's only)."""
    folder = artifacts_dir()
    for old in [*folder.glob("*.png"), *folder.glob("axe-*.json")]:
        old.unlink(missing_ok=True)


def shoot(page: Any, name: str, *, full_page: bool = True) -> Path:
    """Save a screenshot of ``page`` as ``<artifacts>/<name>.png``; its path."""
    safe = re.sub(r"[^A-Za-z0-9._-]+", "-", name).strip("-")
    path = artifacts_dir() / f"{safe}.png"
    page.screenshot(path=str(path), full_page=full_page)
    return path


@contextmanager
def viewport(page: Any, size: dict[str, int]) -> Iterator[Any]:
    """``page`` at ``size`` for the block, then back at its former size."""
    before = page.viewport_size
    page.set_viewport_size(size)
    try:
        yield page
    finally:
        page.set_viewport_size(before)


def horizontal_overflow(page: Any) -> int:
    """How many CSS pixels the page is wider than its viewport (0: it fits; tables scroll
    inside their own ``.table-wrap``)."""
    extra: int = page.evaluate(
        "() => document.documentElement.scrollWidth - document.documentElement.clientWidth"
    )
    return extra


def widest(page: Any) -> list[str]:
    """The elements reaching past the viewport's right edge (outermost first), to name
    them when a page does not fit."""
    found: list[str] = page.evaluate(
        """() => {
            const width = document.documentElement.clientWidth;
            const out = [];
            for (const e of document.querySelectorAll('body *')) {
                const r = e.getBoundingClientRect();
                if (r.right > width + 1 && !e.closest('.table-wrap')) {
                    const id = e.id ? '#' + e.id : '';
                    const cls = e.className ? '.' + String(e.className).split(' ').join('.') : '';
                    out.push(`${e.tagName.toLowerCase()}${id}${cls} right=${Math.round(r.right)}`);
                }
            }
            return out.slice(0, 8);
        }"""
    )
    return found


# --- what a page does wrong without showing it -------------------------------------------------

_CSP = re.compile(r"Content Security Policy|Refused to (execute|apply|load|evaluate)", re.I)


@dataclass
class Watch:
    """Problems seen in one browser context's pages since the last :meth:`take`."""

    origin: str
    problems: list[str] = field(default_factory=list)

    def attach(self, page: Any) -> Any:
        page.on("console", self._console)
        page.on("pageerror", lambda exc: self.problems.append(f"script error: {exc}"))
        page.on("requestfailed", self._failed)
        return page

    def _console(self, message: Any) -> None:
        if _CSP.search(message.text):
            self.problems.append(f"CSP: {message.text}")

    def _failed(self, request: Any) -> None:
        failure = request.failure or ""
        # A navigation away or a download ends requests on purpose.
        if request.url.startswith(self.origin) and "ERR_ABORTED" not in failure:
            self.problems.append(f"request failed: {request.method} {request.url} {failure}")

    def take(self) -> list[str]:
        seen, self.problems = self.problems, []
        return seen

    def assert_clean(self, where: str) -> None:
        seen = self.take()
        assert not seen, f"{where}: " + "\n".join(seen)


# --- accessibility -----------------------------------------------------------------------------


def axe_violations(page: Any) -> list[dict[str, Any]]:
    """axe-core's violations on the page as it is now (WCAG 2.x A and AA and best practice).

    The script is evaluated through the DevTools protocol, which the page's CSP does not
    govern (so the console's strict policy stays on for everything else)."""
    if not page.evaluate("() => typeof window.axe !== 'undefined'"):
        page.evaluate(AXE.read_text(encoding="utf-8"))
    result: list[dict[str, Any]] = page.evaluate(
        """async () => {
            const r = await axe.run(document, {resultTypes: ['violations']});
            return r.violations.map(v => ({
                id: v.id, impact: v.impact, help: v.help, helpUrl: v.helpUrl,
                targets: v.nodes.map(n => n.target.join(' ')),
                summaries: v.nodes.map(n => n.failureSummary || ''),
            }));
        }"""
    )
    return result


def describe(violations: list[dict[str, Any]]) -> str:
    lines = []
    for v in violations:
        lines.append(f"- {v['id']} ({v['impact']}): {v['help']} <{v['helpUrl']}>")
        for target, summary in list(zip(v["targets"], v["summaries"], strict=True))[:5]:
            lines.append(f"    {target}: {' '.join(summary.split())[:300]}")
    return "\n".join(lines)


def assert_accessible(page: Any, where: str) -> list[dict[str, Any]]:
    """No serious or critical axe violation on ``page``; the lesser ones, returned (and
    written next to the screenshots as ``axe-<where>.json``)."""
    violations = axe_violations(page)
    safe = re.sub(r"[^A-Za-z0-9._-]+", "-", where).strip("-")
    (artifacts_dir() / f"axe-{safe}.json").write_text(
        json.dumps({"url": page.url, "violations": violations}, ensure_ascii=False, indent=1),
        "utf-8",
    )
    blocking = [v for v in violations if v["impact"] in BLOCKING]
    assert not blocking, f"axe on {where} ({page.url}):\n{describe(blocking)}"
    return violations


# --- keyboard ----------------------------------------------------------------------------------


def focused(page: Any) -> str:
    """What has the focus: ``tag#id[name]{type}<href>``."""
    text: str = page.evaluate(
        """() => {
            const e = document.activeElement;
            if (!e || e === document.body) return 'body';
            const name = e.getAttribute('name') || '';
            const type = e.getAttribute('type') || '';
            const href = e.getAttribute('href') || '';
            return `${e.tagName.toLowerCase()}#${e.id}[${name}]{${type}}<${href}>`;
        }"""
    )
    return text


def tab_order(page: Any, presses: int = 30) -> list[str]:
    """From the top of the page, what each of ``presses`` Tab presses focuses."""
    page.evaluate("() => { document.activeElement && document.activeElement.blur(); }")
    page.evaluate("() => window.scrollTo(0, 0)")
    seen = []
    for _ in range(presses):
        page.keyboard.press("Tab")
        seen.append(focused(page))
    return seen


# --- the stack ---------------------------------------------------------------------------------


@dataclass
class ConsoleStack:
    stack: AnchoringStack
    site: Site
    root: Path

    @property
    def base(self) -> str:
        return self.stack.server.base_url

    def url(self, path: str) -> str:
        return self.base + path


def register_platform(session: Session, code: str, name: str) -> None:
    if session.execute(select(Platform.id).where(Platform.code == code)).first():
        return
    now = datetime.now(UTC)
    session.add(Platform(code=code, name=name, created_at=now, updated_at=now))


@contextmanager
def console_stack(root: Path, postgres_url: str) -> Iterator[ConsoleStack]:
    """The capture fixture site and :func:`tests.support.stacks.browser_stack` capturing it,
    with ``example-mall`` and :data:`OTHER_PLATFORM` registered."""
    with (
        capture_site(root / "site") as site,
        browser_stack(root, postgres_url, site.ca_file) as (anchoring, _),
    ):
        with Session(anchoring.engine) as session, session.begin():
            ensure_example_platform(session)
            register_platform(session, OTHER_PLATFORM, "另一商城")
        yield ConsoleStack(anchoring, site, root)


@dataclass
class CliUser:
    """``evidence admin create-user --password-stdin`` running (see :func:`create_user_cli`)."""

    username: str
    process: subprocess.Popen[str]

    def wait(self, timeout: float = 120.0) -> str:
        """Its exit: 0, and the password nowhere in its output; the username."""
        self.process.wait(timeout)  # its few lines fit in the pipes' buffers
        assert self.process.stdout is not None and self.process.stderr is not None
        out, err = self.process.stdout.read(), self.process.stderr.read()
        assert self.process.returncode == 0, out + err
        assert PASSWORD not in out + err
        return self.username


def create_user_cli(
    stack: AnchoringStack,
    username: str,
    role: str,
    display_name: str,
    *,
    unit: str | None = None,
) -> CliUser:
    """Start making a console user as an operator makes the first one: ``evidence admin
    create-user --password-stdin`` with the stack's environment (started, not awaited:
    the caller does other work meanwhile, then :meth:`CliUser.wait`)."""
    args = [str(EVIDENCE_CLI), "admin", "create-user", "--username", username]
    args += ["--display-name", display_name, "--role", role, "--password-stdin"]
    if unit is not None:
        args += ["--unit", unit]
    process = subprocess.Popen(
        args,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={**os.environ, **stack.env},
        text=True,
    )
    assert process.stdin is not None
    process.stdin.write(PASSWORD + "\n")
    process.stdin.close()
    return CliUser(username, process)


def create_user(
    stack: AnchoringStack,
    username: str,
    role: str,
    display_name: str,
    *,
    unit: str | None = None,
    platform: str | None = None,
) -> str:
    """A console user made by the accounts service on the stack's database; its username."""
    from evidence_api.accounts.service import create_user as make  # noqa: PLC0415

    with Session(stack.engine) as session, session.begin():
        make(
            session,
            username=username,
            password=PASSWORD,
            display_name=display_name,
            role=role,
            unit=unit,
            platform=platform,
            actor="e2e",
        )
    return username


def open_alert(
    stack: AnchoringStack, *, recipient_user: str, reason: str, evidence_id: str | None
) -> str:
    """Open a ``price_changed`` alert for ``recipient_user`` as a monitor run does (its
    first event and ``alert`` log entry, receipt signed with the deployment's log key, in
    one transaction on the stack's database); the service's workers seal it. Its id."""
    from anchoring.issuing import issue_receipt  # noqa: PLC0415
    from evidence_api.core.config import Settings  # noqa: PLC0415
    from evidence_api.core.keys import load_signer  # noqa: PLC0415
    from evidence_api.core.models import User  # noqa: PLC0415
    from evidence_api.monitoring import alert_log  # noqa: PLC0415
    from evidence_api.monitoring.observation import PRICE_CHANGED  # noqa: PLC0415

    settings = Settings(
        data_dir=Path(stack.env["EVIDENCE_DATA_DIR"]),
        database_url=stack.env["EVIDENCE_DATABASE_URL"],
    )
    signer = load_signer(settings, may_create=False)

    @contextmanager
    def transaction() -> Iterator[Session]:
        with Session(stack.engine) as session, session.begin():
            yield session

    ledger = alert_log.AlertLedger(
        transaction=transaction,
        sign_receipt=lambda entry: issue_receipt(signer, entry, settings.max_merge_delay),
        queued=lambda _: None,  # the stack's beat seals every half second
    )
    with transaction() as session:
        token_id = session.execute(
            select(User.token_id).where(User.username == recipient_user)
        ).scalar_one()
        draft = alert_log.AlertDraft(
            rule=PRICE_CHANGED,
            reason=reason,
            recipient=f"token-{token_id}",
            detail={"from": "99", "to": "59"},
            evidence_id=evidence_id,
        )
        return alert_log.open_alert(ledger, session, draft).id
