"""The capture's environment record (取证环境清洁性): what the capturing machine was, how it
resolved and reached the target, how right its clock was, and when each step ran.

Courts ask whether the capturing machine was clean (《关于互联网法院审理案件若干问题的规定》
第11条). Everything here is measured or read by the system while the capture runs, never
typed by an officer. The browser runner (:mod:`evidence_api.capture.browser`) drives one
:class:`EnvironmentRecorder` per capture::

    env = EnvironmentRecorder(config, capture_id=cid, url=url)
    env.before()                          # host, OS, files, DNS, egress IP, clock
    env.browser(chromium_version=..., playwright_version=..., launch_args=[...], proxy=...)
    env.step(1, "goto", "打开商品页", started, ended)
    env.set("selfcheck", {"ok": True, "sha256": "..."})   # what only the runner knows
    env.after()                           # clock again, /etc/hosts again, end time
    env.record()    # -> environment.json (human-readable, indented JSON)
    env.manifest()  # -> the manifest's flat capture.environment

Every external probe is bounded in time (:data:`PROBE_DEADLINE` for all of ``before``'s
probes together, run at once; DNS 3 s, echo 5 s and 64 bytes, NTP 3 s each) and never
raises: a failure is recorded as an ``error``. Nothing is read or asked at import.

**Warnings** (``warnings`` in both forms) are recorded, not fatal; each starts with a
Chinese label: a proxy variable that is set and does not point to the recording proxy
(``NO_PROXY`` set at all, since it names hosts that would bypass a proxy) (代理变量); no
common address between the system and the second resolver (DNS 解析不一致); the system
resolver failing (系统解析失败) or the second one not answering (第二解析器无应答); the
echo URL failing (出口IP未测得); an NTP server failing (时钟未校验) or differing by more
than :data:`CLOCK_WARN_MS` (时钟偏差); ``/etc/hosts`` changed during the capture (hosts
文件变更); an extension loaded into the browser (浏览器扩展).

**The manifest's ``capture.environment``** (all values strings, at most 256 characters,
longer ones cut with ``…``; control characters become spaces). One line per key: the key,
what it means, an example. The docs copy this table.

``schema`` — layout version of environment.json and of this table; e.g. ``1``
``recorded_by`` — who wrote the record: always ``server`` here (intake marks an officer's
    upload ``officer``); e.g. ``server``
``capture_id`` — the capture's id; e.g. ``cap_8f3a…``
``target_host`` — the URL's host as resolvers see it (lower case, IDNA); e.g. ``shop.example.cn``
``host_id`` — capture host id: the setting ``host_id``; else the first 16 hex digits of
    ``sha256sum /etc/machine-id`` (the raw id stays private); else the hostname;
    e.g. ``3f1c9a0b5e7d2468``
``host_id_source`` — ``config``, ``machine-id`` or ``hostname``; e.g. ``machine-id``
``hostname`` — the host's name (``socket.gethostname()``); e.g. ``capture-1``
``os`` — ``PRETTY_NAME`` of /etc/os-release, else ``platform.platform()``;
    e.g. ``Debian GNU/Linux 12 (bookworm)``
``kernel`` — ``uname`` system, release and machine; e.g. ``Linux 6.1.0-18-amd64 x86_64``
``python`` — Python implementation and version; e.g. ``CPython 3.11.2``
``tool_version`` — evidence-anchor's version (the installed package); e.g. ``0.1.0``
``playwright`` — Playwright's version as the runner reports it (before ``browser``: the
    installed one); e.g. ``1.65.2``
``chromium`` — the browser's version as the runner reports it; e.g. ``141.0.7390.54``
``launch_args`` — the browser's launch arguments, space-separated;
    e.g. ``--headless --no-sandbox --disable-gpu``
``browser_proxy`` — the proxy the browser was given (the recording proxy);
    e.g. ``http://127.0.0.1:40123``
``proxy_env`` — the proxy variables set in the capturing process (``HTTP_PROXY``,
    ``HTTPS_PROXY``, ``ALL_PROXY``, ``NO_PROXY``, any case) as ``NAME=value``, joined by
    ``"; "``; ``none`` when none is set; e.g. ``none``
``proxy_env_clean`` — ``true`` when each is empty or points to the recording proxy, else
    ``false`` (and a warning per variable); e.g. ``true``
``hosts_sha256`` — SHA-256 of /etc/hosts before the capture (as ``sha256sum /etc/hosts``);
    ``error: …`` when unreadable; e.g. ``6ddf9e4f…`` (64 hex digits)
``hosts_target_lines`` — the lines of /etc/hosts naming the target (or, for an IP target,
    mapping its address), joined by ``" | "``; empty when none; e.g. ``127.0.0.1 localhost``
``hosts_changed`` — ``true`` when /etc/hosts' SHA-256 after the capture differs (a
    warning); e.g. ``false``
``resolv_conf`` — /etc/resolv.conf's ``nameserver``/``search``/``domain``/``options``/
    ``sortlist`` lines, joined by ``"; "``; ``error: …`` when unreadable;
    e.g. ``nameserver 10.0.0.53; options edns0``
``dns_system`` — the target's addresses from the system resolver (``getaddrinfo``: hosts
    file, then resolv.conf's resolvers), A then AAAA, comma-separated; with none,
    ``<status>: <error>`` (``empty: Name or service not known``); e.g. ``127.0.0.1``
``dns_second_server`` — the second resolver asked (the setting), empty when not configured;
    e.g. ``192.0.2.53:5353``
``dns_second`` — its A and AAAA answers (UDP, 3 s each), comma-separated; with none,
    ``<status>: <error>`` (``unreachable: A: no answer within 3 s; …``), ``not-asked`` or
    ``not-a-name``; e.g. ``192.0.2.7``
``dns_agree`` — ``yes`` (a common address, or both say there is none), ``no`` (no common
    address: a warning), ``unknown`` (a side failed or gave no answer), ``not-asked`` (no
    second resolver), ``not-a-name`` (the target is an IP address); e.g. ``no``
``egress_ip`` — the IP the echo URL saw (64 bytes, 5 s at most); empty when no echo URL is
    set; ``error: <reason>`` when it failed (a warning); e.g. ``203.0.113.9``
``echo_url`` — the echo URL asked (the setting), empty when not set;
    e.g. ``https://echo.example/ip``
``ntp_servers`` — the NTP servers asked (the setting, at most 8), comma-separated;
    e.g. ``ntp.ntsc.ac.cn,cn.pool.ntp.org:123``
``clock_offset_before_ms`` — before the capture: NTP server time minus local time in ms,
    signed, one decimal (positive: the local clock is behind), from the first server that
    answered; empty when none answered or none is configured; e.g. ``+2500.3``
``clock_before`` — every server before the capture: ``<server> <offset> ms stratum <n>`` or
    ``<server> error: <reason>``, joined by ``"; "``;
    e.g. ``127.0.0.1:123 +2500.3 ms stratum 2``
``clock_offset_after_ms`` — as ``clock_offset_before_ms``, after the capture; e.g. ``+2500.1``
``clock_after`` — as ``clock_before``, after the capture;
    e.g. ``127.0.0.1:123 +2500.1 ms stratum 2``
``started_at`` — RFC 3339 UTC: when the record began (before the probes);
    e.g. ``2026-12-02T18:26:33.120Z``
``browser_started_at`` — RFC 3339 UTC: when the runner reported the launched browser;
    e.g. ``2026-12-02T18:26:36.402Z``
``ended_at`` — RFC 3339 UTC: when the record ended (after the last probe);
    e.g. ``2026-12-02T18:26:51.877Z``
``steps`` — how many steps the runner recorded (each one's times are in environment.json);
    e.g. ``4``
``limits_hit`` — the names of the limits hit (partial but useful content), comma-separated;
    empty when none; e.g. ``max_page_height``
``warnings`` — how many warnings were recorded; e.g. ``1``
``warnings_text`` — the warnings, joined by ``" | "``;
    e.g. ``DNS 解析不一致: the system resolver says 127.0.0.1; …``
``selfcheck`` — the runner's self-check: ``passed`` or ``failed`` (its ``ok``), then
    ``sha256=`` and the first 16 hex digits of its ``sha256`` when given; empty when the
    runner set none; e.g. ``passed sha256=9f86d081884c7d65``
``runner_keys`` — the keys the runner :meth:`~EnvironmentRecorder.set` (their values are
    top-level members of environment.json), comma-separated;
    e.g. ``main_document,proxy,selfcheck,tls``

**environment.json** holds the same facts in full and structured, plus the runner's values
as top-level members named by ``runner_keys``; its own digest is in the manifest's file
list. Its members (times RFC 3339 UTC; a failed part carries ``error`` instead of values):

* ``schema``, ``recorded_by``, ``capture_id``, ``url``, ``target_host``, ``started_at``,
  ``browser_started_at``, ``ended_at``: as in the table;
* ``host``: ``id``, ``id_source``, ``hostname``; ``os``: ``platform``, ``pretty_name``,
  ``kernel`` {``system``, ``release``, ``version``, ``machine``}; ``software``: ``python``,
  ``evidence_anchor``, ``playwright``, ``dnspython``, ``ntplib`` (installed versions);
* ``browser``: ``chromium``, ``playwright``, ``launch_args`` (list, at most 128),
  ``launch_args_dropped``, ``proxy``; null until the runner reports the browser;
* ``proxy_env``: ``variables`` {name as written: value}, ``recording_proxy``, ``clean``;
* ``hosts``: ``path``, ``sha256``, ``bytes``, ``cut`` (longer than 1 MiB: digest of the
  first MiB), ``target_lines``; ``hosts_after``: ``sha256``, ``changed``;
* ``resolver``: ``path``, ``sha256``, ``cut``, ``lines``;
* ``dns``: ``target``; ``system`` {``status``, ``a``, ``aaaa``, ``error``?}; ``second``
  {``status``, ``a``, ``aaaa``, ``server``, ``queries`` [{``type``, ``status``,
  ``addresses``, ``rcode``? ``error``?}], ``error``?}; ``agree`` (statuses: ``answered``,
  ``empty``, ``error``, ``unreachable``, ``not-asked``, ``not-a-name``);
* ``egress``: ``url``, then ``ip`` and ``http_status``, or ``error``; without an echo URL,
  ``status`` is ``not-asked``;
* ``clock``: ``servers``; ``before`` and ``after``: one entry per server, {``server``,
  ``offset_ms`` (server − local), ``delay_ms`` (round trip), ``stratum``,
  ``measured_at``} or {``server``, ``error``};
* ``steps``: [{``index``, ``action``, ``label``, ``started``, ``ended``, ``detail``?}] as
  the runner measured them (at most 256; ``steps_dropped`` counts the rest);
* ``limits_hit``: [{``name``, ``detail``, ``at``}] (at most 64);
* ``warnings``: texts (at most 100; ``warnings_dropped`` counts the rest);
* ``errors``: [{``part``, ``error``}]: a local read that failed unexpectedly;
* ``runner_keys`` and the runner's members (``selfcheck``, ``tls``, ``proxy``,
  ``main_document``, ``device``, ...): what the runner set, as it set them.
"""

from __future__ import annotations

import copy
import functools
import hashlib
import http.client
import importlib.metadata
import ipaddress
import json
import os
import platform
import re
import shlex
import socket
import ssl
import threading
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import ntplib  # type: ignore[import-untyped]

from evidence_api.capture import dnsinfo
from evidence_api.capture.dnsinfo import clip
from evidence_api.capture.outcome import CaptureConfig

#: The layout version of environment.json and of the manifest table above.
SCHEMA = 1

MACHINE_ID = Path("/etc/machine-id")
OS_RELEASE = (Path("/etc/os-release"), Path("/usr/lib/os-release"))

#: All of ``before``'s network probes run at once and are waited for this long in all.
PROBE_DEADLINE = 6.0
#: The echo URL: at most this many bytes read, within this many seconds.
ECHO_MAX_BYTES = 64
ECHO_SECONDS = 5.0
#: One NTP request's timeout; at most this many servers are asked.
NTP_TIMEOUT = 3.0
MAX_NTP_SERVERS = 8
#: An NTP offset beyond this (ms, either sign) is a warning.
CLOCK_WARN_MS = 1000.0

#: The proxy variables read (any case). Each must be empty or point to the recording proxy.
PROXY_VARIABLES = ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY")
#: Browser launch arguments that load code into a capture's browser.
EXTENSION_ARGS = ("--load-extension", "--disable-extensions-except")

#: Bounds of what the runner hands in.
MAX_STEPS = 256
MAX_LIMITS = 64
MAX_WARNINGS = 100
MAX_TEXT = 1024
MAX_ARGS = 128
MAX_SET_BYTES = 1024 * 1024
MANIFEST_MAX_KEYS = 64
MANIFEST_MAX_VALUE = 256

#: The record's own top-level members; :meth:`EnvironmentRecorder.set` may not use them.
RECORDER_KEYS = frozenset(
    {
        "schema", "recorded_by", "capture_id", "url", "target_host", "started_at",
        "browser_started_at", "ended_at", "host", "os", "software", "browser", "proxy_env",
        "hosts", "hosts_after", "resolver", "dns", "egress", "clock", "steps",
        "steps_dropped", "limits_hit", "warnings", "warnings_dropped", "errors", "runner_keys",
    }
)  # fmt: skip
_KEY = re.compile(r"[a-z][a-z0-9_]{0,63}")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def utc_now() -> str:
    """Now as RFC 3339 UTC with milliseconds: ``2026-12-02T18:26:33.120Z``."""
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


# -- pure rules (unit-tested with data) ------------------------------------------------------


def _proxy_endpoint(value: str) -> tuple[str, int] | None:
    """(host, port) a proxy URL or ``host:port`` points to, or None when unreadable."""
    text = value.strip()
    if "://" not in text:
        text = "http://" + text
    try:
        parts = urlsplit(text)
        port = parts.port
    except ValueError:
        return None
    if not parts.hostname:
        return None
    default = {"http": 80, "https": 443, "socks5": 1080, "socks5h": 1080, "socks4": 1080}
    port = port if port is not None else default.get(parts.scheme.lower())
    return (parts.hostname.lower(), port) if port is not None else None


def proxy_variables(environ: Mapping[str, str]) -> dict[str, str]:
    """The proxy variables set in ``environ`` (any case), by their name as written, sorted."""
    return {
        name: clip(value, MAX_TEXT)
        for name, value in sorted(environ.items())
        if name.upper() in PROXY_VARIABLES
    }


def proxy_warnings(variables: Mapping[str, str], recording_proxy: str | None) -> list[str]:
    """A warning per proxy variable that is set and not the recording proxy. ``NO_PROXY``
    set at all is one: it names hosts that would go around a proxy."""
    ours = _proxy_endpoint(recording_proxy) if recording_proxy else None
    found: list[str] = []
    for name, value in variables.items():
        if not value.strip():
            continue
        if name.upper() == "NO_PROXY":
            found.append(f"代理变量: {name}={value!r} is set: these hosts would bypass a proxy")
        elif ours is None or _proxy_endpoint(value) != ours:
            target = recording_proxy or "none"
            found.append(
                f"代理变量: {name}={value!r} does not point to the recording proxy ({target})"
            )
    return found


def _addresses(answer: Mapping[str, Any]) -> str:
    """An answer for the manifest: its addresses, or its status and error."""
    found = [*answer.get("a", []), *answer.get("aaaa", [])]
    if found:
        return ",".join(found)
    error = answer.get("error")
    return f"{answer['status']}: {error}" if error else str(answer["status"])


def _offset_text(offset_ms: float) -> str:
    return f"{offset_ms:+.1f}"


def _clock_text(results: list[dict[str, Any]]) -> str:
    parts = []
    for item in results:
        if "offset_ms" in item:
            off = _offset_text(item["offset_ms"])
            parts.append(f"{item['server']} {off} ms stratum {item['stratum']}")
        else:
            parts.append(f"{item['server']} error: {item.get('error', '')}")
    return "; ".join(parts)


def _first_offset(results: list[dict[str, Any]]) -> str:
    return next((_offset_text(r["offset_ms"]) for r in results if "offset_ms" in r), "")


def selfcheck_text(value: Any) -> str:
    """The runner's self-check value for the manifest (see the table above)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "passed" if value else "failed"
    if isinstance(value, str):
        return value
    if isinstance(value, Mapping):
        ok = value.get("ok", value.get("passed"))
        text = ("passed" if ok else "failed") if isinstance(ok, bool) else "unknown"
        digest = value.get("sha256")
        return f"{text} sha256={digest[:16]}" if isinstance(digest, str) and digest else text
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def manifest_value(value: Any) -> str:
    """A manifest value: a string without control characters, at most 256 characters."""
    if isinstance(value, bool):
        text = "true" if value else "false"
    elif value is None:
        text = ""
    else:
        text = str(value)
    return clip(_CONTROL.sub(" ", text), MANIFEST_MAX_VALUE)


def flatten(record: Mapping[str, Any]) -> dict[str, str]:
    """The manifest's flat ``capture.environment`` from a full record (the table above)."""
    host = record.get("host", {})
    system = record.get("os", {})
    software = record.get("software", {})
    browser = record.get("browser") or {}
    proxy = record.get("proxy_env", {})
    hosts = record.get("hosts", {})
    resolver = record.get("resolver", {})
    dns = record.get("dns", {})
    egress = record.get("egress", {})
    clock = record.get("clock", {})
    kernel = system.get("kernel", {})
    variables = proxy.get("variables", {})
    second = dns.get("second", {})
    hosts_error = hosts.get("error")
    flat: dict[str, Any] = {
        "schema": record.get("schema", SCHEMA),
        "recorded_by": record.get("recorded_by", "server"),
        "capture_id": record.get("capture_id", ""),
        "target_host": record.get("target_host", ""),
        "host_id": host.get("id", ""),
        "host_id_source": host.get("id_source", ""),
        "hostname": host.get("hostname", ""),
        "os": system.get("pretty_name") or system.get("platform", ""),
        "kernel": " ".join(
            str(kernel[k]) for k in ("system", "release", "machine") if kernel.get(k)
        ),
        "python": software.get("python", ""),
        "tool_version": software.get("evidence_anchor", ""),
        "playwright": browser.get("playwright") or software.get("playwright", ""),
        "chromium": browser.get("chromium", ""),
        "launch_args": " ".join(browser.get("launch_args", [])),
        "browser_proxy": browser.get("proxy", ""),
        "proxy_env": "; ".join(f"{k}={v}" for k, v in variables.items()) or "none",
        "proxy_env_clean": proxy.get("clean", ""),
        "hosts_sha256": hosts.get("sha256") or (f"error: {hosts_error}" if hosts_error else ""),
        "hosts_target_lines": " | ".join(hosts.get("target_lines", [])),
        "hosts_changed": record.get("hosts_after", {}).get("changed", ""),
        "resolv_conf": "; ".join(resolver.get("lines", []))
        or (f"error: {resolver['error']}" if "error" in resolver else ""),
        "dns_system": _addresses(dns["system"]) if "system" in dns else "",
        "dns_second_server": second.get("server") or "",
        "dns_second": _addresses(second) if second else "",
        "dns_agree": dns.get("agree", ""),
        "egress_ip": egress.get("ip")
        or (f"error: {egress['error']}" if egress.get("error") else ""),
        "echo_url": egress.get("url") or "",
        "ntp_servers": ",".join(clock.get("servers", [])),
        "clock_offset_before_ms": _first_offset(clock.get("before", [])),
        "clock_before": _clock_text(clock.get("before", [])),
        "clock_offset_after_ms": _first_offset(clock.get("after", [])),
        "clock_after": _clock_text(clock.get("after", [])),
        "started_at": record.get("started_at", ""),
        "browser_started_at": record.get("browser_started_at", ""),
        "ended_at": record.get("ended_at", ""),
        "steps": len(record.get("steps", [])) + record.get("steps_dropped", 0),
        "limits_hit": ",".join(
            dict.fromkeys(item["name"] for item in record.get("limits_hit", []))
        ),
        "warnings": len(record.get("warnings", [])) + record.get("warnings_dropped", 0),
        "warnings_text": " | ".join(record.get("warnings", [])),
        "selfcheck": selfcheck_text(record.get("selfcheck")),
        "runner_keys": ",".join(sorted(record.get("runner_keys", []))),
    }
    return {key: manifest_value(value) for key, value in flat.items()}


# -- probes (each returns data; the recorder bounds their time) -------------------------------


def _error_text(exc: BaseException) -> str:
    """``OSError: [Errno 101] Network is unreachable``; the class alone when it says nothing."""
    detail = str(exc)
    return clip(f"{type(exc).__name__}: {detail}" if detail else type(exc).__name__, MAX_TEXT)


def run_bounded(
    probes: Mapping[str, Callable[[], dict[str, Any]]], seconds: float
) -> dict[str, dict[str, Any]]:
    """Run every probe at once, each in its own daemon thread, and wait ``seconds`` in all.
    A probe that raised or has not finished is returned as ``{"error": ...}``; one still
    running is left behind (its own timeouts end it), so the capture never waits longer."""
    results: dict[str, dict[str, Any]] = {}
    lock = threading.Lock()

    def run(name: str, probe: Callable[[], dict[str, Any]]) -> None:
        try:
            value = probe()
        except Exception as exc:  # a failed probe is a recorded error, never a crash
            value = {"error": _error_text(exc)}
        with lock:
            results[name] = value

    threads = [
        threading.Thread(target=run, args=item, name=f"capture-env-{item[0]}", daemon=True)
        for item in probes.items()
    ]
    deadline = time.monotonic() + seconds
    for thread in threads:
        try:
            thread.start()
        except RuntimeError as exc:  # no thread to be had: recorded like any failure
            results[thread.name.removeprefix("capture-env-")] = {"error": _error_text(exc)}
    for thread in threads:
        if thread.ident is not None:
            thread.join(max(0.0, deadline - time.monotonic()))
    with lock:
        done = dict(results)
    late = {"error": f"no answer within {seconds:g} s", "status": "unreachable"}
    return {name: done.get(name, dict(late)) for name in probes}


def ntp_offset(server: str) -> dict[str, Any]:
    """One NTP server's clock offset (server − local, ms), delay and stratum (ntplib, NTPv3,
    :data:`NTP_TIMEOUT`); ``server`` may carry a port (``host:port``, ``[v6]:port``). A
    reply whose originate time is not our request's, or that is not a synchronised server
    reply, is an error."""
    entry: dict[str, Any] = {"server": clip(server, 255)}
    try:
        host, port = dnsinfo.parse_server(server, 123)
        sent = time.time()
        stats = ntplib.NTPClient().request(host, version=3, port=port, timeout=NTP_TIMEOUT)
        received = time.time()
    except (ValueError, OSError, ntplib.NTPException) as exc:
        return {**entry, "error": _error_text(exc)}
    origin = ntplib.ntp_to_system_time(stats.orig_timestamp)
    if stats.mode != 4:
        return {**entry, "error": f"not a server reply (mode {stats.mode})"}
    if not sent - 0.001 <= origin <= received + 0.001:
        return {**entry, "error": "the reply does not answer our request (originate time)"}
    if not 1 <= stats.stratum <= 15 or stats.leap == 3:
        return {**entry, "error": f"server not synchronised (stratum {stats.stratum})"}
    return {
        **entry,
        "offset_ms": round(stats.offset * 1000.0, 3),
        "delay_ms": round(stats.delay * 1000.0, 3),
        "stratum": stats.stratum,
        "measured_at": utc_now(),
    }


def egress_ip(url: str) -> dict[str, Any]:
    """The IP the echo ``url`` says we come from: one direct GET (no proxy variables), at
    most :data:`ECHO_MAX_BYTES` read within :data:`ECHO_SECONDS`; the answer must be an IP
    address."""
    entry: dict[str, Any] = {"url": clip(url, MAX_TEXT)}
    deadline = time.monotonic() + ECHO_SECONDS
    try:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError("echo URL must be http(s)://host/...")
        conn: http.client.HTTPConnection
        if parts.scheme == "https":
            conn = http.client.HTTPSConnection(
                parts.hostname,
                parts.port,
                timeout=ECHO_SECONDS,
                context=ssl.create_default_context(),
            )
        else:
            conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=ECHO_SECONDS)
        try:
            path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
            conn.request(
                "GET",
                path,
                headers={"Accept": "text/plain", "Accept-Encoding": "identity"},
            )
            response = conn.getresponse()
            body, ended = b"", False
            while len(body) <= ECHO_MAX_BYTES and (left := deadline - time.monotonic()) > 0:
                if conn.sock is not None:  # a slow drip cannot stretch the 5 s
                    conn.sock.settimeout(left)
                chunk = response.read1(ECHO_MAX_BYTES + 1 - len(body))
                if not chunk:
                    ended = True
                    break
                body += chunk
        finally:
            conn.close()
    except (OSError, ValueError, http.client.HTTPException) as exc:
        return {**entry, "error": _error_text(exc)}
    entry["http_status"] = response.status
    if response.status != 200:
        return {**entry, "error": f"HTTP {response.status}"}
    if len(body) > ECHO_MAX_BYTES:
        return {**entry, "error": f"answer longer than {ECHO_MAX_BYTES} bytes"}
    if not ended:  # cut at the deadline: a prefix of an address may parse as another one
        return {**entry, "error": f"no complete answer within {ECHO_SECONDS:g} s"}
    text = body.decode("ascii", errors="replace").strip()
    try:
        return {**entry, "ip": str(ipaddress.ip_address(text))}
    except ValueError:
        return {**entry, "error": clip(f"not an IP address: {text!r}", MAX_TEXT)}


# -- the facts of this host -------------------------------------------------------------------


def _version(package: str) -> str:
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


def host_identity(configured: str) -> dict[str, str]:
    """The capture host id: the setting; else the first 16 hex digits of
    ``sha256sum /etc/machine-id`` (the raw id is not disclosed); else the hostname."""
    hostname = clip(socket.gethostname(), 255)
    if configured.strip():
        return {"id": clip(configured.strip(), 128), "id_source": "config", "hostname": hostname}
    try:
        data, _ = dnsinfo.read_bounded(MACHINE_ID, 4096)
    except OSError:
        data = b""
    if data.strip():
        digest = hashlib.sha256(data).hexdigest()[:16]
        return {"id": digest, "id_source": "machine-id", "hostname": hostname}
    return {"id": hostname, "id_source": "hostname", "hostname": hostname}


def os_release_name(text: str) -> str:
    """``PRETTY_NAME`` of an os-release(5) file's text, unquoted; empty when absent."""
    for line in text.splitlines():
        name, sep, value = line.strip().partition("=")
        if sep and name == "PRETTY_NAME":
            try:
                words = shlex.split(value)
            except ValueError:
                words = [value.strip("\"'")]
            return clip(" ".join(words), 255)
    return ""


def operating_system() -> dict[str, Any]:
    pretty = ""
    for path in OS_RELEASE:
        try:
            data, _ = dnsinfo.read_bounded(path, 64 * 1024)
        except OSError:
            continue
        pretty = os_release_name(data.decode("utf-8", errors="replace"))
        break
    uname = platform.uname()
    return {
        "platform": platform.platform(),
        "pretty_name": pretty,
        "kernel": {
            "system": uname.system,
            "release": uname.release,
            "version": uname.version,
            "machine": uname.machine,
        },
    }


def software() -> dict[str, str]:
    return {
        "python": f"{platform.python_implementation()} {platform.python_version()}",
        "evidence_anchor": _version("evidence-anchor"),
        "playwright": _version("playwright"),
        "dnspython": _version("dnspython"),
        "ntplib": _version("ntplib"),
    }


# -- the recorder -----------------------------------------------------------------------------


class EnvironmentRecorder:
    """One capture's environment record. Not thread-safe: the runner calls it from one
    thread. No method raises because a probe failed; :meth:`set` raises ``ValueError`` /
    ``TypeError`` for a key or value the runner got wrong (a bug, not an environment
    fact)."""

    def __init__(self, config: CaptureConfig, *, capture_id: str, url: str) -> None:
        self._config = config
        host = urlsplit(url).hostname or ""
        self._host = host
        self._servers = [s.strip() for s in config.ntp_servers if s.strip()][:MAX_NTP_SERVERS]
        self._record: dict[str, Any] = {
            "schema": SCHEMA,
            "recorded_by": "server",
            "capture_id": clip(capture_id, 128),
            "url": clip(url, 4096),
            "target_host": dnsinfo.target_name(host),
            "started_at": "",
            "browser_started_at": "",
            "ended_at": "",
            "host": {},
            "os": {},
            "software": {},
            "browser": None,
            "proxy_env": {"variables": {}, "recording_proxy": None, "clean": None},
            "hosts": {},
            "hosts_after": {},
            "resolver": {},
            "dns": {},
            "egress": {"url": config.echo_url, "status": "not-asked"},
            "clock": {"servers": self._servers, "before": [], "after": []},
            "steps": [],
            "steps_dropped": 0,
            "limits_hit": [],
            "warnings": [],
            "warnings_dropped": 0,
            "errors": [],
            "runner_keys": [],
        }
        self._proxy_checked = False

    # -- the runner's calls, in order --------------------------------------------------------

    def before(self) -> None:
        """Everything measured before the browser starts: host, OS, software, proxy
        variables, /etc/hosts, resolv.conf, then (all at once, :data:`PROBE_DEADLINE` in
        all) the target's DNS answers, the egress IP and the clock offset."""
        rec = self._record
        rec["started_at"] = utc_now()
        self._guard("host", lambda: rec.update(host=host_identity(self._config.host_id)))
        self._guard("os", lambda: rec.update(os=operating_system()))
        self._guard("software", lambda: rec.update(software=software()))
        self._guard(
            "proxy_env", lambda: rec["proxy_env"].update(variables=proxy_variables(os.environ))
        )
        self._guard("hosts", lambda: rec.update(hosts=dnsinfo.hosts_file(self._host)))
        self._guard("resolver", lambda: rec.update(resolver=dnsinfo.resolver_config()))
        probes: dict[str, Callable[[], dict[str, Any]]] = {
            "dns_system": lambda: dnsinfo.system_lookup(self._host),
            "dns_a": lambda: dnsinfo.second_lookup(self._host, self._config.second_resolver, "A"),
            "dns_aaaa": lambda: dnsinfo.second_lookup(
                self._host, self._config.second_resolver, "AAAA"
            ),
        }
        echo = self._config.echo_url
        if echo:
            probes["egress"] = lambda: egress_ip(echo)
        probes.update(self._clock_probes())
        results = run_bounded(probes, PROBE_DEADLINE)
        self._guard("dns", lambda: self._dns(results))
        if echo:
            egress = {"url": echo, **results["egress"]}
            rec["egress"] = egress
            if "error" in egress:
                self.warning(f"出口IP未测得: {echo}: {egress['error']}")
        self._clock("before", results)

    def browser(
        self, *, chromium_version: str, playwright_version: str, launch_args: list[str], proxy: str
    ) -> None:
        """The browser as launched: versions, arguments and the recording proxy it was given
        (the proxy variables are judged against it here)."""
        args = [clip(str(arg), MAX_TEXT) for arg in launch_args[:MAX_ARGS]]
        self._record["browser_started_at"] = utc_now()
        self._record["browser"] = {
            "chromium": clip(chromium_version, 128),
            "playwright": clip(playwright_version, 128),
            "launch_args": args,
            "launch_args_dropped": max(0, len(launch_args) - MAX_ARGS),
            "proxy": clip(proxy, MAX_TEXT),
        }
        for arg in args:
            if arg.split("=", 1)[0] in EXTENSION_ARGS:
                self.warning(f"浏览器扩展: {arg} loads code into the capture's browser")
        self._check_proxy(proxy)

    def step(
        self,
        index: int,
        action: str,
        label: str | None,
        started: str,
        ended: str,
        detail: str | None = None,
    ) -> None:
        """One step's times (RFC 3339 UTC, as the runner measured them)."""
        if len(self._record["steps"]) >= MAX_STEPS:
            self._record["steps_dropped"] += 1
            return
        entry: dict[str, Any] = {
            "index": int(index),
            "action": clip(str(action), 32),
            "label": None if label is None else clip(str(label), 128),
            "started": clip(str(started), 64),
            "ended": clip(str(ended), 64),
        }
        if detail is not None:
            entry["detail"] = clip(str(detail), MAX_TEXT)
        self._record["steps"].append(entry)

    def limit(self, name: str, detail: str) -> None:
        """A limit hit while the capture still produced evidence (named in ``limits_hit``)."""
        hits = self._record["limits_hit"]
        if len(hits) < MAX_LIMITS:
            hits.append(
                {
                    "name": clip(str(name), 64),
                    "detail": clip(str(detail), MAX_TEXT),
                    "at": utc_now(),
                }
            )

    def warning(self, text: str) -> None:
        """A recorded warning: the capture goes on, the appraiser sees it."""
        if len(self._record["warnings"]) < MAX_WARNINGS:
            self._record["warnings"].append(clip(str(text), MAX_TEXT))
        else:
            self._record["warnings_dropped"] += 1

    def set(self, key: str, value: Any) -> None:
        """Record what only the runner knows (``selfcheck``, ``proxy``, ``tls``,
        ``main_document``, ``mode``, ``final_url``, ...) as a top-level member of the record
        (setting a key again replaces it). ``key``: ``[a-z][a-z0-9_]{0,63}``, not one of the
        recorder's own (:data:`RECORDER_KEYS`); ``value``: JSON (no NaN), at most 1 MiB
        encoded; a copy is kept."""
        if not isinstance(key, str) or not _KEY.fullmatch(key):
            raise ValueError(f"environment key {key!r} must match [a-z][a-z0-9_]{{0,63}}")
        if key in RECORDER_KEYS:
            raise ValueError(f"environment key {key!r} is the recorder's own")
        encoded = json.dumps(value, ensure_ascii=False, allow_nan=False)
        if len(encoded.encode()) > MAX_SET_BYTES:
            raise ValueError(f"environment value {key!r} is larger than {MAX_SET_BYTES} bytes")
        self._record[key] = json.loads(encoded)
        if key not in self._record["runner_keys"]:
            self._record["runner_keys"].append(key)

    def after(self) -> None:
        """After the browser closed: the clock offset again, /etc/hosts again (a change is a
        warning), the end time."""
        if not self._proxy_checked:
            self._check_proxy(None)
        self._clock("after", run_bounded(self._clock_probes(), NTP_TIMEOUT + 1.0))
        self._guard("hosts_after", self._hosts_after)
        self._record["ended_at"] = utc_now()

    # -- the two forms -----------------------------------------------------------------------

    def record(self) -> dict[str, Any]:
        """The whole environment.json (a copy; JSON-serialisable)."""
        return copy.deepcopy(self._record)

    def manifest(self) -> dict[str, str]:
        """The manifest's flat ``capture.environment`` (the table in this module's doc)."""
        return flatten(self._record)

    # -- helpers -----------------------------------------------------------------------------

    def _guard(self, part: str, read: Callable[[], object]) -> None:
        """Run one local read; an unexpected failure is recorded under ``errors``."""
        try:
            read()
        except Exception as exc:  # the record notes it; the capture goes on
            self._record["errors"].append({"part": part, "error": _error_text(exc)})

    def _check_proxy(self, proxy: str | None) -> None:
        section = self._record["proxy_env"]
        section["recording_proxy"] = proxy or None
        found = proxy_warnings(section["variables"], proxy or None)
        section["clean"] = not found
        for text in found:
            self.warning(text)
        self._proxy_checked = True

    def _dns(self, results: Mapping[str, dict[str, Any]]) -> None:
        system = results["dns_system"]
        system.setdefault("status", "error")
        system.setdefault("a", [])
        system.setdefault("aaaa", [])
        server = self._config.second_resolver
        queries = []
        for name, rdtype in (("dns_a", "A"), ("dns_aaaa", "AAAA")):
            query = {"type": rdtype, "addresses": [], **results[name]}
            query.setdefault("status", "error")
            queries.append(query)
        second = dnsinfo.combine(server, queries[0], queries[1])
        agree = dnsinfo.agreement(system, second)
        self._record["dns"] = {
            "target": dnsinfo.target_name(self._host),
            "system": system,
            "second": second,
            "agree": agree,
        }
        if agree == "no":
            self.warning(
                f"DNS 解析不一致: the system resolver says {_addresses(system)}; "
                f"the second resolver {server} says {_addresses(second)}"
            )
        if system["status"] in ("unreachable", "error"):
            self.warning(f"系统解析失败: {self._host}: {system.get('error', '')}")
        if agree != "no" and second["status"] in ("unreachable", "error"):
            self.warning(f"第二解析器无应答: {server}: {second.get('error', '')}")

    def _clock_probes(self) -> dict[str, Callable[[], dict[str, Any]]]:
        return {
            f"ntp{i}": functools.partial(ntp_offset, server)
            for i, server in enumerate(self._servers)
        }

    def _clock(self, when: str, results: Mapping[str, dict[str, Any]]) -> None:
        measured = []
        for i, server in enumerate(self._servers):
            entry = {"server": clip(server, 255), **results[f"ntp{i}"]}
            entry.pop("status", None)
            measured.append(entry)
            if "error" in entry:
                self.warning(f"时钟未校验: NTP {server} ({when}): {entry['error']}")
            elif abs(entry["offset_ms"]) > CLOCK_WARN_MS:
                self.warning(
                    f"时钟偏差: {_offset_text(entry['offset_ms'])} ms against NTP {server} ({when})"
                )
        self._record["clock"][when] = measured

    def _hosts_after(self) -> None:
        after = dnsinfo.hosts_file(self._host)
        before = self._record["hosts"].get("sha256")
        now = after.get("sha256")
        changed = before is not None and now is not None and before != now
        self._record["hosts_after"] = {"sha256": now, "changed": changed}
        if "error" in after:
            self._record["hosts_after"]["error"] = after["error"]
        if changed:
            self.warning("hosts 文件变更: /etc/hosts changed during the capture")
