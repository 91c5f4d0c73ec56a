"""Refuse destinations on private, loopback, link-local and other non-public networks.

Two doors lead to an address, and both are guarded:

- a host name goes through ``GuardedResolver``, which the connector uses for its one
  resolution per connection and whose filtered answer is exactly what it connects to (no
  check-then-resolve-again gap, so DNS rebinding cannot slip a private address in);
- an IP-literal host never reaches a resolver in aiohttp, so ``check_ip_literal`` is called
  on the URL before any request.

``TELEPUSH_ALLOW_PRIVATE_NETWORKS=true`` (``allow_private_networks``) turns both off.
"""

from __future__ import annotations

import socket
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network, ip_address

from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.resolver import DefaultResolver

ALLOW_SETTING = "TELEPUSH_ALLOW_PRIVATE_NETWORKS=true"

IPAddress = IPv4Address | IPv6Address

# Stated explicitly rather than taken from ``ip.is_global``, whose lists changed between
# Python patch releases (and which counts IPv4 multicast as global).
_REFUSED_V4: tuple[tuple[IPv4Network, str], ...] = tuple(
    (IPv4Network(net), label)
    for net, label in (
        ("0.0.0.0/8", "unspecified ('this network')"),
        ("10.0.0.0/8", "private"),
        ("100.64.0.0/10", "shared (carrier-grade NAT)"),
        ("127.0.0.0/8", "loopback"),
        ("169.254.0.0/16", "link-local"),
        ("172.16.0.0/12", "private"),
        ("192.0.0.0/24", "reserved (IETF protocol assignments)"),
        ("192.0.2.0/24", "reserved (documentation)"),
        ("192.88.99.0/24", "reserved (6to4 relay)"),
        ("192.168.0.0/16", "private"),
        ("198.18.0.0/15", "reserved (benchmarking)"),
        ("198.51.100.0/24", "reserved (documentation)"),
        ("203.0.113.0/24", "reserved (documentation)"),
        ("224.0.0.0/4", "multicast"),
        ("240.0.0.0/4", "reserved"),  # includes 255.255.255.255, broadcast
    )
)

_REFUSED_V6: tuple[tuple[IPv6Network, str], ...] = tuple(
    (IPv6Network(net), label)
    for net, label in (
        ("::/128", "unspecified"),
        ("::1/128", "loopback"),
        ("::/96", "reserved (IPv4-compatible)"),
        ("64:ff9b:1::/48", "reserved (local-use NAT64)"),
        ("100::/64", "reserved (discard-only)"),
        ("2001::/23", "reserved (IETF protocol assignments)"),
        ("2001:db8::/32", "reserved (documentation)"),
        ("3fff::/20", "reserved (documentation)"),
        ("5f00::/16", "reserved (segment routing)"),
        ("fc00::/7", "private (unique local)"),
        ("fe80::/10", "link-local"),
        ("fec0::/10", "private (site-local)"),
        ("ff00::/8", "multicast"),
    )
)

_NAT64 = IPv6Network("64:ff9b::/96")
_PUBLIC_V6 = IPv6Network("2000::/3")  # global unicast; everything else is unassigned


class BlockedDestination(Exception):
    """The destination is on a refused network; the sender reports ``ErrorKind.BLOCKED``."""

    def __init__(self, host: str, address: str, reason: str, message: str | None = None) -> None:
        subject = address if host == address else f"{host} resolves to {address}, which"
        super().__init__(
            message
            or f"{subject} is on a refused network ({reason}); refused to protect internal "
            f"networks ({ALLOW_SETTING} allows it)"
        )
        self.host = host
        self.address = address
        self.reason = reason


def refusal_reason(ip: IPAddress | str) -> str | None:
    """Why ``ip`` is refused (``"loopback"``, ``"private"``, ...), or ``None`` if it is public."""
    if isinstance(ip, str):
        try:
            ip = ip_address(ip)
        except ValueError:
            return "unparseable"
    if isinstance(ip, IPv4Address):
        return next((label for net, label in _REFUSED_V4 if ip in net), None)
    embedded = ip.ipv4_mapped or ip.sixtofour
    if embedded is None and ip in _NAT64:
        embedded = IPv4Address(int(ip) & 0xFFFFFFFF)
    if embedded is not None:
        inner = refusal_reason(embedded)
        return f"{inner} (embedded IPv4 {embedded})" if inner else None
    bare = IPv6Address(int(ip))  # drop any %scope so network membership is plain
    label = next((label for net, label in _REFUSED_V6 if bare in net), None)
    if label is None and bare not in _PUBLIC_V6:
        label = "reserved (unassigned)"
    return label


def is_refused_ip(ip: IPAddress | str) -> bool:
    """True when ``ip`` is not a public unicast address (unparseable text is refused too)."""
    return refusal_reason(ip) is not None


def looks_like_ip_literal(host: str) -> bool:
    """The test aiohttp uses to skip its resolver: any ':' or only digits and dots."""
    return ":" in host or host.replace(".", "").isdigit()


def check_ip_literal(host: str, *, allow_private_networks: bool) -> None:
    """Raise ``BlockedDestination`` for a refused IP-literal ``host``; names pass through."""
    if not looks_like_ip_literal(host):
        return
    bare = host.strip("[]")
    try:
        ip = ip_address(bare)
    except ValueError:
        # Legacy forms such as "127.1" or "2130706433": aiohttp refuses them too.
        raise BlockedDestination(
            host, host, "non-canonical", f"{host} is not a canonical IP address"
        ) from None
    if allow_private_networks:
        return
    reason = refusal_reason(ip)
    if reason is not None:
        raise BlockedDestination(host, bare, reason)


class GuardedResolver(AbstractResolver):
    """aiohttp's resolver with refused addresses dropped from every answer.

    When nothing is left the lookup fails with ``BlockedDestination``. The connector
    connects only to the addresses returned here, so the check and the connection use the
    same resolution.
    """

    def __init__(
        self, inner: AbstractResolver | None = None, *, allow_private_networks: bool = False
    ) -> None:
        self._inner = inner
        self.allow_private_networks = allow_private_networks

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        if self._inner is None:
            self._inner = DefaultResolver()  # needs the running loop, hence created here
        answers = await self._inner.resolve(host, port, family)
        if self.allow_private_networks:
            return answers
        kept = [a for a in answers if not is_refused_ip(a["host"])]
        if not kept and answers:
            first = answers[0]["host"]
            raise BlockedDestination(host, first, refusal_reason(first) or "refused")
        return kept

    async def close(self) -> None:
        if self._inner is not None:
            await self._inner.close()
