"""The capture's environment record against real servers on loopback, started here: an NTP
responder whose clock runs 2.5 s ahead, a DNS responder (dnspython's message API) that
answers the target with 192.0.2.7, and an HTTP echo server answering 203.0.113.9. The
system resolver says 127.0.0.1 for ``localhost``, so the two resolvers disagree: a
recorded warning. Servers that stay silent are recorded as such, within bounded time."""

from __future__ import annotations

import contextlib
import hashlib
import http.server
import socket
import struct
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import dns.message
import dns.rdatatype
import dns.rrset
import pytest

from evidence_api.capture import environment as env
from evidence_api.capture.environment import EnvironmentRecorder
from evidence_api.capture.outcome import AddressPolicy, CaptureConfig, CaptureLimits

NTP_EPOCH = 2_208_988_800  # seconds from 1900-01-01 (NTP) to 1970-01-01 (Unix)
SHIFT = 2.5  # the NTP responder's clock: ours + 2.5 s
PROXY = "http://127.0.0.1:40123"


# -- the servers ---------------------------------------------------------------------------


@dataclass
class UdpServer:
    """A UDP responder on a free loopback port; ``answer`` turns a datagram into the reply
    (None: stay silent). Counts what it received."""

    answer: Callable[[bytes], bytes | None]
    sock: socket.socket = field(init=False)
    received: int = 0
    stop: threading.Event = field(default_factory=threading.Event)

    address: str = ""  #: host:port, as a setting names a server

    def serve(self) -> None:
        while not self.stop.is_set():
            try:
                data, peer = self.sock.recvfrom(4096)
            except TimeoutError:
                continue
            except OSError:
                return
            self.received += 1
            reply = self.answer(data)
            if reply is not None:
                self.sock.sendto(reply, peer)


@contextlib.contextmanager
def udp_server(answer: Callable[[bytes], bytes | None]) -> Iterator[UdpServer]:
    server = UdpServer(answer)
    server.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    server.sock.bind(("127.0.0.1", 0))
    server.address = f"127.0.0.1:{server.sock.getsockname()[1]}"
    server.sock.settimeout(0.2)
    thread = threading.Thread(target=server.serve, name="test-udp", daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.stop.set()
        thread.join(10)
        server.sock.close()


def ntp_time(unix: float) -> bytes:
    seconds = int(unix)
    return struct.pack("!II", seconds + NTP_EPOCH, int((unix - seconds) * 2**32))


def ntp_answer(shift: float, *, echo_origin: bool = True) -> Callable[[bytes], bytes]:
    """A mode-4 (server) reply, stratum 2, whose clock is ``shift`` s ahead of ours; the
    originate time echoes the request's transmit time (unless ``echo_origin`` is false:
    a reply that answers some other request)."""

    def answer(request: bytes) -> bytes:
        received = time.time() + shift
        origin = request[40:48] if echo_origin else ntp_time(time.time() - 3600)
        header = struct.pack("!BBBb", (0 << 6) | (3 << 3) | 4, 2, 6, -20)
        header += struct.pack("!II", 0, 0) + b"LOCL"
        return (
            header
            + ntp_time(received - 60)
            + origin
            + ntp_time(received)
            + ntp_time(time.time() + shift)
        )

    return answer


def dns_answer(addresses: dict[str, str]) -> Callable[[bytes], bytes]:
    """Answers A questions for the names in ``addresses``; AAAA and unknown names get an
    empty NOERROR answer."""

    def answer(wire: bytes) -> bytes:
        query = dns.message.from_wire(wire)
        response = dns.message.make_response(query)
        question = query.question[0]
        name = question.name.to_text(omit_final_dot=True).lower()
        if question.rdtype == dns.rdatatype.A and name in addresses:
            response.answer.append(
                dns.rrset.from_text(question.name, 60, "IN", "A", addresses[name])
            )
        return response.to_wire()

    return answer


class EchoHandler(http.server.BaseHTTPRequestHandler):
    """``/ip``: 203.0.113.9; ``/long``: 200 bytes; ``/text``: not an IP; ``/stall``: headers,
    then nothing until the test ends; ``/drip``: an address, one byte a second."""

    release: threading.Event

    def do_GET(self) -> None:
        bodies = {"/ip": b"203.0.113.9\n", "/long": b"1" * 200, "/text": b"hello"}
        if self.path == "/drip":  # a whole address, one byte a second
            self.send_response(200)
            self.send_header("Content-Length", "12")
            self.end_headers()
            for byte in b"203.0.113.9\n":
                self.wfile.write(bytes([byte]))
                self.wfile.flush()
                if self.release.wait(1.0):
                    return
            return
        if self.path == "/stall":
            self.send_response(200)
            self.send_header("Content-Length", "12")
            self.end_headers()
            self.wfile.flush()
            self.release.wait(60)
            return
        body = bodies.get(self.path)
        self.send_response(200 if body is not None else 404)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body or b"")))
        self.end_headers()
        self.wfile.write(body or b"")

    def log_message(self, format: str, *args: Any) -> None:
        pass


@contextlib.contextmanager
def echo_server() -> Iterator[str]:
    release = threading.Event()
    handler = type("Handler", (EchoHandler,), {"release": release})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, name="test-echo", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        release.set()
        server.shutdown()
        server.server_close()
        thread.join(10)


def config(**overrides: Any) -> CaptureConfig:
    return CaptureConfig(
        chromium=Path("/usr/bin/chromium"), limits=CaptureLimits(), policy=AddressPolicy(),
        **overrides,
    )  # fmt: skip


def system_addresses(host: str) -> set[str]:
    return {str(info[4][0]) for info in socket.getaddrinfo(host, None, proto=socket.IPPROTO_TCP)}


def hosts_reference(host: str) -> tuple[str, list[str]]:
    """/etc/hosts' SHA-256 and the lines naming ``host``, read plainly (a reference)."""
    data = Path("/etc/hosts").read_bytes()
    lines = [
        line.strip()
        for line in data.decode().splitlines()
        if host in line.split("#", 1)[0].split()[1:]
    ]
    return hashlib.sha256(data).hexdigest(), lines


# -- the tests -----------------------------------------------------------------------------


def test_full_record_against_real_responders() -> None:
    with (
        udp_server(ntp_answer(SHIFT)) as ntp,
        udp_server(dns_answer({"localhost": "192.0.2.7"})) as resolver,
        echo_server() as echo,
    ):
        rec = EnvironmentRecorder(
            config(
                second_resolver=resolver.address,
                ntp_servers=(ntp.address,),
                echo_url=f"{echo}/ip",
            ),
            capture_id="cap_it_1",
            url="http://localhost:8443/item/1",
        )
        rec.before()
        rec.browser(
            chromium_version="141.0.7390.54",
            playwright_version="1.65.2",
            launch_args=["--headless", "--no-sandbox"],
            proxy=PROXY,
        )
        rec.step(1, "goto", "打开商品页", env.utc_now(), env.utc_now())
        rec.after()
        ntp_requests = ntp.received
    record = rec.record()
    flat = rec.manifest()

    # the clock: measured before and after, ~2.5 s behind the server
    for when in ("before", "after"):
        (measured,) = record["clock"][when]
        assert measured["server"] == ntp.address
        assert measured["offset_ms"] == pytest.approx(SHIFT * 1000, abs=300)
        assert measured["stratum"] == 2
        assert 0 <= measured["delay_ms"] < 2000
    assert ntp_requests == 2
    assert float(flat["clock_offset_before_ms"]) == pytest.approx(2500, abs=300)
    assert float(flat["clock_offset_after_ms"]) == pytest.approx(2500, abs=300)
    assert flat["clock_before"].startswith(f"{ntp.address} +2")
    assert any(w.startswith("时钟偏差: +2") for w in record["warnings"])  # beyond 1000 ms

    # DNS: the system resolver's 127.0.0.1 against the second resolver's 192.0.2.7
    dns = record["dns"]
    assert set(dns["system"]["a"]) | set(dns["system"]["aaaa"]) == system_addresses("localhost")
    assert "127.0.0.1" in dns["system"]["a"]
    assert dns["second"]["a"] == ["192.0.2.7"]
    assert dns["second"]["aaaa"] == []
    assert [q["rcode"] for q in dns["second"]["queries"]] == ["NOERROR", "NOERROR"]
    assert dns["agree"] == "no"
    (disagreement,) = [w for w in record["warnings"] if w.startswith("DNS 解析不一致")]
    assert "127.0.0.1" in disagreement
    assert "192.0.2.7" in disagreement
    assert flat["dns_agree"] == "no"
    assert flat["dns_second"] == "192.0.2.7"
    assert flat["dns_second_server"] == resolver.address

    # the egress IP as the echo URL saw it
    assert record["egress"]["ip"] == "203.0.113.9"
    assert flat["egress_ip"] == "203.0.113.9"

    # /etc/hosts: digest and the lines naming the target, as read plainly
    digest, lines = hosts_reference("localhost")
    assert record["hosts"]["sha256"] == digest
    assert record["hosts"]["target_lines"] == lines
    assert flat["hosts_sha256"] == digest
    assert flat["hosts_changed"] == "false"

    # the rest of the manifest
    assert flat["recorded_by"] == "server"
    assert flat["capture_id"] == "cap_it_1"
    assert flat["target_host"] == "localhost"
    assert flat["chromium"] == "141.0.7390.54"
    assert flat["browser_proxy"] == PROXY
    assert flat["steps"] == "1"
    assert flat["warnings"] == str(len(record["warnings"]))
    assert all(len(v) <= env.MANIFEST_MAX_VALUE for v in flat.values())
    assert record["started_at"] < record["ended_at"]


def test_resolvers_that_agree_record_no_warning() -> None:
    with udp_server(dns_answer({"localhost": "127.0.0.1"})) as resolver:
        rec = EnvironmentRecorder(
            config(second_resolver=resolver.address),
            capture_id="cap_it_2",
            url="https://localhost/",
        )
        rec.before()
    record = rec.record()
    assert record["dns"]["agree"] == "yes"
    assert record["dns"]["second"]["a"] == ["127.0.0.1"]
    assert not [w for w in record["warnings"] if w.startswith(("DNS", "第二解析器"))]


def test_silent_servers_are_recorded_not_raised_within_bounded_time() -> None:
    with (
        udp_server(lambda _: None) as silent_ntp,
        udp_server(lambda _: None) as silent_dns,
        echo_server() as echo,
    ):
        rec = EnvironmentRecorder(
            config(
                second_resolver=silent_dns.address,
                ntp_servers=(silent_ntp.address,),
                echo_url=f"{echo}/stall",
            ),
            capture_id="cap_it_3",
            url="http://localhost/",
        )
        started = time.monotonic()
        rec.before()
        before_seconds = time.monotonic() - started
        started = time.monotonic()
        rec.after()
        after_seconds = time.monotonic() - started
        asked = silent_dns.received
    # all of before's probes run at once: bounded by the deadline, not their sum
    assert before_seconds < env.PROBE_DEADLINE + 4
    assert after_seconds < env.NTP_TIMEOUT + 5
    record = rec.record()
    second = record["dns"]["second"]
    assert asked == 2  # A and AAAA, each asked once
    assert second["status"] == "unreachable"
    assert second["error"] == "A: no answer within 3 s; AAAA: no answer within 3 s"
    assert record["dns"]["agree"] == "unknown"
    assert record["clock"]["before"][0]["error"].startswith("NTPException: No response")
    assert "offset_ms" not in record["clock"]["after"][0]
    assert "ip" not in record["egress"]
    assert record["egress"]["error"]
    flat = rec.manifest()
    assert flat["dns_agree"] == "unknown"
    assert flat["dns_second"].startswith("unreachable: A: no answer within 3 s")
    assert flat["clock_offset_before_ms"] == ""
    assert flat["egress_ip"].startswith("error: ")
    labels = [w.split(":", 1)[0] for w in record["warnings"]]
    assert labels.count("第二解析器无应答") == 1
    assert labels.count("时钟未校验") == 2  # before and after
    assert labels.count("出口IP未测得") == 1


def test_a_reply_to_another_request_is_refused() -> None:
    with udp_server(ntp_answer(SHIFT, echo_origin=False)) as ntp:
        measured = env.ntp_offset(ntp.address)
    assert "offset_ms" not in measured
    assert measured["error"] == "the reply does not answer our request (originate time)"


@pytest.mark.parametrize(
    ("path", "error"),
    [
        ("/long", f"answer longer than {env.ECHO_MAX_BYTES} bytes"),
        ("/text", "not an IP address: 'hello'"),
        ("/missing", "HTTP 404"),
    ],
)
def test_echo_answers_that_are_not_an_ip(path: str, error: str) -> None:
    with echo_server() as echo:
        found = env.egress_ip(echo + path)
    assert "ip" not in found
    assert found["error"] == error


def test_echo_that_stalls_is_cut_at_its_deadline() -> None:
    with echo_server() as echo:
        started = time.monotonic()
        found = env.egress_ip(echo + "/stall")
        elapsed = time.monotonic() - started
    assert "ip" not in found
    assert "error" in found
    assert elapsed < env.ECHO_SECONDS + 5


def test_echo_that_drips_is_cut_at_its_deadline_not_read_as_a_prefix() -> None:
    with echo_server() as echo:
        started = time.monotonic()
        found = env.egress_ip(echo + "/drip")
        elapsed = time.monotonic() - started
    assert "ip" not in found
    assert found["error"] == f"no complete answer within {env.ECHO_SECONDS:g} s"
    assert elapsed < env.ECHO_SECONDS + 3
