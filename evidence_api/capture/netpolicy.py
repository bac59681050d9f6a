"""Which hosts a capture may reach: resolve once, check every answer, refuse with a reason.

The browser never resolves a name itself: the recording proxy (:mod:`.proxy`) resolves each
host once per capture with :func:`check_host` and connects only to the addresses checked
here, so a DNS answer that changes between the check and the connection (DNS rebinding)
cannot reach a refused address. The service calls :func:`check_url` before any browser
starts, so an obviously refused target fails at once with the same reason.

A host is refused when ANY of its answers is refused (a name answering one public and one
loopback address is refused), by :func:`evidence_api.takedowns.netcheck.address_problem`
(every IANA special-purpose block, IPv4 inside IPv6 forms included), unless the host name,
the address, or a CIDR block containing it is allow-listed by ``EVIDENCE_CAPTURE_ALLOW``
(parsed by :func:`policy_from_setting`).
"""

from __future__ import annotations

import ipaddress
import socket
from urllib.parse import urlsplit

from evidence_api.capture.outcome import AddressPolicy, CaptureError
from evidence_api.takedowns.netcheck import IPAddress, address_problem, parse_address

#: Longest host name (RFC 1035: 253 characters in text form).
MAX_HOST = 253
#: Most items in ``EVIDENCE_CAPTURE_ALLOW`` (the setting holds 4096 characters).
MAX_ALLOW_ITEMS = 256
#: Most addresses kept from one resolution (getaddrinfo answers once per socket type).
MAX_ANSWERS = 64

_HOW_TO_ALLOW = "allow-list it with EVIDENCE_CAPTURE_ALLOW"


def normalize_host(host: str) -> str:
    """``host`` as compared and resolved: lower case, no trailing dot, no IPv6 brackets."""
    text = host.strip().lower()
    if text.startswith("[") and text.endswith("]"):
        text = text[1:-1]
    return text.removesuffix(".")


def _valid_host_name(host: str) -> bool:
    if not host or len(host) > MAX_HOST:
        return False
    labels = host.split(".")
    if labels[-1].isdigit():
        return False  # "300.1.1.1", "127.1": not a name, and not an IP address either
    return all(
        0 < len(label) <= 63
        and all(c.isalnum() or c in "-_" for c in label)
        and not label.startswith("-")
        for label in labels
    )


def policy_from_setting(text: str) -> AddressPolicy:
    """``EVIDENCE_CAPTURE_ALLOW`` (comma-separated hosts, IPs and CIDR blocks) as a policy.

    Raises ValueError naming the first item that is none of the three, so a typo in the
    setting stops the service at start instead of silently allowing nothing.
    """
    hosts: set[str] = set()
    networks: list[str] = []
    items = [item.strip() for item in text.split(",")]
    items = [item for item in items if item]
    if len(items) > MAX_ALLOW_ITEMS:
        raise ValueError(
            f"EVIDENCE_CAPTURE_ALLOW has {len(items)} items, at most {MAX_ALLOW_ITEMS}"
        )
    for item in items:
        if "/" in item:
            try:
                network = ipaddress.ip_network(item, strict=False)
            except ValueError as error:
                raise ValueError(
                    f"EVIDENCE_CAPTURE_ALLOW item {item!r} is not a CIDR block: {error}"
                ) from None
            networks.append(str(network))
            continue
        name = normalize_host(item)
        address = parse_address(name)
        if address is not None:
            hosts.add(str(address))
        elif _valid_host_name(name):
            hosts.add(name)
        else:
            raise ValueError(
                f"EVIDENCE_CAPTURE_ALLOW item {item!r} is not a host name, an IP or a CIDR block"
            )
    return AddressPolicy(allow_hosts=frozenset(hosts), allow_networks=tuple(networks))


def _allowed(address: IPAddress, policy: AddressPolicy) -> bool:
    """Allow-listed as itself, or (an IPv4-mapped IPv6 address) as the IPv4 it carries."""
    forms: list[IPAddress] = [address]
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        forms.append(address.ipv4_mapped)
    for form in forms:
        if str(form) in policy.allow_hosts:
            return True
        for text in policy.allow_networks:
            network = ipaddress.ip_network(text, strict=False)
            if form.version == network.version and form in network:
                return True
    return False


def _resolve(host: str, port: int) -> list[IPAddress]:
    """The system resolver's answers for ``host`` (an IP literal answers itself)."""
    literal = parse_address(host)
    if literal is not None:
        return [literal]
    try:
        answers = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as error:
        raise CaptureError(f"refused: {host} does not resolve ({error})") from None
    found: list[IPAddress] = []
    for _family, _type, _proto, _name, sockaddr in answers[:MAX_ANSWERS]:
        address = parse_address(str(sockaddr[0]))
        if address is not None and address not in found:
            found.append(address)
    if not found:
        raise CaptureError(f"refused: {host} resolves to no address")
    return found


def check_host(host: str, port: int, policy: AddressPolicy) -> list[str]:
    """Resolve ``host`` once and return its addresses, all checked; or raise CaptureError.

    Every answer must pass: one refused answer refuses the host (the browser must not be
    able to reach it through a second address). Allow-listed host names skip the check of
    their answers; allow-listed IPs and CIDR blocks pass those addresses only.
    """
    name = normalize_host(host)
    if not (0 < port < 65536):
        raise CaptureError(f"refused: port {port} of {name or host!r} is not a TCP port")
    if parse_address(name) is None and not _valid_host_name(name):
        raise CaptureError(f"refused: {host[:MAX_HOST]!r} is not a host name or an IP address")
    addresses = _resolve(name, port)
    if name in policy.allow_hosts:
        return [str(address) for address in addresses]
    for address in addresses:
        problem = address_problem(address)
        if problem is not None and not _allowed(address, policy):
            shown = name if parse_address(name) == address else f"{name} resolves to {address}"
            why = problem.removeprefix(f"{address} ")
            raise CaptureError(f"refused: {shown}, which {why}; {_HOW_TO_ALLOW}")
    return [str(address) for address in addresses]


def check_url(url: str, policy: AddressPolicy) -> tuple[str, int, list[str]]:
    """(host, port, checked addresses) of an http(s) URL; CaptureError when refused."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as error:
        raise CaptureError(f"refused: {url[:200]!r} is not a valid URL ({error})") from None
    if parts.scheme not in ("http", "https"):
        raise CaptureError(f"refused: scheme {parts.scheme!r} (only http and https are captured)")
    host = parts.hostname or ""
    if not host:
        raise CaptureError(f"refused: {url[:200]!r} has no host")
    if port is None:
        port = 443 if parts.scheme == "https" else 80
    return normalize_host(host), port, check_host(host, port, policy)
