"""Prometheus metrics of the SQL layer: latency per query name, errors by class, the pools' gauges (seed 004:
"metrics latency/error on key DB operations"). Registered once per process, on first use.

The latency histogram is kept in plain counters per query (no lock on the query path: prometheus-client's own
Histogram costs ~3 us a query, more than half the kit's budget over raw psycopg) and handed to Prometheus as a
standard histogram when scraped."""

from __future__ import annotations

from bisect import bisect_left
from typing import Any

BOUNDS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
_timers: dict[str, QueryTimer] = {}
_pools: dict[str, Any] = {}  # name -> psycopg_pool pool, read at scrape time
_state: dict[str, Any] = {}


class QueryTimer:
    """The latency histogram of one query name: a count per bucket and the sum."""

    __slots__ = ("counts", "total")

    def __init__(self) -> None:
        self.counts = [0] * (len(BOUNDS) + 1)
        self.total = 0.0

    def observe(self, seconds: float) -> None:
        self.counts[bisect_left(BOUNDS, seconds)] += 1  # Prometheus buckets are "less than or equal"
        self.total += seconds


def _register() -> dict[str, Any]:
    if not _state:
        from prometheus_client import REGISTRY, Counter

        _state["errors"] = Counter("stapel_kit_sql_query_errors_total", "Failed named queries, by error class.",
                                   ["query", "error"])
        REGISTRY.register(_Collector())
    return _state


def timer(query: str) -> QueryTimer:
    _register()
    found = _timers.get(query)
    if found is None:
        found = _timers[query] = QueryTimer()
    return found


def failed(query: str, error: str) -> None:
    _register()["errors"].labels(query, error).inc()


def track_pool(name: str, pool: Any) -> None:
    _register()
    _pools[name] = pool


def untrack_pool(name: str, pool: Any) -> None:
    if _pools.get(name) is pool:
        del _pools[name]


class _Collector:
    """stapel_kit_sql_query_duration_seconds{query} and stapel_kit_sql_pool_{size,available,max,requests_waiting}
    {pool} (psycopg_pool's get_stats()), computed at scrape time."""

    GAUGES = (("size", "pool_size", "Connections the pool holds."),
              ("available", "pool_available", "Idle connections ready to use."),
              ("max", "pool_max", "The pool's max_size."),
              ("requests_waiting", "requests_waiting", "Callers waiting for a connection."))

    def describe(self) -> list:
        return []

    def collect(self):
        from prometheus_client.core import GaugeMetricFamily, HistogramMetricFamily

        duration = HistogramMetricFamily("stapel_kit_sql_query_duration_seconds",
                                         "Time of a named query, pool wait included.", labels=["query"])
        for name, found in list(_timers.items()):
            counts, running, buckets = list(found.counts), 0, []
            for bound, count in zip((*map(str, BOUNDS), "+Inf"), counts):
                running += count
                buckets.append((bound, running))
            duration.add_metric([name], buckets, sum_value=found.total)
        yield duration
        families = {key: GaugeMetricFamily(f"stapel_kit_sql_pool_{name}", text, labels=["pool"])
                    for name, key, text in self.GAUGES}
        for pool_name, pool in list(_pools.items()):
            stats = pool.get_stats()
            for key, family in families.items():
                family.add_metric([pool_name], stats.get(key, 0))
        yield from families.values()
