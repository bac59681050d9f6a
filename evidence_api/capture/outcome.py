"""The contract between the capture's parts: configuration, limits, the files a capture
produces and how it fails. Pure data; no I/O.

* :mod:`evidence_api.capture.proxy` (the recording proxy) pins every connection to a
  checked address, enforces the byte/resource limits and writes the WARC;
* :mod:`evidence_api.capture.browser` drives Chromium through it and returns a
  :class:`CaptureOutput` (or raises :class:`CaptureError`);
* :mod:`evidence_api.capture.service` turns the output into one evidence item through
  the same intake as uploads.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# -- the files of a capture (names in the manifest; docs/capture.md §3) ---------------------

SCREENSHOT = "screenshot.png"  #: full page after load (viewport only when full_page is false)
DOM = "dom.html"  #: document.documentElement.outerHTML after load (UTF-8)
MHTML = "page.mhtml"  #: CDP Page.captureSnapshot (MHTML)
WACZ = "archive.wacz"  #: the recording proxy's WARC, packaged as WACZ 1.1.1
HAR = "traffic.har"  #: the browser's own view of the traffic (Playwright's HAR)
VIDEO = "recording.webm"  #: modes "video" and "steps"
MAIN_DOCUMENT = "main-document.json"  #: redirect chain and response headers of the main document
ENVIRONMENT = "environment.json"  #: the environment record (取证环境), written by the system


def step_screenshot(index: int) -> str:
    """The viewport screenshot taken after step ``index`` (1-based): ``step-01.png``."""
    return f"step-{index:02d}.png"


def tls_chain(host: str, port: int) -> str:
    """The certificate chain an HTTPS origin served (PEM, leaf first): ``tls-<host>-<port>.pem``."""
    return f"tls-{host}-{port}.pem"


# -- limits and configuration ---------------------------------------------------------------


@dataclass(frozen=True)
class CaptureLimits:
    """Every bound a capture runs under. A hit limit is named in the failure reason
    (``failed``), or recorded in ``environment.json``'s ``limits_hit`` when the partial
    capture is still useful (``done``); docs/capture.md §5 says which."""

    total_seconds: float = 120.0  #: the whole capture, browser start to last file
    navigation_seconds: float = 30.0  #: one navigation (goto) until its load event
    step_seconds: float = 15.0  #: one step (click, fill, wait for a selector, ...)
    network_idle_seconds: float = 10.0  #: waiting for network idle before giving up on it
    max_bytes: int = 100 * 1024 * 1024  #: response bytes through the proxy, all requests
    max_response_bytes: int = 50 * 1024 * 1024  #: one response's body
    max_resources: int = 2000  #: requests through the proxy
    max_redirects: int = 10  #: redirects of one navigation
    max_page_height: int = 20_000  #: CSS pixels of a full-page screenshot (cut at this)
    max_video_seconds: float = 120.0


@dataclass(frozen=True)
class AddressPolicy:
    """Which addresses the browser may reach: every global unicast address, plus the
    hosts/IPs and CIDR blocks allow-listed by ``EVIDENCE_CAPTURE_ALLOW`` (tests: the
    loopback fixture site). Loopback, private, link-local, metadata and every other
    special-purpose block are refused otherwise (:func:`evidence_api.takedowns.netcheck.
    address_problem`)."""

    allow_hosts: frozenset[str] = frozenset()
    allow_networks: tuple[str, ...] = ()


@dataclass(frozen=True)
class CaptureConfig:
    """What the runner needs from the service's settings (built by the service)."""

    chromium: Path  #: the OS package's browser, e.g. /usr/bin/chromium
    limits: CaptureLimits
    policy: AddressPolicy
    #: extra CA certificates (PEM file) the recording proxy trusts for upstream TLS,
    #: beside the system's (tests: the fixture site's CA); None: the system's only
    upstream_ca: Path | None = None
    #: a second resolver (IP) asked for the target's DNS answers; None: not asked
    second_resolver: str | None = None
    #: NTP servers for the clock offset before and after; empty: not measured
    ntp_servers: tuple[str, ...] = ()
    #: a URL answering the caller's egress IP as text; None: not asked
    echo_url: str | None = None
    #: "evidence-anchor capture <version>"; the browser's version is appended
    tool: str = "evidence-anchor capture"
    host_id: str = ""
    #: a light capture (monitor runs): the address pinning, self-check and environment
    #: record as always, and the screenshot, DOM and main-document record, but no MHTML,
    #: HAR or WACZ (the proxy's WARC is written and dropped); docs/capture.md §3
    light: bool = False


@dataclass(frozen=True)
class CapturedFile:
    name: str  #: one of the names above
    media_type: str
    path: Path


@dataclass
class CaptureOutput:
    """A finished capture: its files (all fully written and closed), the structured
    environment record (also in ``environment.json``), and the manifest's flat
    ``capture.environment`` (≤ 64 keys, each value ≤ 256 characters)."""

    files: list[CapturedFile]
    environment: dict[str, Any]
    manifest_environment: dict[str, str]
    tool: str  #: "evidence-anchor capture <version> / Chromium <version>"
    final_url: str
    title: str
    started_at: str  #: RFC 3339 UTC, when the browser started
    limits_hit: list[str] = field(default_factory=list)


class CaptureError(Exception):
    """The capture ended without evidence. ``reason`` is precise and shown to the
    officer (GET /v1/captures/{id}); ``limit`` names the limit hit, if one was."""

    def __init__(self, reason: str, *, limit: str | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.limit = limit


#: Called by the runner as it goes: the current step, e.g. "2/5 click #search".
Progress = Callable[[str], None]
