"""Shared Prometheus plumbing of the kit's modules: counters created once per process, and latency histograms
kept in plain lists (no lock on the hot path: the SQL layer, the cache, the bus) and exposed as standard histograms
when scraped."""

from __future__ import annotations

from bisect import bisect_left
from typing import Any

BOUNDS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
_counters: dict[str, Any] = {}
_gauges: dict[str, Any] = {}
_histograms: dict[str, Histogram] = {}


class Timer:
    """One label set's histogram: a count per bucket and the sum."""

    __slots__ = ("counts", "total")

    def __init__(self) -> None:
        self.counts = [0] * (len(BOUNDS) + 1)
        self.total = 0.0

    def observe(self, seconds: float) -> None:
        self.counts[bisect_left(BOUNDS, seconds)] += 1
        self.total += seconds


class Histogram:
    def __init__(self, name: str, documentation: str, labels: tuple[str, ...]) -> None:
        self.name, self.documentation, self.labels = name, documentation, labels
        self.timers: dict[tuple[str, ...], Timer] = {}

    def timer(self, *values: str) -> Timer:
        found = self.timers.get(values)
        if found is None:
            found = self.timers[values] = Timer()
        return found

    def collect(self):
        from prometheus_client.core import HistogramMetricFamily

        family = HistogramMetricFamily(self.name, self.documentation, labels=list(self.labels))
        for values, found in list(self.timers.items()):
            running, buckets = 0, []
            for bound, count in zip((*map(str, BOUNDS), "+Inf"), list(found.counts)):
                running += count
                buckets.append((bound, running))
            family.add_metric(list(values), buckets, sum_value=found.total)
        yield family

    def describe(self) -> list:
        return []


def histogram(name: str, documentation: str, labels: tuple[str, ...]) -> Histogram:
    found = _histograms.get(name)
    if found is None:
        from prometheus_client import REGISTRY

        found = _histograms[name] = Histogram(name, documentation, labels)
        REGISTRY.register(found)
    return found


def counter(name: str, documentation: str, labels: tuple[str, ...]) -> Any:
    found = _counters.get(name)
    if found is None:
        from prometheus_client import Counter

        found = _counters[name] = Counter(name, documentation, list(labels))
    return found


def gauge(name: str, documentation: str, labels: tuple[str, ...]) -> Any:
    found = _gauges.get(name)
    if found is None:
        from prometheus_client import Gauge

        found = _gauges[name] = Gauge(name, documentation, list(labels))
    return found
