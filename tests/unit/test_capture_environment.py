"""The capture's environment record, pure parts: the manifest's flattening and its bounds,
the proxy-variable rule, which /etc/hosts and resolv.conf lines are kept, the DNS
disagreement rule (answers given as data), the bounded probe runner, and the recorder's
own bounds. No server, no network I/O: the recorder runs here against an IP-literal
target with no second resolver, NTP server or echo URL configured."""

from __future__ import annotations

import hashlib
import importlib.metadata
import json
import math
import os
import re
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from evidence_api.capture import dnsinfo
from evidence_api.capture import environment as env
from evidence_api.capture.environment import EnvironmentRecorder
from evidence_api.capture.outcome import AddressPolicy, CaptureConfig, CaptureLimits

PROXY = "http://127.0.0.1:40123"

#: Every key the module docstring's table documents, in its order.
DOCUMENTED = re.findall(r"^``([a-z0-9_]+)`` — ", env.__doc__ or "", re.MULTILINE)


def config(**overrides: Any) -> CaptureConfig:
    return CaptureConfig(
        chromium=Path("/usr/bin/chromium"),
        limits=CaptureLimits(),
        policy=AddressPolicy(),
        **overrides,
    )


def recorder(**overrides: Any) -> EnvironmentRecorder:
    """A recorder whose probes touch no network: an IP target, nothing else configured."""
    return EnvironmentRecorder(config(**overrides), capture_id="cap_1", url="http://192.0.2.1/")


def answer(
    status: str, a: list[str] | None = None, aaaa: list[str] | None = None
) -> dict[str, Any]:
    return {"status": status, "a": a or [], "aaaa": aaaa or []}


# -- the manifest ----------------------------------------------------------------------------


def test_manifest_keys_are_exactly_the_documented_table() -> None:
    flat = env.flatten({})
    assert DOCUMENTED, "the module docstring lost its key table"
    assert list(flat) == DOCUMENTED
    assert len(flat) <= env.MANIFEST_MAX_KEYS


def test_manifest_value_kept_at_256_and_cut_above() -> None:
    assert env.manifest_value("x" * 256) == "x" * 256
    cut = env.manifest_value("x" * 257)
    assert len(cut) == 256
    assert cut.endswith("…")
    assert cut[:255] == "x" * 255


def test_manifest_value_types_and_control_characters() -> None:
    assert env.manifest_value(True) == "true"
    assert env.manifest_value(False) == "false"
    assert env.manifest_value(None) == ""
    assert env.manifest_value(3) == "3"
    assert env.manifest_value("a\nb\tc\x00d\x7fe") == "a b c d e"


def test_flatten_of_a_full_record_bounds_every_value() -> None:
    record = recorder().record()
    record["hosts"] = {"sha256": "ab" * 32, "target_lines": ["127.0.0.1 x"] * 64}
    record["warnings"] = ["警告 " + "w" * 900] * 100
    record["browser"] = {"chromium": "1", "playwright": "2", "launch_args": ["--a"] * 128}
    record["dns"] = {
        "system": answer("answered", [f"10.0.0.{i}" for i in range(32)]),
        "second": {**answer("unreachable"), "error": "e" * 1024, "server": "192.0.2.53"},
        "agree": "unknown",
    }
    flat = env.flatten(record)
    assert all(isinstance(v, str) and len(v) <= 256 for v in flat.values())
    assert flat["hosts_target_lines"].endswith("…")
    assert flat["dns_second"].startswith("unreachable: eee")
    assert flat["warnings"] == "100"


def test_flatten_summaries() -> None:
    record: dict[str, Any] = {
        "capture_id": "cap_9",
        "os": {"pretty_name": "", "platform": "Linux-6.1-x86_64", "kernel": {"system": "Linux",
               "release": "6.1.0", "version": "#1 SMP", "machine": "x86_64"}},
        "proxy_env": {"variables": {"HTTPS_PROXY": PROXY, "no_proxy": "intranet"}, "clean": False},
        "dns": {
            "system": answer("answered", ["127.0.0.1"], ["::1"]),
            "second": {**answer("answered", ["192.0.2.7"]), "server": "127.0.0.1:5353"},
            "agree": "no",
        },
        "egress": {"url": "http://echo.test/", "error": "HTTP 500"},
        "clock": {
            "servers": ["a:123", "b"],
            "before": [
                {"server": "a:123", "error": "NTPException: No response received from a."},
                {"server": "b", "offset_ms": 2500.26, "stratum": 2},
            ],
            "after": [{"server": "a:123", "offset_ms": -12.04, "stratum": 1}],
        },
        "steps": [{"index": 1}] * 3,
        "steps_dropped": 2,
        "limits_hit": [{"name": "max_page_height"}, {"name": "max_bytes"},
                       {"name": "max_page_height"}],
        "selfcheck": {"ok": True, "sha256": "9f86d081884c7d659a2feaa0c55ad015" * 2},
        "runner_keys": ["tls", "selfcheck"],
    }  # fmt: skip
    flat = env.flatten(record)
    assert flat["os"] == "Linux-6.1-x86_64"
    assert flat["kernel"] == "Linux 6.1.0 x86_64"
    assert flat["proxy_env"] == f"HTTPS_PROXY={PROXY}; no_proxy=intranet"
    assert flat["proxy_env_clean"] == "false"
    assert flat["dns_system"] == "127.0.0.1,::1"
    assert flat["dns_second"] == "192.0.2.7"
    assert flat["dns_second_server"] == "127.0.0.1:5353"
    assert flat["dns_agree"] == "no"
    assert flat["egress_ip"] == "error: HTTP 500"
    assert flat["clock_offset_before_ms"] == "+2500.3"  # the first server that answered
    assert flat["clock_before"] == (
        "a:123 error: NTPException: No response received from a.; b +2500.3 ms stratum 2"
    )
    assert flat["clock_offset_after_ms"] == "-12.0"
    assert flat["steps"] == "5"
    assert flat["limits_hit"] == "max_page_height,max_bytes"
    assert flat["selfcheck"] == "passed sha256=9f86d081884c7d65"
    assert flat["runner_keys"] == "selfcheck,tls"
    assert flat["recorded_by"] == "server"


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (None, ""),
        (True, "passed"),
        (False, "failed"),
        ("skipped", "skipped"),
        ({"ok": False, "sha256": "ab" * 32}, "failed sha256=" + "ab" * 8),
        ({"ok": True}, "passed"),
        ({"passed": True, "sha256": ""}, "passed"),
        ({"status": "odd"}, "unknown"),
        ([1, 2], "[1,2]"),
    ],
)
def test_selfcheck_text(value: Any, text: str) -> None:
    assert env.selfcheck_text(value) == text


# -- proxy variables -------------------------------------------------------------------------


def test_proxy_variables_any_case_only_the_four() -> None:
    found = env.proxy_variables(
        {"https_proxy": "x", "ALL_PROXY": "y", "No_Proxy": "z", "MY_HTTP_PROXY": "n", "PATH": "/"}
    )
    assert found == {"ALL_PROXY": "y", "No_Proxy": "z", "https_proxy": "x"}


@pytest.mark.parametrize(
    "value",
    ["", "   ", PROXY, "127.0.0.1:40123", "http://127.0.0.1:40123/", "HTTP://127.0.0.1:40123"],
)
def test_proxy_variable_empty_or_ours_is_clean(value: str) -> None:
    assert env.proxy_warnings({"HTTPS_PROXY": value, "http_proxy": value}, PROXY) == []


@pytest.mark.parametrize(
    "value",
    ["http://127.0.0.1:40124", "http://10.0.0.1:3128", "http://127.0.0.2:40123", "::bad::"],
)
def test_proxy_variable_elsewhere_is_a_warning(value: str) -> None:
    found = env.proxy_warnings({"https_proxy": value}, PROXY)
    assert len(found) == 1
    assert found[0].startswith("代理变量: https_proxy=")
    assert "does not point to the recording proxy" in found[0]


def test_no_proxy_set_is_a_warning_even_with_our_proxy() -> None:
    found = env.proxy_warnings({"NO_PROXY": "localhost,.corp"}, PROXY)
    assert len(found) == 1
    assert "bypass" in found[0]


def test_without_a_recording_proxy_any_set_variable_is_a_warning() -> None:
    assert len(env.proxy_warnings({"HTTP_PROXY": PROXY, "ALL_PROXY": ""}, None)) == 1


def test_recorder_judges_proxy_variables_against_the_browsers_proxy(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name in list(env.proxy_variables(dict(os.environ))):
        monkeypatch.delenv(name)
    monkeypatch.setenv("HTTPS_PROXY", "http://10.9.9.9:3128")
    monkeypatch.setenv("http_proxy", PROXY)
    rec = recorder()
    rec.before()
    rec.browser(chromium_version="141", playwright_version="1.65", launch_args=[], proxy=PROXY)
    record = rec.record()
    assert record["proxy_env"]["variables"] == {"HTTPS_PROXY": "http://10.9.9.9:3128",
                                                "http_proxy": PROXY}  # fmt: skip
    assert record["proxy_env"]["clean"] is False
    assert [w for w in record["warnings"] if w.startswith("代理变量")] == [
        "代理变量: HTTPS_PROXY='http://10.9.9.9:3128' does not point to the recording proxy "
        f"({PROXY})"
    ]
    assert rec.manifest()["proxy_env_clean"] == "false"


# -- /etc/hosts and resolv.conf --------------------------------------------------------------

HOSTS = """\
127.0.0.1   localhost
::1         localhost ip6-localhost
# 10.0.0.5 shop.example.cn   (commented out: not in effect)
10.0.0.6    cdn.example.cn shop.example.cn. # pinned by someone
10.0.0.7    notshop.example.cn
192.0.2.1   other
10.0.0.8    SHOP.Example.CN
10.0.0.9    xn--fsqu00a.cn
"""


def test_hosts_lines_naming_the_target() -> None:
    assert dnsinfo.hosts_lines_naming(HOSTS, "shop.example.cn") == [
        "10.0.0.6    cdn.example.cn shop.example.cn. # pinned by someone",
        "10.0.0.8    SHOP.Example.CN",
    ]
    assert dnsinfo.hosts_lines_naming(HOSTS, "localhost") == [
        "127.0.0.1   localhost",
        "::1         localhost ip6-localhost",
    ]
    assert dnsinfo.hosts_lines_naming(HOSTS, "example.cn") == []
    assert dnsinfo.hosts_lines_naming(HOSTS, "例子.cn") == ["10.0.0.9    xn--fsqu00a.cn"]


def test_hosts_lines_for_an_ip_target_are_its_address_lines() -> None:
    assert dnsinfo.hosts_lines_naming(HOSTS, "192.0.2.1") == ["192.0.2.1   other"]
    assert dnsinfo.hosts_lines_naming(HOSTS, "[::1]") == ["::1         localhost ip6-localhost"]


def test_hosts_lines_are_bounded() -> None:
    text = "10.0.0.1 t\n" * (dnsinfo.MAX_LINES + 5) + "10.0.0.2 " + "a" * 600 + " t\n"
    assert len(dnsinfo.hosts_lines_naming(text, "t")) == dnsinfo.MAX_LINES
    long = dnsinfo.hosts_lines_naming("10.0.0.2 " + "a" * 600 + " t\n", "t")[0]
    assert len(long) == dnsinfo.MAX_LINE
    assert long.endswith("…")


def test_hosts_file_digest_and_unreadable(tmp_path: Path) -> None:
    path = tmp_path / "hosts"
    path.write_bytes(HOSTS.encode())
    read = dnsinfo.hosts_file("shop.example.cn", path)
    # sha256sum of the same bytes (printf the HOSTS text above | sha256sum)
    assert read["sha256"] == hashlib.sha256(HOSTS.encode()).hexdigest()
    assert read["bytes"] == len(HOSTS.encode())
    assert read["cut"] is False
    assert len(read["target_lines"]) == 2
    missing = dnsinfo.hosts_file("x", tmp_path / "absent")
    assert "sha256" not in missing
    assert missing["error"].startswith("FileNotFoundError")


def test_resolver_lines() -> None:
    text = (
        "# generated\n"
        "nameserver   10.0.0.53\n"
        "nameserver 2001:db8::53 \n"
        "search corp.example  example\n"
        "options edns0 timeout:2\n"
        "; comment\n"
        "lookup file bind\n"
        "sortlist 10.0.0.0/8\n"
        "domain corp.example\n"
    )
    assert dnsinfo.resolver_lines(text) == [
        "nameserver 10.0.0.53",
        "nameserver 2001:db8::53",
        "search corp.example example",
        "options edns0 timeout:2",
        "sortlist 10.0.0.0/8",
        "domain corp.example",
    ]


def test_os_release_pretty_name() -> None:
    text = 'NAME="Debian GNU/Linux"\nPRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\nID=debian\n'
    assert env.os_release_name(text) == "Debian GNU/Linux 12 (bookworm)"
    assert env.os_release_name("PRETTY_NAME=Alpine\n") == "Alpine"
    assert env.os_release_name("ID=x\n") == ""


# -- the DNS disagreement rule ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("system", "second", "verdict"),
    [
        pytest.param(answer("answered", ["127.0.0.1"]), answer("answered", ["192.0.2.7"]), "no",
                     id="no-common-address"),
        pytest.param(answer("answered", ["1.1.1.1", "2.2.2.2"]), answer("answered", ["2.2.2.2"]),
                     "yes", id="one-common-address"),
        pytest.param(answer("answered", ["1.1.1.1"], ["2001:db8::1"]),
                     answer("answered", [], ["2001:db8::1"]), "yes", id="common-aaaa"),
        pytest.param(answer("empty"), answer("answered", ["192.0.2.7"]), "no",
                     id="system-says-none-second-has-one"),
        pytest.param(answer("answered", ["1.1.1.1"]), answer("empty"), "no",
                     id="second-says-none"),
        pytest.param(answer("empty"), answer("empty"), "yes", id="both-say-none"),
        pytest.param(answer("answered", ["1.1.1.1"]), answer("unreachable"), "unknown",
                     id="second-unreachable"),
        pytest.param(answer("error"), answer("answered", ["1.1.1.1"]), "unknown",
                     id="system-error"),
        pytest.param(answer("answered", ["1.1.1.1"]), answer("not-asked"), "not-asked",
                     id="no-second-resolver"),
        pytest.param(answer("not-a-name", ["192.0.2.1"]), answer("not-a-name"), "not-a-name",
                     id="ip-target"),
    ],
)  # fmt: skip
def test_agreement(system: dict[str, Any], second: dict[str, Any], verdict: str) -> None:
    assert dnsinfo.agreement(system, second) == verdict


def test_combine_second_resolver_queries() -> None:
    a = {"type": "A", "status": "answered", "addresses": ["192.0.2.7"], "rcode": "NOERROR"}
    aaaa_late = {"type": "AAAA", "status": "unreachable", "addresses": [], "error": "late"}
    aaaa_none = {"type": "AAAA", "status": "empty", "addresses": [], "rcode": "NOERROR"}
    partial = dnsinfo.combine("192.0.2.53", a, aaaa_late)
    assert partial["status"] == "answered"
    assert partial["a"] == ["192.0.2.7"]
    assert partial["error"] == "AAAA: late"
    assert dnsinfo.combine("s", a, aaaa_none)["status"] == "answered"
    a_none = {**aaaa_none, "type": "A"}
    assert dnsinfo.combine("s", a_none, aaaa_none)["status"] == "empty"
    a_err = {"type": "A", "status": "error", "addresses": [], "error": "REFUSED"}
    assert dnsinfo.combine("s", a_err, aaaa_late)["status"] == "unreachable"
    assert dnsinfo.combine("s", a_err, aaaa_none)["status"] == "error"


@pytest.mark.parametrize(
    ("text", "parsed"),
    [
        ("192.0.2.53", ("192.0.2.53", 53)),
        ("192.0.2.53:5353", ("192.0.2.53", 5353)),
        ("2001:db8::53", ("2001:db8::53", 53)),
        ("[2001:db8::53]:5353", ("2001:db8::53", 5353)),
        ("ntp.example", ("ntp.example", 53)),
        ("ntp.example:65535", ("ntp.example", 65535)),
    ],
)
def test_parse_server(text: str, parsed: tuple[str, int]) -> None:
    assert dnsinfo.parse_server(text, 53) == parsed


@pytest.mark.parametrize(
    "text", ["", ":53", "host:0", "host:65536", "host:x", "[::1", "[::1]x", "[]:53"]
)
def test_parse_server_refuses(text: str) -> None:
    with pytest.raises(ValueError):
        dnsinfo.parse_server(text, 53)


def test_second_lookup_refuses_a_name_as_resolver_without_asking() -> None:
    found = dnsinfo.second_lookup("shop.example.cn", "dns.example:53", "A")
    assert found["status"] == "error"
    assert "not an IP address" in found["error"]
    assert dnsinfo.second_lookup("shop.example.cn", None, "A")["status"] == "not-asked"
    assert dnsinfo.second_lookup("192.0.2.1", "192.0.2.53", "AAAA")["status"] == "not-a-name"


def test_target_name() -> None:
    assert dnsinfo.target_name("Shop.Example.CN.") == "shop.example.cn"
    assert dnsinfo.target_name("例子.cn") == "xn--fsqu00a.cn"


# -- the bounded runner ----------------------------------------------------------------------


def test_run_bounded_records_failures_and_does_not_wait_past_its_deadline() -> None:
    release = threading.Event()

    def stuck() -> dict[str, Any]:
        release.wait(60)
        return {"late": True}

    def broken() -> dict[str, Any]:
        raise OSError("network is unreachable")

    started = time.monotonic()
    try:
        found = env.run_bounded({"ok": lambda: {"value": 1}, "stuck": stuck, "broken": broken}, 0.5)
    finally:
        release.set()
    assert time.monotonic() - started < 10
    assert found["ok"] == {"value": 1}
    assert found["stuck"] == {"error": "no answer within 0.5 s", "status": "unreachable"}
    assert found["broken"] == {"error": "OSError: network is unreachable"}


# -- the recorder's own bounds ---------------------------------------------------------------


def test_recorder_without_probes_writes_the_host_facts() -> None:
    rec = recorder(host_id="  capture-host-7 ")
    rec.before()
    rec.browser(
        chromium_version="141.0.7390.54",
        playwright_version="1.65.2",
        launch_args=["--headless", "--load-extension=/tmp/x"],
        proxy=PROXY,
    )
    rec.step(1, "goto", "打开商品页", "2026-12-02T10:00:00.000Z", "2026-12-02T10:00:01.500Z")
    rec.step(2, "click", None, "2026-12-02T10:00:01.600Z", "2026-12-02T10:00:02.000Z", "ok")
    rec.limit("max_page_height", "cut at 20000 px")
    rec.after()
    record = rec.record()
    json.dumps(record, allow_nan=False)  # JSON-serialisable as it stands
    assert record["host"]["id"] == "capture-host-7"
    assert record["host"]["id_source"] == "config"
    assert record["dns"]["agree"] == "not-a-name"
    assert record["dns"]["system"]["a"] == ["192.0.2.1"]
    assert record["egress"] == {"url": None, "status": "not-asked"}
    assert record["clock"] == {"servers": [], "before": [], "after": []}
    assert record["steps"][1] == {
        "index": 2,
        "action": "click",
        "label": None,
        "started": "2026-12-02T10:00:01.600Z",
        "ended": "2026-12-02T10:00:02.000Z",
        "detail": "ok",
    }
    assert record["started_at"] <= record["browser_started_at"] <= record["ended_at"]
    assert record["hosts_after"]["changed"] is False
    assert any(w.startswith("浏览器扩展: --load-extension") for w in record["warnings"])
    flat = rec.manifest()
    assert flat["chromium"] == "141.0.7390.54"
    assert flat["launch_args"] == "--headless --load-extension=/tmp/x"
    assert flat["steps"] == "2"
    assert flat["limits_hit"] == "max_page_height"
    assert flat["dns_agree"] == "not-a-name"
    assert flat["egress_ip"] == ""
    assert flat["tool_version"] == importlib.metadata.version("evidence-anchor")


def test_steps_and_warnings_are_bounded() -> None:
    rec = recorder()
    for i in range(env.MAX_STEPS + 3):
        rec.step(i, "wait", "x" * 500, "t0", "t1", "d" * 5000)
    for _ in range(env.MAX_WARNINGS + 2):
        rec.warning("w" * 5000)
    record = rec.record()
    assert len(record["steps"]) == env.MAX_STEPS
    assert record["steps_dropped"] == 3
    assert len(record["steps"][0]["label"]) == 128
    assert len(record["steps"][0]["detail"]) == env.MAX_TEXT
    assert len(record["warnings"]) == env.MAX_WARNINGS
    assert record["warnings_dropped"] == 2
    assert all(len(w) == env.MAX_TEXT for w in record["warnings"])
    flat = rec.manifest()
    assert flat["steps"] == str(env.MAX_STEPS + 3)
    assert flat["warnings"] == str(env.MAX_WARNINGS + 2)


def test_set_stores_a_copy_at_the_top_level() -> None:
    rec = recorder()
    tls = {"origins": [{"host": "shop.example.cn", "port": 443}]}
    rec.set("tls", tls)
    rec.set("selfcheck", {"ok": True, "sha256": "cd" * 32})
    rec.set("tls", {"origins": []})  # set again: replaced, listed once
    tls["origins"].clear()
    record = rec.record()
    assert record["tls"] == {"origins": []}
    assert record["runner_keys"] == ["tls", "selfcheck"]
    assert rec.manifest()["selfcheck"] == "passed sha256=" + "cd" * 8
    record["tls"]["origins"].append("mutated")
    assert rec.record()["tls"] == {"origins": []}  # record() hands out a copy


@pytest.mark.parametrize("key", ["Selfcheck", "1st", "", "a-b", "x" * 65, "dns", "warnings"])
def test_set_refuses_bad_or_reserved_keys(key: str) -> None:
    with pytest.raises(ValueError):
        recorder().set(key, 1)


def test_set_refuses_values_that_are_not_json_or_too_large() -> None:
    rec = recorder()
    with pytest.raises(ValueError):
        rec.set("ratio", math.nan)
    with pytest.raises(TypeError):
        rec.set("thing", object())
    limit = env.MAX_SET_BYTES - 2  # the two quotes of a JSON string
    rec.set("big", "x" * limit)
    with pytest.raises(ValueError):
        rec.set("bigger", "x" * (limit + 1))
    assert "bigger" not in rec.record()["runner_keys"]


def test_limits_are_bounded() -> None:
    rec = recorder()
    for i in range(env.MAX_LIMITS + 5):
        rec.limit(f"limit_{i}", "d")
    assert len(rec.record()["limits_hit"]) == env.MAX_LIMITS


def test_recorder_keys_cover_the_record() -> None:
    assert set(recorder().record()) == env.RECORDER_KEYS
