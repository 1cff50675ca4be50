"""Prometheus metrics of the SQL layer: latency per query name, errors by class, the pools' gauges (seed 004:
"metrics latency/error on key DB operations"). Registered once per process, on first use.

The latency histogram is stapel.kit._metrics' lock-free one (prometheus-client's own Histogram costs ~3 us a
query, more than half the kit's budget over raw psycopg), handed to Prometheus as a standard histogram when
scraped."""

from __future__ import annotations

from typing import Any

from stapel.kit import _metrics

_pools: dict[str, Any] = {}  # name -> psycopg_pool pool, read at scrape time
_state: dict[str, Any] = {}


def _register() -> dict[str, Any]:
    if not _state:
        from prometheus_client import REGISTRY

        _state["duration"] = _metrics.histogram("stapel_kit_sql_query_duration_seconds",
                                                "Time of a named query, pool wait included.", ("query",))
        _state["errors"] = _metrics.counter("stapel_kit_sql_query_errors_total", "Failed named queries, by error class.",
                                            ("query", "error"))
        REGISTRY.register(_PoolCollector())
    return _state


def timer(query: str) -> _metrics.Timer:
    return _register()["duration"].timer(query)


def failed(query: str, error: str) -> None:
    _register()["errors"].labels(query, error).inc()


def track_pool(name: str, pool: Any) -> None:
    _register()
    _pools[name] = pool


def untrack_pool(name: str, pool: Any) -> None:
    if _pools.get(name) is pool:
        del _pools[name]


class _PoolCollector:
    """stapel_kit_sql_pool_{size,available,max,requests_waiting}{pool} (psycopg_pool's get_stats()), at scrape time."""

    GAUGES = (("size", "pool_size", "Connections the pool holds."),
              ("available", "pool_available", "Idle connections ready to use."),
              ("max", "pool_max", "The pool's max_size."),
              ("requests_waiting", "requests_waiting", "Callers waiting for a connection."))

    def describe(self) -> list:
        return []

    def collect(self):
        from prometheus_client.core import GaugeMetricFamily

        families = {key: GaugeMetricFamily(f"stapel_kit_sql_pool_{name}", text, labels=["pool"])
                    for name, key, text in self.GAUGES}
        for pool_name, pool in list(_pools.items()):
            stats = pool.get_stats()
            for key, family in families.items():
                family.add_metric([pool_name], stats.get(key, 0))
        yield from families.values()
