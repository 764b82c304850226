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
from collections.abc import Iterable
from functools import lru_cache

from kubeharden.analysis.policies import IPBlock, Peer
from kubeharden.model.network import IPNetwork

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


#: Where cluster addresses live: nodes and pods are not addressed in manifests, so every private
#: range (RFC 1918, CGNAT, IPv6 unique local) is taken to hold node and pod addresses.
PRIVATE_NETWORKS = tuple(ipaddress.ip_network(n) for n in (
    "10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10", "fc00::/7"))
NODE_NETWORKS = PRIVATE_NETWORKS


def may_hold_pods(network: IPNetwork) -> bool:
    """Whether pod addresses may lie in ``network`` (it covers everything or a private range)."""
    return network.prefixlen == 0 or any(network.version == p.version and network.overlaps(p)
                                         for p in PRIVATE_NETWORKS)

def endpoints(api_server: Iterable[str] = (), nodes: tuple[IPNetwork, ...] = NODE_NETWORKS
              ) -> dict[str, tuple[IPNetwork, ...]]:
    """Named endpoints for queries; ``api_server`` are the API server's addresses or CIDRs,
    ``nodes`` where node addresses are (the ``node_networks`` setting)."""
    out: dict[str, tuple[IPNetwork, ...]] = {"internet": INTERNET, "metadata": METADATA, "nodes": nodes}
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


def address_peer(network: IPNetwork, action: str, where: str, notes: list[str]) -> Peer:
    """A CIDR peer of an engine whose CIDRs match pod addresses too (AdminNetworkPolicy ``networks``,
    Calico ``nets``). Pod addresses are not in manifests: a CIDR covering a whole address family
    matches every pod; one overlapping private space may hold pods, so an Allow rule takes it to
    match every pod and a Deny or Pass rule none (the analysis then shows at least what the
    cluster allows), and a note says so."""
    whole = network.prefixlen == 0
    if not whole and may_hold_pods(network):
        treated = "every pod" if action == "Allow" else "no pod"
        notes.append(f"{where} {network} may hold pod addresses, which manifests do not give: for this "
                     f"{action} rule it is taken to match {treated}")
    return Peer(ip_block=IPBlock(network), ip_matches_pods=whole or (action == "Allow" and may_hold_pods(network)))


@lru_cache(maxsize=4096)
def block_overlaps(block: IPBlock, network: IPNetwork) -> bool:
    """True when some address of ``block`` (cidr minus except) lies in ``network``."""
    return any(n.version == network.version and n.overlaps(network)
               for n in block_networks(block))


@lru_cache(maxsize=4096)
def ranges_to_blocks(ranges: tuple[tuple[int, int], ...], version: int) -> tuple[IPBlock, ...]:
    """Sorted, disjoint address ranges (inclusive integer bounds) as few blocks: ``cidr`` minus
    ``except`` when that is shorter (``0.0.0.0/0 except 169.254.169.254/32``), else CIDRs."""
    make = ipaddress.IPv4Address if version == 4 else ipaddress.IPv6Address
    merged: list[list[int]] = []
    for low, high in ranges:
        if merged and low <= merged[-1][1] + 1:
            merged[-1][1] = max(merged[-1][1], high)
        else:
            merged.append([low, high])

    def cidrs(spans: list[list[int]]) -> list[IPNetwork]:
        return [n for low, high in spans
                for n in ipaddress.summarize_address_range(make(low), make(high))]

    nets = cidrs(merged)
    if len(nets) <= 1:
        return tuple(IPBlock(n) for n in nets)
    first, last = merged[0][0], merged[-1][1]
    bits = 32 if version == 4 else 128
    prefix = bits - (first ^ last).bit_length()
    start = first >> (bits - prefix) << (bits - prefix) if prefix else 0
    end = start + (1 << (bits - prefix)) - 1
    gaps, cursor = [], start
    for low, high in merged:
        if low > cursor:
            gaps.append([cursor, low - 1])
        cursor = high + 1
    if cursor <= end:
        gaps.append([cursor, end])
    holes = cidrs(gaps)
    if len(holes) < len(nets):
        return (IPBlock(ipaddress.ip_network(f"{make(start)}/{prefix}"), tuple(holes)),)
    return tuple(IPBlock(n) for n in nets)


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
