"""Sets of ports as merged intervals per protocol.

NetworkPolicy rules combine "all ports", single ports, ``port``–``endPort`` ranges and
named ports; unions and intersections of those must be exact, so each protocol keeps
a sorted tuple of disjoint, non-adjacent ``(low, high)`` intervals.
"""

from __future__ import annotations

from dataclasses import dataclass

PROTOCOLS = ("TCP", "UDP", "SCTP")
MIN_PORT, MAX_PORT = 1, 65535

Intervals = tuple[tuple[int, int], ...]


def _merge(intervals: list[tuple[int, int]]) -> Intervals:
    out: list[tuple[int, int]] = []
    for low, high in sorted(intervals):
        if out and low <= out[-1][1] + 1:
            if high > out[-1][1]:
                out[-1] = (out[-1][0], high)
        else:
            out.append((low, high))
    return tuple(out)


def _subtract(a: Intervals, b: Intervals) -> Intervals:
    out: list[tuple[int, int]] = []
    for low, high in a:
        start = low
        for h_low, h_high in b:
            if h_high < start or h_low > high:
                continue
            if h_low > start:
                out.append((start, h_low - 1))
            start = max(start, h_high + 1)
        if start <= high:
            out.append((start, high))
    return tuple(out)


def _intersect(a: Intervals, b: Intervals) -> Intervals:
    out: list[tuple[int, int]] = []
    i = j = 0
    while i < len(a) and j < len(b):
        low, high = max(a[i][0], b[j][0]), min(a[i][1], b[j][1])
        if low <= high:
            out.append((low, high))
        if a[i][1] < b[j][1]:
            i += 1
        else:
            j += 1
    return tuple(out)


@dataclass(frozen=True, slots=True)
class PortSet:
    """Ports per protocol; immutable and hashable."""

    tcp: Intervals = ()
    udp: Intervals = ()
    sctp: Intervals = ()

    @classmethod
    def of(cls, protocol: str, low: int, high: int | None = None) -> PortSet:
        iv = ((low, high if high is not None else low),)
        return cls(**{protocol.lower(): iv})

    @classmethod
    def whole(cls, protocol: str) -> PortSet:
        return cls.of(protocol, MIN_PORT, MAX_PORT)

    def by_protocol(self) -> tuple[tuple[str, Intervals], ...]:
        return (("TCP", self.tcp), ("UDP", self.udp), ("SCTP", self.sctp))

    def __bool__(self) -> bool:
        return bool(self.tcp or self.udp or self.sctp)

    def __or__(self, other: PortSet) -> PortSet:
        if not other:
            return self
        if not self:
            return other
        return PortSet(_merge([*self.tcp, *other.tcp]), _merge([*self.udp, *other.udp]),
                       _merge([*self.sctp, *other.sctp]))

    def __and__(self, other: PortSet) -> PortSet:
        if self is ALL_PORTS:
            return other
        if other is ALL_PORTS:
            return self
        return PortSet(_intersect(self.tcp, other.tcp), _intersect(self.udp, other.udp),
                       _intersect(self.sctp, other.sctp))

    def __sub__(self, other: PortSet) -> PortSet:
        """The ports of ``self`` that are not in ``other``."""
        if not other or not self:
            return self
        if other.is_all:
            return NO_PORTS
        return PortSet(_subtract(self.tcp, other.tcp), _subtract(self.udp, other.udp),
                       _subtract(self.sctp, other.sctp))

    @property
    def is_all(self) -> bool:
        full = ((MIN_PORT, MAX_PORT),)
        return self.tcp == full and self.udp == full and self.sctp == full

    def contains(self, protocol: str, port: int) -> bool:
        return any(low <= port <= high for low, high in getattr(self, protocol.lower()))

    def labels(self) -> list[str]:
        """``["TCP 80", "TCP 8000-8080", "UDP 53"]``; a whole protocol is ``"TCP 1-65535"``."""
        out = []
        for proto, intervals in self.by_protocol():
            for low, high in intervals:
                out.append(f"{proto} {low}" if low == high else f"{proto} {low}-{high}")
        return out

    def to_json(self) -> str | list[str]:
        return "all" if self.is_all else self.labels()

    def __str__(self) -> str:
        return "all ports" if self.is_all else ", ".join(self.labels()) or "nothing"


NO_PORTS = PortSet()
ALL_PORTS = PortSet(((MIN_PORT, MAX_PORT),), ((MIN_PORT, MAX_PORT),), ((MIN_PORT, MAX_PORT),))


def parse_port_query(text: str) -> PortSet:
    """``443``, ``443/TCP``, ``53/udp`` or ``8000-8080/TCP`` as a PortSet (default TCP)."""
    number, _, proto = text.partition("/")
    proto = (proto or "TCP").upper()
    if proto not in PROTOCOLS:
        raise ValueError(f"unknown protocol {proto!r} (one of {', '.join(PROTOCOLS)})")
    low_text, _, high_text = number.partition("-")
    try:
        low = int(low_text)
        high = int(high_text) if high_text else low
    except ValueError:
        raise ValueError(f"not a port number: {number!r}") from None
    if not (MIN_PORT <= low <= high <= MAX_PORT):
        raise ValueError(f"port out of range: {number!r}")
    return PortSet.of(proto, low, high)
