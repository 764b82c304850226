"""Named external endpoints (internet, cloud metadata, API server) and public address space.

"Egress to the internet is open" cannot mean "some public address is allowed": a
policy that allows one partner's /32 is a deliberate, narrow opening. It means that
the allowed address blocks, minus their ``except`` lists, cover a large share of public
address space: at least a /8's worth (2^24 addresses) of public IPv4, or a /16's worth
of global IPv6 unicast (2000::/3). ``0.0.0.0/0`` minus the private ranges, the usual
"allow internet" policy, is far above that.
"""

from __future__ import annotations

import ipaddress
from functools import lru_cache
from collections.abc import Iterable

from kubeharden.analysis.policies import IPBlock, IPNetwork

INTERNET = (ipaddress.ip_network("0.0.0.0/0"), ipaddress.ip_network("::/0"))
METADATA = (ipaddress.ip_network("169.254.169.254/32"), ipaddress.ip_network("fd00:ec2::254/128"))

#: Address space that is not the public internet (RFC 6890 special-purpose ranges).
_NON_PUBLIC_V4 = [ipaddress.ip_network(n) for n in (
    "0.0.0.0/8", "10.0.0.0/8", "100.64.0.0/10", "127.0.0.0/8", "169.254.0.0/16", "172.16.0.0/12",
    "192.0.0.0/24", "192.0.2.0/24", "192.168.0.0/16", "198.18.0.0/15", "198.51.100.0/24",
    "203.0.113.0/24", "224.0.0.0/3")]
#: Everything outside global unicast 2000::/3.
_NON_GLOBAL_V6 = [ipaddress.ip_network(n) for n in ("::/3", "4000::/2", "8000::/1")]
INTERNET_MIN_V4 = 2 ** 24
INTERNET_MIN_V6 = 2 ** 112


def endpoints(api_server: Iterable[str] = ()) -> dict[str, tuple[IPNetwork, ...]]:
    """Named endpoints for queries; ``api_server`` are the API server's addresses or CIDRs."""
    out: dict[str, tuple[IPNetwork, ...]] = {"internet": INTERNET, "metadata": METADATA}
    api = tuple(ipaddress.ip_network(a, strict=False) for a in api_server)
    if api:
        out["apiserver"] = api
    return out


def _minus(nets: list[IPNetwork], holes: Iterable[IPNetwork]) -> list[IPNetwork]:
    for hole in holes:
        out: list[IPNetwork] = []
        for net in nets:
            if net.version != hole.version or not net.overlaps(hole):
                out.append(net)
            elif hole.supernet_of(net):  # type: ignore[arg-type]
                continue
            else:
                out.extend(net.address_exclude(hole))  # type: ignore[arg-type]
        nets = out
    return nets


def block_networks(block: IPBlock) -> list[IPNetwork]:
    """The addresses of an ipBlock as disjoint networks (cidr minus except)."""
    return _minus([block.cidr], block.excepts)


@lru_cache(maxsize=4096)
def _public_part(block: IPBlock) -> tuple[IPNetwork, ...]:
    """The public addresses of one block (cached: the same blocks recur in every namespace)."""
    out: list[IPNetwork] = []
    for net in block_networks(block):
        out.extend(_minus([net], _NON_PUBLIC_V4 if net.version == 4 else _NON_GLOBAL_V6))
    return tuple(out)


def public_coverage(blocks: Iterable[IPBlock]) -> tuple[int, int]:
    """How many public IPv4 and global IPv6 addresses the blocks together allow."""
    v4: list[ipaddress.IPv4Network] = []
    v6: list[ipaddress.IPv6Network] = []
    for block in blocks:
        for net in _public_part(block):
            if isinstance(net, ipaddress.IPv4Network):
                v4.append(net)
            else:
                v6.append(net)
    count4 = sum(n.num_addresses for n in ipaddress.collapse_addresses(v4))
    count6 = sum(n.num_addresses for n in ipaddress.collapse_addresses(v6))
    return count4, count6


def internet_open(blocks: Iterable[IPBlock]) -> bool:
    count4, count6 = public_coverage(blocks)
    return count4 >= INTERNET_MIN_V4 or count6 >= INTERNET_MIN_V6


@lru_cache(maxsize=4096)
def block_internet_open(block: IPBlock) -> bool:
    """internet_open for one block, cached: every workload of a namespace shares its blocks."""
    return internet_open((block,))
