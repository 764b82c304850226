"""The detection engine: runs compiled rules over a stream of audit events.

One :class:`Detector` serves the file scanner and the webhook server alike. Triggers are
indexed by (stage, verb, resource, subresource) on first use of each combination, so an
event costs one dict lookup plus the few predicates that can apply to it. Stateful rules
(thresholds, first-seen, sequences, changes) keep bounded per-key state and read time from
the events, not the clock, so a log scanned a year later gives the same alerts.
"""

from __future__ import annotations

import ipaddress
from collections import OrderedDict, deque
from dataclasses import dataclass, field
from typing import Any, Iterable, Iterator

import orjson

from kubeharden.detect.alerts import Alert
from kubeharden.detect.fields import MISSING, Getter
from kubeharden.detect.rules import Rule, Trigger
from kubeharden.sources.audit import event_time

MAX_KEYS_PER_RULE = 200_000
"""Per-rule state is bounded: beyond this many keys the oldest are forgotten."""
MAX_AUDIT_IDS = 50
DEFAULT_BASELINE_SECONDS = 3600.0


@dataclass(slots=True)
class DetectorStats:
    events: int = 0
    alerts: int = 0
    by_rule: dict[str, int] = field(default_factory=dict)
    first_time: float | None = None
    last_time: float | None = None


class _Bounded(OrderedDict):
    """A dict that forgets its least recently touched keys beyond a limit."""

    def __init__(self, limit: int) -> None:
        super().__init__()
        self.limit = limit

    def touch(self, key: Any, value: Any) -> None:
        self[key] = value
        self.move_to_end(key)
        if len(self) > self.limit:
            self.popitem(last=False)


class Detector:
    def __init__(self, rules: Iterable[Rule], baseline_seconds: float = DEFAULT_BASELINE_SECONDS) -> None:
        self.rules = list(rules)
        self.baseline_seconds = baseline_seconds
        order = {r.id: i for i, r in enumerate(self.rules)}
        self._triggers = sorted((t for r in self.rules for t in r.triggers),
                                key=lambda t: (order[t.rule.id], -t.step))
        self._index: dict[tuple[str, str, str, str], tuple[Trigger, ...]] = {}
        self._state: dict[str, _Bounded] = {r.id: _Bounded(MAX_KEYS_PER_RULE) for r in self.rules}
        self._seen_ids: dict[str, _Bounded] = {r.id: _Bounded(20_000) for r in self.rules if len(r.stages) > 1}
        self.stats = DetectorStats()
        self._start: float | None = None

    # -- indexing ---------------------------------------------------------------------------------
    def candidates(self, stage: str, verb: str, resource: str, subresource: str) -> tuple[Trigger, ...]:
        key = (stage, verb, resource, subresource)
        found = self._index.get(key)
        if found is None:
            found = tuple(t for t in self._triggers
                          if stage in t.stages
                          and (t.verbs is None or verb in t.verbs)
                          and (t.resources is None or resource in t.resources)
                          and (t.subresources is None or subresource in t.subresources))
            if len(self._index) > 50_000:
                self._index.clear()
            self._index[key] = found
        return found

    # -- processing -------------------------------------------------------------------------------
    def run(self, events: Iterable[dict[str, Any]]) -> Iterator[Alert]:
        process = self.process
        for event in events:
            alerts = process(event)
            if alerts:
                yield from alerts

    def process(self, event: dict[str, Any]) -> list[Alert] | None:
        stats = self.stats
        stats.events += 1
        ref = event.get("objectRef")
        if isinstance(ref, dict):
            resource = ref.get("resource") or ""
            subresource = ref.get("subresource") or ""
        else:
            resource = subresource = ""
        verb = event.get("verb")
        stage = event.get("stage") or "ResponseComplete"
        triggers = self.candidates(stage if isinstance(stage, str) else "",
                                   verb if isinstance(verb, str) else "",
                                   resource if isinstance(resource, str) else "",
                                   subresource if isinstance(subresource, str) else "")
        if not triggers:
            return None
        t = event_time(event)
        if self._start is None and t:
            self._start = t
            stats.first_time = t
        if t:
            stats.last_time = t
        out: list[Alert] | None = None
        for trig in triggers:
            try:
                hit = trig.predicate(event)
            except (TypeError, ValueError, AttributeError, RecursionError):
                hit = False  # a field of an unexpected type: that rule cannot judge this event
            if not hit:
                continue
            alert = self._fire(trig, event, t)
            if alert is not None:
                if out is None:
                    out = []
                out.append(alert)
                stats.alerts += 1
                stats.by_rule[alert.rule.id] = stats.by_rule.get(alert.rule.id, 0) + 1
        return out

    def _fire(self, trig: Trigger, event: dict[str, Any], t: float) -> Alert | None:
        rule = trig.rule
        kind = rule.kind
        audit_id = str(event.get("auditID") or "")
        if kind == "single":
            seen = self._seen_ids.get(rule.id)
            if seen is not None and audit_id:
                if audit_id in seen:
                    return None
                seen.touch(audit_id, True)
            return self._alert(rule, event, t, [audit_id], 1, {})
        key = tuple(_key_value(g, event) for g in rule.by)
        keyd = {g.path: v for g, v in zip(rule.by, key)}
        state = self._state[rule.id]
        if kind == "threshold":
            return self._threshold(rule, state, key, keyd, event, t, audit_id)
        if kind == "first_seen":
            value = tuple(_key_value(g, event, rule.transform) for g in rule.value)
            if all(v is None for v in value):
                return None
            known = state.get(key)
            if known is None:
                known = set()
                state.touch(key, known)
            if value in known:
                return None
            known.add(value)
            if len(known) > 10_000:
                known.pop()
            if self._start is not None and t - self._start < self.baseline_seconds:
                return None  # still learning what is normal
            return self._alert(rule, event, t, [audit_id], 1, keyd,
                               values=", ".join("-" if v is None else str(v) for v in value))
        if kind == "changed":
            value = orjson.dumps([_plain(g.fn(event)) for g in rule.value], option=orjson.OPT_SORT_KEYS)
            previous = state.get(key)
            state.touch(key, (value, audit_id))
            if previous is None or previous[0] == value:
                return None
            return self._alert(rule, event, t, [previous[1], audit_id], 1, keyd)
        if kind == "sequence":
            return self._sequence(rule, trig.step, state, key, keyd, event, t, audit_id)
        return None

    def _threshold(self, rule: Rule, state: _Bounded, key: tuple, keyd: dict, event: dict[str, Any], t: float,
                   audit_id: str) -> Alert | None:
        window = state.get(key)
        if window is None:
            window = deque()
        state.touch(key, window)
        distinct = _key_value(rule.distinct, event) if rule.distinct else None
        window.append((t, audit_id, distinct))
        horizon = t - rule.window
        while window and window[0][0] < horizon:
            window.popleft()
        if rule.distinct is not None:
            values = {d for _, _, d in window if d is not None}
            n = len(values)
        else:
            values = set()
            n = len(window)
        if n < rule.count:
            if len(window) > 10 * rule.count + 1000:
                window.popleft()
            return None
        ids = [a for _, a, _ in window][-MAX_AUDIT_IDS:]
        window.clear()  # the next alert for this key needs a fresh count
        return self._alert(rule, event, t, ids, n, keyd, values=", ".join(sorted(map(str, values)))[:500])

    def _sequence(self, rule: Rule, step: int, state: _Bounded, key: tuple, keyd: dict, event: dict[str, Any],
                  t: float, audit_id: str) -> Alert | None:
        partials: list[list[Any]] | None = state.get(key)
        last = len(rule.triggers) - 1
        if partials:
            partials[:] = [p for p in partials if t - p[1] <= rule.window]
            for p in partials:
                if p[0] == step and p[2][-1] != audit_id:
                    if step == last:
                        partials.remove(p)
                        return self._alert(rule, event, t, [*p[2], audit_id], last + 1, keyd)
                    p[0] = step + 1
                    p[2].append(audit_id)
                    return None
        if step == 0:
            if partials is None:
                partials = []
                state.touch(key, partials)
            partials.append([1, t, [audit_id]])
            del partials[:-10]
        return None

    def _alert(self, rule: Rule, event: dict[str, Any], t: float, ids: list[str], count: int,
               key: dict[str, Any], values: str = "") -> Alert:
        extra = {"count": count, "window": _human(rule.window), "values": values}
        message = rule.message_fn(event, extra) if rule.message_fn else rule.title
        return Alert(rule=rule, time=t, event=event, audit_ids=[i for i in ids if i], message=message,
                     count=count, key=key)


def _plain(value: Any) -> Any:
    return None if value is MISSING else value


def _key_value(getter: Getter | None, event: dict[str, Any], transform: str | None = None) -> Any:
    if getter is None:
        return None
    value = getter.fn(event)
    if value is MISSING or value == []:
        return None
    if isinstance(value, list):
        value = tuple(sorted(map(str, value)))
    if transform == "network" and isinstance(value, str):
        value = _network(value)
    return value


def _network(ip: str) -> str:
    try:
        addr = ipaddress.ip_address(ip)
    except ValueError:
        return ip
    prefix = 24 if addr.version == 4 else 64
    return str(ipaddress.ip_network(f"{ip}/{prefix}", strict=False))


def _human(seconds: float) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{int(seconds // size)}{unit}"
    return f"{seconds:g}s"
