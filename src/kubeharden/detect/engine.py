"""The detection engine: runs compiled rules over a stream of audit events.

One :class:`Detector` serves the file scanner and the webhook server alike. Triggers are
indexed by (stage, verb, resource, subresource) on first use of each combination, so an
event costs one dict lookup plus the few predicates that can apply to it. Stateful rules
(thresholds, first-seen, sequences, changes) keep bounded per-key state and read time from
the events, not the clock, so a log scanned a year later gives the same alerts.
"""

from __future__ import annotations

import ipaddress
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import orjson

from kubeharden.detect.alerts import Alert
from kubeharden.detect.fields import ALIASES, MISSING, Getter
from kubeharden.detect.rules import METADATA_FIELDS, DetectionRule, Trigger
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


class _Bounded(dict):
    """A dict that forgets its oldest keys beyond a limit (first in, first out: cheap and bounded)."""

    def __init__(self, limit: int) -> None:
        super().__init__()
        self.limit = limit

    def touch(self, key: Any, value: Any) -> None:
        if key not in self and len(self) >= self.limit:
            del self[next(iter(self))]
        self[key] = value


class Detector:
    def __init__(self, rules: Iterable[DetectionRule], baseline_seconds: float = DEFAULT_BASELINE_SECONDS) -> None:
        self.rules = [r for r in rules if r.inactive is None]
        self.baseline_seconds = baseline_seconds
        order = {r.id: i for i, r in enumerate(self.rules)}
        self._triggers = sorted((t for r in self.rules for t in r.triggers),
                                key=lambda t: (order[t.rule.id], -t.step))
        self._index: dict[tuple[str, str, str, str], tuple[Trigger, ...]] = {}
        self._state: dict[str, _Bounded] = {r.id: _Bounded(MAX_KEYS_PER_RULE) for r in self.rules}
        self._seen_ids: dict[str, _Bounded] = {r.id: _Bounded(20_000) for r in self.rules if len(r.stages) > 1}
        self.stats = DetectorStats()
        self._start: float | None = None
        self._plans: dict[tuple, tuple[tuple[Trigger, ...], tuple[Trigger, ...]]] = {}
        self._order = {id(t): i for i, t in enumerate(self._triggers)}
        self._settled_kinds = {r.id for r in self.rules if r.kind == "first_seen" and all(
            ALIASES.get(g.path, g.path) in METADATA_FIELDS for g in (*r.by, *r.value))}

    # -- indexing ---------------------------------------------------------------------------------
    def candidates(self, stage: str, verb: str, resource: str, subresource: str) -> tuple[Trigger, ...]:
        """The triggers that can fire for this combination (built once per combination)."""
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

    def _plan(self, key: tuple, event: dict[str, Any]) -> tuple[tuple[Trigger, ...], tuple[Trigger, ...]]:
        """For one metadata combination: the metadata-only triggers that hold (their result is the
        same for every event with this key) and the triggers that must look at each event."""
        plan = self._plans.get(key)
        if plan is None:
            cands = self.candidates(key[0], key[1], key[2], key[3])
            holding = [t for t in cands if _safe(t.predicate, event)]
            passed = tuple(t for t in holding if t.body is None)
            per_event = tuple(t for t in holding if t.body is not None)
            plan = (passed, per_event)
            if len(self._plans) > 200_000:
                self._plans.clear()
            self._plans[key] = plan
        return plan

    # -- processing -------------------------------------------------------------------------------
    def run(self, events: Iterable[dict[str, Any]]) -> Iterator[Alert]:
        process = self.process
        event = None
        for event in events:
            alerts = process(event)
            if alerts:
                yield from alerts
        if event is not None:
            self._note_time(event_time(event))

    def process(self, event: dict[str, Any]) -> list[Alert] | None:
        self.stats.events += 1
        key = metadata_key(event)
        try:
            passed, per_event = self._plan(key, event)
        except TypeError:  # a malformed event whose fields cannot be a key: judge it on its own
            cands = self.candidates(key[0], key[1], key[2], key[3])
            holding = [t for t in cands if _safe(t.predicate, event)]
            passed = tuple(t for t in holding if t.body is None)
            per_event = tuple(t for t in holding if t.body is not None)
        hits: list[Trigger] | None = None
        if per_event:
            for trig in per_event:
                if _safe(trig.body, event):  # type: ignore[arg-type]
                    if hits is None:
                        hits = list(passed)
                    hits.append(trig)
        if hits is None:
            if not passed:
                if self._start is None:
                    self._note_time(event_time(event))
                return None
            hits = list(passed)
        t = event_time(event)
        self._note_time(t)
        out: list[Alert] | None = None
        if len(hits) > 1 and per_event and passed:
            hits = sorted(hits, key=lambda t: self._order[id(t)])
        if passed and self._settled_kinds:
            self._settle(key, passed)
        for trig in hits:
            alert = self._fire(trig, event, t)
            if alert is not None:
                if out is None:
                    out = []
                out.append(alert)
                self.stats.alerts += 1
                self.stats.by_rule[alert.rule.id] = self.stats.by_rule.get(alert.rule.id, 0) + 1
        return out

    def _settle(self, key: tuple, passed: tuple[Trigger, ...]) -> None:
        """A first-seen rule whose key and value are metadata has learnt all it can from the first
        event with this metadata: later ones carry the same pair. Drop it from this key's plan."""
        settled = tuple(t for t in passed if t.rule.id in self._settled_kinds)
        if settled:
            try:
                plan = self._plans.get(key)
            except TypeError:  # an unhashable (malformed) key never had a plan
                return
            if plan is not None:
                self._plans[key] = (tuple(t for t in plan[0] if t not in settled), plan[1])

    def _note_time(self, t: float) -> None:
        if not t:
            return
        if self._start is None:
            self._start = t
            self.stats.first_time = t
        self.stats.last_time = t

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
        key = tuple([_key_value(g, event) for g in rule.by])
        keyd = _KeyDict(rule.by, key)
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
            values = [_plain(g.fn(event)) for g in rule.value]
            if all(v is None or v == [] for v in values):
                return None  # nothing to compare (no body at this audit level): neither a change nor a baseline
            dumped = orjson.dumps(values, option=orjson.OPT_SORT_KEYS)
            previous = state.get(key)
            state.touch(key, (dumped, audit_id))
            if previous is None or previous[0] == dumped:
                return None
            return self._alert(rule, event, t, [previous[1], audit_id], 1, keyd)
        if kind == "remember":
            if all(v is None for v in key):
                return None
            if trig.step == 0:  # the object is (re)defined or deleted: remember what holds for it now
                if event.get("verb") in ("delete", "deletecollection"):
                    state.pop(key, None)
                else:
                    state.touch(key, _safe(rule.holds, event))  # type: ignore[arg-type]
                return None
            return self._alert(rule, event, t, [audit_id], 1, keyd) if state.get(key) else None
        if kind == "sequence":
            return self._sequence(rule, trig.step, state, key, keyd, event, t, audit_id)
        return None

    def _threshold(self, rule: DetectionRule, state: _Bounded, key: tuple, keyd: dict, event: dict[str, Any], t: float,
                   audit_id: str) -> Alert | None:
        entry = state.get(key)
        if entry is None:
            entry = (deque[tuple[float, str, Any]](), dict[Any, int]())
            state.touch(key, entry)
        window, counts = entry  # events in the window, and how many of them carry each distinct value
        distinct = _key_value(rule.distinct, event) if rule.distinct else None
        window.append((t, audit_id, distinct))
        if distinct is not None:
            counts[distinct] = counts.get(distinct, 0) + 1
        horizon = t - rule.window
        while window and (window[0][0] < horizon or len(window) > 10 * rule.count + 1000):
            _, _, old = window.popleft()
            if old is not None:
                left = counts[old] - 1
                if left:
                    counts[old] = left
                else:
                    del counts[old]
        n = len(counts) if rule.distinct is not None else len(window)
        if n < rule.count:
            return None
        ids = [a for _, a, _ in window][-MAX_AUDIT_IDS:]
        values = ", ".join(sorted(map(str, counts)))[:500]
        window.clear()  # the next alert for this key needs a fresh count
        counts.clear()
        return self._alert(rule, event, t, ids, n, keyd, values=values)

    def _sequence(self, rule: DetectionRule, step: int, state: _Bounded, key: tuple, keyd: dict, event: dict[str, Any],
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

    def _alert(self, rule: DetectionRule, event: dict[str, Any], t: float, ids: list[str], count: int,
               key: dict[str, Any], values: str = "") -> Alert:
        extra = {"count": count, "window": _human(rule.window), "values": values}
        message = rule.message_fn(event, extra) if rule.message_fn else rule.title
        if isinstance(key, _KeyDict):
            key = key.materialize()
        return Alert(rule=rule, time=t, event=event, audit_ids=[i for i in ids if i], message=message,
                     count=count, key=key)


class _KeyDict(dict):
    """The key of a stateful alert as {field: value}; built only when an alert is made."""

    def __init__(self, getters: list[Getter], values: tuple) -> None:
        super().__init__()
        self._pairs = (getters, values)

    def materialize(self) -> dict[str, Any]:
        getters, values = self._pairs
        return {g.path: v for g, v in zip(getters, values, strict=True)}


def metadata_key(event: dict[str, Any]) -> tuple:
    """Everything a metadata-only trigger may read, as one hashable key (see METADATA_FIELDS)."""
    ref = event.get("objectRef")
    if ref.__class__ is dict:
        resource = ref.get("resource") or ""
        subresource = ref.get("subresource") or ""
        namespace = ref.get("namespace")
        group = ref.get("apiGroup")
    else:
        resource = subresource = ""
        namespace = group = None
    user = event.get("user")
    if user.__class__ is dict:
        username = user.get("username")
        groups = user.get("groups")
        groups = tuple(groups) if groups.__class__ is list else groups
    else:
        username = groups = None
    status = event.get("responseStatus")
    code = status.get("code") if status.__class__ is dict else None
    ann = event.get("annotations")
    decision = ann.get("authorization.k8s.io/decision") if ann.__class__ is dict else None
    ips = event.get("sourceIPs")
    imp = event.get("impersonatedUser")
    stage = event.get("stage") or "ResponseComplete"
    verb = event.get("verb") or ""
    return (stage if stage.__class__ is str else "", verb if verb.__class__ is str else "",
            resource if resource.__class__ is str else "", subresource if subresource.__class__ is str else "",
            username, groups, namespace, group, code, decision, event.get("userAgent"),
            tuple(ips) if ips.__class__ is list else ips,
            None if imp is None else orjson.dumps(imp, option=orjson.OPT_SORT_KEYS))


def _safe(predicate: Callable[[Any], bool], event: dict[str, Any]) -> bool:
    try:
        return bool(predicate(event))
    except (TypeError, ValueError, AttributeError, RecursionError):
        return False  # a field of an unexpected type: that rule cannot judge this event


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
