"""Prometheus metrics in the text exposition format (version 0.0.4), for ``/metrics``.

Format: https://prometheus.io/docs/instrumenting/exposition_formats/ . Only what the servers
need: counters with labels and one latency histogram. Updates come from the event loop's
thread (and, for counters, worker threads), so each metric holds a lock.
"""

from __future__ import annotations

import bisect
import threading
from collections.abc import Callable
from typing import TypeVar

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
#: Latency buckets in seconds: admission webhooks time out at 10 s at most (default 10 s,
#: ValidatingWebhookConfiguration ``timeoutSeconds``), and answers should take milliseconds.
LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0)


def _labels(names: tuple[str, ...], values: tuple[str, ...]) -> str:
    if not names:
        return ""
    escaped = (v.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"') for v in values)
    return "{" + ",".join(f'{n}="{v}"' for n, v in zip(names, escaped, strict=True)) + "}"


class Counter:
    """A monotonically increasing count per label combination."""

    def __init__(self, name: str, help_text: str, labels: tuple[str, ...] = ()) -> None:
        self.name, self.help, self.label_names = name, help_text, labels
        self.values: dict[tuple[str, ...], float] = {}
        self.lock = threading.Lock()

    def inc(self, *labels: str, amount: float = 1) -> None:
        with self.lock:
            self.values[labels] = self.values.get(labels, 0) + amount

    def get(self, *labels: str) -> float:
        return self.values.get(labels, 0)

    def render(self) -> list[str]:
        with self.lock:
            items = sorted(self.values.items())
        lines = [f"# HELP {self.name} {self.help}", f"# TYPE {self.name} counter"]
        lines += [f"{self.name}{_labels(self.label_names, k)} {v:g}" for k, v in items]
        return lines


class Gauge:
    """A value read when scraped (queue depth, uptime)."""

    def __init__(self, name: str, help_text: str, read: Callable[[], float]) -> None:
        self.name, self.help, self.read = name, help_text, read

    def render(self) -> list[str]:
        return [f"# HELP {self.name} {self.help}", f"# TYPE {self.name} gauge", f"{self.name} {self.read():g}"]


class Histogram:
    """Observed durations in cumulative buckets, with their sum and count."""

    def __init__(self, name: str, help_text: str, buckets: tuple[float, ...] = LATENCY_BUCKETS) -> None:
        self.name, self.help, self.buckets = name, help_text, buckets
        self.counts = [0] * (len(buckets) + 1)
        self.sum = 0.0
        self.lock = threading.Lock()

    def observe(self, seconds: float) -> None:
        with self.lock:
            self.counts[bisect.bisect_left(self.buckets, seconds)] += 1
            self.sum += seconds

    def render(self) -> list[str]:
        with self.lock:
            counts, total = list(self.counts), self.sum
        lines = [f"# HELP {self.name} {self.help}", f"# TYPE {self.name} histogram"]
        running = 0
        for bound, n in zip(self.buckets, counts, strict=False):
            running += n
            lines.append(f'{self.name}_bucket{{le="{bound:g}"}} {running}')
        running += counts[-1]
        lines += [f'{self.name}_bucket{{le="+Inf"}} {running}', f"{self.name}_sum {total:.6f}",
                  f"{self.name}_count {running}"]
        return lines


M = TypeVar("M", Counter, Gauge, Histogram)


class Registry:
    """The metrics of one server, rendered together for ``/metrics``."""

    def __init__(self) -> None:
        self.metrics: list[Counter | Gauge | Histogram] = []

    def add(self, metric: M) -> M:
        self.metrics.append(metric)
        return metric

    def render(self) -> str:
        return "\n".join(line for m in self.metrics for line in m.render()) + "\n"
