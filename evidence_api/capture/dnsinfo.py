"""How this host resolves the capture's target (取证环境: 域名解析), for the environment record.

A court asks whether the page came from the site it names or from somewhere a tampered
machine sent the browser. Three things answer that, and all are read here, never typed:

* ``/etc/hosts``: its SHA-256 and every effective line naming the target (a line there
  overrides DNS for every program on the host);
* ``/etc/resolv.conf``: which resolvers the host asks (``nameserver``/``search``/
  ``domain``/``options``/``sortlist`` lines);
* the target's addresses from the system resolver (``getaddrinfo``: hosts file, then the
  configured resolvers) and from an independent second resolver asked directly over UDP
  (dnspython, A and AAAA). :func:`agreement` compares them: no common address is a
  disagreement, which the recorder turns into a warning.

Each function reads or asks once and returns plain JSON-ready data; failures are returned
as data (``status``/``error``), never raised, so a broken resolver is recorded, not fatal.
The caller (:mod:`evidence_api.capture.environment`) bounds the wall-clock time of each.
"""

from __future__ import annotations

import hashlib
import ipaddress
import socket
from pathlib import Path
from typing import Any, Literal

import dns.exception
import dns.message
import dns.query
import dns.rcode
import dns.rdatatype

HOSTS = Path("/etc/hosts")
RESOLV_CONF = Path("/etc/resolv.conf")

#: Most bytes read of /etc/hosts or /etc/resolv.conf (larger: digest of the first part,
#: and the record says it was cut).
MAX_FILE_BYTES = 1024 * 1024
#: Most lines kept (hosts lines naming the target; resolver lines), and their length.
MAX_LINES = 64
MAX_LINE = 512
#: Timeout of one query to the second resolver (seconds).
DNS_TIMEOUT = 3.0
#: Most addresses kept per answer.
MAX_ADDRESSES = 32

#: The keywords of resolv.conf(5) that say which resolver is asked and how.
RESOLVER_KEYWORDS = ("nameserver", "search", "domain", "options", "sortlist")

#: ``status`` of a lookup: ``answered`` (addresses), ``empty`` (the resolver said the name
#: has none: NXDOMAIN or no records), ``error`` (it answered with a failure, or the query
#: could not be made), ``unreachable`` (no answer in time), ``not-asked`` (no second
#: resolver configured), ``not-a-name`` (the target is an IP address: nothing resolved).
Status = Literal["answered", "empty", "error", "unreachable", "not-asked", "not-a-name"]

#: :func:`agreement`'s verdict: ``yes`` (a common address, or both say none), ``no`` (no
#: common address: a warning), ``unknown`` (a side failed), ``not-asked`` (no second
#: resolver), ``not-a-name`` (IP target).
Agreement = Literal["yes", "no", "unknown", "not-asked", "not-a-name"]


def clip(text: str, limit: int = MAX_LINE) -> str:
    """``text`` cut to ``limit`` characters (the last one ``…`` when cut)."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


def read_bounded(path: Path, limit: int = MAX_FILE_BYTES) -> tuple[bytes, bool]:
    """The first ``limit`` bytes of ``path`` and whether the file was longer (``OSError``
    propagates: the caller records it)."""
    with path.open("rb") as file:
        data = file.read(limit + 1)
    return data[:limit], len(data) > limit


def target_name(host: str) -> str:
    """The host as resolvers see it: lower case, no trailing dot, IDNA (``例子.cn`` →
    ``xn--fsqu00a.cn``); unchanged when it cannot be encoded."""
    name = host.strip().rstrip(".").lower()
    try:
        return name.encode("idna").decode("ascii")
    except UnicodeError:
        return name


def ip_literal(host: str) -> str | None:
    """The IP address ``host`` is (``[::1]`` or ``::1`` → ``::1``), or None for a name."""
    try:
        return str(ipaddress.ip_address(host.strip("[]")))
    except ValueError:
        return None


def hosts_lines_naming(text: str, host: str) -> list[str]:
    """Every line of a hosts(5) file that maps ``host``: the host among a line's names, or,
    for an IP target, the line's address. Comments (``#`` to the end of a line) are not
    read as names; the kept line is the whole line as written (stripped, clipped)."""
    wanted = target_name(host)
    address = ip_literal(host)
    found: list[str] = []
    for raw in text.splitlines():
        fields = raw.split("#", 1)[0].split()
        if len(fields) < 2:
            continue
        names = {target_name(name) for name in fields[1:]}
        line_address = ip_literal(fields[0])
        if wanted in names or (address is not None and line_address == address):
            found.append(clip(raw.strip()))
            if len(found) == MAX_LINES:
                break
    return found


def resolver_lines(text: str) -> list[str]:
    """The lines of a resolv.conf(5) that choose resolvers (:data:`RESOLVER_KEYWORDS`),
    whitespace-normalised, in file order."""
    kept: list[str] = []
    for raw in text.splitlines():
        fields = raw.split()
        if fields and fields[0] in RESOLVER_KEYWORDS:
            kept.append(clip(" ".join(fields)))
            if len(kept) == MAX_LINES:
                break
    return kept


def hosts_file(host: str, path: Path = HOSTS) -> dict[str, Any]:
    """``/etc/hosts``: its SHA-256 (of the bytes read), size, whether it was cut at
    :data:`MAX_FILE_BYTES`, and the lines naming ``host``; ``error`` when unreadable."""
    try:
        data, cut = read_bounded(path)
    except OSError as exc:
        return {"path": str(path), "error": clip(f"{type(exc).__name__}: {exc.strerror or exc}")}
    text = data.decode("utf-8", errors="replace")
    return {
        "path": str(path),
        "sha256": hashlib.sha256(data).hexdigest(),
        "bytes": len(data),
        "cut": cut,
        "target_lines": hosts_lines_naming(text, host),
    }


def resolver_config(path: Path = RESOLV_CONF) -> dict[str, Any]:
    """``/etc/resolv.conf``'s resolver lines and SHA-256; ``error`` when unreadable."""
    try:
        data, cut = read_bounded(path)
    except OSError as exc:
        return {"path": str(path), "error": clip(f"{type(exc).__name__}: {exc.strerror or exc}")}
    return {
        "path": str(path),
        "sha256": hashlib.sha256(data).hexdigest(),
        "cut": cut,
        "lines": resolver_lines(data.decode("utf-8", errors="replace")),
    }


def _answer(status: Status, a: list[str], aaaa: list[str], **extra: Any) -> dict[str, Any]:
    return {"status": status, "a": a[:MAX_ADDRESSES], "aaaa": aaaa[:MAX_ADDRESSES], **extra}


def system_lookup(host: str) -> dict[str, Any]:
    """The target's addresses as every program on this host gets them (``getaddrinfo``:
    hosts file, then the resolvers of resolv.conf). No timeout of its own: the caller
    bounds it."""
    literal = ip_literal(host)
    if literal is not None:
        v4 = [literal] if ipaddress.ip_address(literal).version == 4 else []
        return _answer("not-a-name", v4, [] if v4 else [literal])
    try:
        infos = socket.getaddrinfo(target_name(host), None, proto=socket.IPPROTO_TCP)
    except socket.gaierror as exc:
        if exc.errno in (socket.EAI_NONAME, getattr(socket, "EAI_NODATA", socket.EAI_NONAME)):
            return _answer("empty", [], [], error=clip(exc.strerror or str(exc)))
        return _answer("error", [], [], error=clip(exc.strerror or str(exc)))
    except (OSError, UnicodeError) as exc:
        return _answer("error", [], [], error=clip(f"{type(exc).__name__}: {exc}"))
    a = sorted({str(info[4][0]) for info in infos if info[0] == socket.AF_INET})
    aaaa = sorted({str(info[4][0]) for info in infos if info[0] == socket.AF_INET6})
    return _answer("answered" if a or aaaa else "empty", a, aaaa)


def parse_server(text: str, default_port: int) -> tuple[str, int]:
    """``host``, ``host:port``, ``[v6]:port`` or a bare IPv6 address → (host, port);
    ``ValueError`` names what is wrong."""
    text = text.strip()
    if not text:
        raise ValueError("empty server")
    if text.startswith("["):
        host, sep, rest = text[1:].partition("]")
        if not sep or (rest and not rest.startswith(":")):
            raise ValueError(f"bad server {text!r}: expected [address]:port")
        port_text = rest[1:]
    elif text.count(":") == 1:
        host, port_text = text.split(":")
    else:  # a name, an IPv4 address, or an IPv6 address without a port
        host, port_text = text, ""
    if not host:
        raise ValueError(f"bad server {text!r}: no host")
    if not port_text:
        return host, default_port
    if not port_text.isdigit() or not 1 <= int(port_text) <= 65535:
        raise ValueError(f"bad server {text!r}: port must be 1-65535")
    return host, int(port_text)


def _query(name: str, rdtype: str, where: str, port: int) -> dict[str, Any]:
    """One UDP question to the second resolver: status, addresses, and the response's
    ``rcode`` (when one came) or an ``error``."""
    query = dns.message.make_query(name, rdtype)
    try:
        response = dns.query.udp(query, where, timeout=DNS_TIMEOUT, port=port)
    except dns.exception.Timeout:
        return {
            "status": "unreachable",
            "addresses": [],
            "error": f"no answer within {DNS_TIMEOUT:g} s",
        }
    except (OSError, dns.exception.DNSException, ValueError) as exc:
        return {"status": "error", "addresses": [], "error": clip(f"{type(exc).__name__}: {exc}")}
    rcode = dns.rcode.to_text(response.rcode())
    if response.rcode() == dns.rcode.NXDOMAIN:
        return {"status": "empty", "addresses": [], "rcode": rcode}
    if response.rcode() != dns.rcode.NOERROR:
        return {"status": "error", "addresses": [], "rcode": rcode, "error": f"answered {rcode}"}
    wanted = dns.rdatatype.from_text(rdtype)
    addresses = sorted(
        {rdata.to_text() for rrset in response.answer if rrset.rdtype == wanted for rdata in rrset}
    )
    return {
        "status": "answered" if addresses else "empty",
        "addresses": addresses[:MAX_ADDRESSES],
        "rcode": rcode,
    }


def second_lookup(host: str, server: str | None, rdtype: Literal["A", "AAAA"]) -> dict[str, Any]:
    """One record type of the target from the second resolver (``server``: an IP, with an
    optional port), asked directly over UDP with a :data:`DNS_TIMEOUT` timeout."""
    if server is None or not server.strip():
        return {"type": rdtype, "status": "not-asked", "addresses": []}
    if ip_literal(host) is not None:
        return {"type": rdtype, "status": "not-a-name", "addresses": []}
    try:
        where, port = parse_server(server, 53)
        if ip_literal(where) is None:
            raise ValueError(f"second resolver {where!r} is not an IP address")
    except ValueError as exc:
        return {"type": rdtype, "status": "error", "addresses": [], "error": clip(str(exc))}
    return {"type": rdtype, **_query(target_name(host), rdtype, where, port)}


def combine(server: str | None, a: dict[str, Any], aaaa: dict[str, Any]) -> dict[str, Any]:
    """The second resolver's A and AAAA lookups as one answer. Addresses from either make
    it ``answered``; with none, the worse status wins (unreachable, then error)."""
    statuses = {a["status"], aaaa["status"]}
    status: Status
    if a["addresses"] or aaaa["addresses"]:
        status = "answered"
    else:
        status = next(
            (s for s in ("not-asked", "not-a-name", "unreachable", "error") if s in statuses),
            "empty",
        )
    extra: dict[str, Any] = {"server": server, "queries": [a, aaaa]}
    errors = [f"{q['type']}: {q['error']}" for q in (a, aaaa) if "error" in q]
    if errors:
        extra["error"] = clip("; ".join(errors))
    return _answer(status, a["addresses"], aaaa["addresses"], **extra)


def agreement(system: dict[str, Any], second: dict[str, Any]) -> Agreement:
    """Whether the two resolvers agree on the target: ``no`` only when both answered
    (addresses, or a definite "none") and share no address; a failed side is ``unknown``."""
    statuses = {system["status"], second["status"]}
    if "not-a-name" in statuses:
        return "not-a-name"
    if "not-asked" in statuses:
        return "not-asked"
    if statuses & {"error", "unreachable"}:
        return "unknown"
    ours = set(system["a"]) | set(system["aaaa"])
    theirs = set(second["a"]) | set(second["aaaa"])
    if not ours and not theirs:
        return "yes"
    return "yes" if ours & theirs else "no"
