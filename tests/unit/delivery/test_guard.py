"""Guard: private, loopback, link-local and other non-public destinations are refused."""

from __future__ import annotations

import socket

import pytest
from aiohttp.abc import AbstractResolver, ResolveResult

from telepush.delivery import BlockedDestination, GuardedResolver, Sender, is_refused_ip
from telepush.delivery.guard import check_ip_literal
from telepush.domain.delivery import ErrorKind
from tests.support.certs import CertFiles
from tests.unit.delivery.helpers import HttpsServer, push

REFUSED = [
    "0.0.0.0",
    "0.1.2.3",
    "10.0.0.1",
    "10.255.255.255",
    "100.64.0.1",  # CGNAT
    "100.127.255.254",
    "127.0.0.1",
    "127.8.9.10",
    "169.254.169.254",  # cloud metadata
    "172.16.0.1",
    "172.31.255.255",
    "192.0.0.8",
    "192.0.2.10",
    "192.88.99.1",
    "192.168.1.1",
    "198.18.0.1",
    "198.51.100.7",
    "203.0.113.9",
    "224.0.0.1",  # multicast
    "239.255.255.250",
    "240.0.0.1",
    "255.255.255.255",
    "::",
    "::1",
    "::127.0.0.1",  # IPv4-compatible
    "::ffff:127.0.0.1",  # IPv4-mapped loopback
    "::ffff:10.1.2.3",
    "::ffff:169.254.169.254",
    "64:ff9b::a00:1",  # NAT64 of 10.0.0.1
    "64:ff9b:1::1",
    "100::1",
    "2001:db8::1",
    "2002:0a00:0001::1",  # 6to4 of 10.0.0.1
    "2002:7f00:0001::1",  # 6to4 of 127.0.0.1
    "fc00::1",
    "fd12:3456::1",
    "fe80::1",
    "fe80::1%1",
    "fec0::1",
    "ff02::1",
    "4000::1",  # unassigned
    "not-an-ip",
]

ALLOWED = [
    "1.1.1.1",
    "8.8.8.8",
    "93.184.216.34",
    "100.63.255.255",  # just below CGNAT
    "100.128.0.0",  # just above CGNAT
    "172.15.255.255",
    "172.32.0.0",
    "192.167.255.255",
    "223.255.255.255",
    "2606:4700:4700::1111",
    "2a00:1450:4001:80b::200e",
    "::ffff:8.8.8.8",
    "64:ff9b::808:808",  # NAT64 of 8.8.8.8
    "2002:0808:0808::1",  # 6to4 of 8.8.8.8
]


@pytest.mark.parametrize("ip", REFUSED)
def test_refused_ranges(ip: str) -> None:
    """Non-public addresses (v4, v6 and v4 embedded in v6) are refused."""
    assert is_refused_ip(ip) is True


@pytest.mark.parametrize("ip", ALLOWED)
def test_public_addresses_allowed(ip: str) -> None:
    """Public unicast addresses, including mapped, NAT64 and 6to4 forms of them, pass."""
    assert is_refused_ip(ip) is False


@pytest.mark.parametrize("host", ["127.0.0.1", "::1", "[::1]", "::ffff:192.168.0.1", "10.0.0.7"])
def test_refused_ip_literal_raises(host: str) -> None:
    """An IP-literal host on a refused network raises BlockedDestination naming the setting."""
    with pytest.raises(BlockedDestination, match="TELEPUSH_ALLOW_PRIVATE_NETWORKS=true"):
        check_ip_literal(host, allow_private_networks=False)


@pytest.mark.parametrize("host", ["127.1", "2130706433", "0177.0.0.1"])
def test_non_canonical_ip_literal_is_refused_even_when_allowed(host: str) -> None:
    """Legacy numeric forms that hide an address are refused whatever the setting."""
    with pytest.raises(BlockedDestination, match="canonical"):
        check_ip_literal(host, allow_private_networks=True)


def test_ip_literal_allowed_when_private_networks_allowed() -> None:
    """With allow_private_networks a loopback literal passes; a public one always does."""
    check_ip_literal("127.0.0.1", allow_private_networks=True)
    check_ip_literal("8.8.8.8", allow_private_networks=False)
    check_ip_literal("customer.example.com", allow_private_networks=False)
    assert not is_refused_ip("8.8.8.8")


class FixedResolver(AbstractResolver):
    """Answers every lookup with the given addresses; counts lookups."""

    def __init__(self, *addresses: str) -> None:
        self.addresses = addresses
        self.lookups = 0

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        self.lookups += 1
        return [
            ResolveResult(
                hostname=host,
                host=a,
                port=port,
                family=socket.AF_INET6 if ":" in a else socket.AF_INET,
                proto=0,
                flags=0,
            )
            for a in self.addresses
        ]

    async def close(self) -> None:
        pass


async def test_resolver_drops_refused_addresses() -> None:
    """A name resolving to public and private addresses keeps only the public ones."""
    inner = FixedResolver("10.0.0.5", "93.184.216.34", "::1", "2606:4700::1")
    resolver = GuardedResolver(inner)
    answers = await resolver.resolve("mixed.example", 443)
    assert [a["host"] for a in answers] == ["93.184.216.34", "2606:4700::1"]
    assert inner.lookups == 1


async def test_resolver_refuses_all_private_answer() -> None:
    """A name resolving only to refused addresses raises BlockedDestination with the address."""
    resolver = GuardedResolver(FixedResolver("169.254.169.254"))
    with pytest.raises(BlockedDestination) as caught:
        await resolver.resolve("metadata.example", 443)
    message = str(caught.value)
    assert "metadata.example" in message and "169.254.169.254" in message
    assert "link-local" in message and "TELEPUSH_ALLOW_PRIVATE_NETWORKS=true" in message


async def test_resolver_passes_everything_when_allowed() -> None:
    """With allow_private_networks the resolver's answer is returned unchanged."""
    resolver = GuardedResolver(FixedResolver("127.0.0.1"), allow_private_networks=True)
    answers = await resolver.resolve("localhost", 443)
    assert [a["host"] for a in answers] == ["127.0.0.1"]


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost", "[::ffff:127.0.0.1]"])
async def test_sender_blocks_loopback_by_default(
    certs: CertFiles, server: HttpsServer, host: str
) -> None:
    """Without allow_private_networks, loopback (literal or by name) is BLOCKED, never reached."""
    async with Sender(ca_bundle=certs.ca_pem) as sender:
        result = await sender.send(push(server.url(host=host)))
    assert not result.ok
    assert result.error is ErrorKind.BLOCKED
    assert result.detail is not None
    assert "TELEPUSH_ALLOW_PRIVATE_NETWORKS=true" in result.detail
    assert "127.0.0.1" in result.detail or "::1" in result.detail
    assert server.seen == []


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost"])
async def test_sender_reaches_loopback_when_allowed(
    certs: CertFiles, server: HttpsServer, host: str
) -> None:
    """With allow_private_networks the same loopback destinations are delivered to."""
    async with Sender(ca_bundle=certs.ca_pem, allow_private_networks=True) as sender:
        result = await sender.send(push(server.url(host=host)))
    assert result.ok
    assert len(server.requests("/push")) == 1
