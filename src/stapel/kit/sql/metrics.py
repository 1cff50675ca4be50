"""Prometheus metrics of the SQL layer: latency per query name, errors by class, the pools' gauges (seed 004:
"metrics latency/error on key DB operations"). Created once per process, on first use."""

from __future__ import annotations

from typing import Any

_metrics: dict[str, Any] = {}
_pools: dict[str, Any] = {}  # name -> psycopg_pool pool, read at scrape time


def _create() -> dict[str, Any]:
    from prometheus_client import REGISTRY, Counter, Histogram

    duration = Histogram("stapel_kit_sql_query_duration_seconds", "Time of a named query, pool wait included.",
                         ["query"], buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10))
    errors = Counter("stapel_kit_sql_query_errors_total", "Failed named queries, by error class.", ["query", "error"])
    REGISTRY.register(_PoolCollector())
    return {"duration": duration, "errors": errors, "children": {}}


def _get() -> dict[str, Any]:
    if not _metrics:
        _metrics.update(_create())
    return _metrics


def timer(query: str) -> Any:
    """The histogram child of one query name (cached: labels() is the costly part)."""
    metrics = _get()
    child = metrics["children"].get(query)
    if child is None:
        child = metrics["children"][query] = metrics["duration"].labels(query)
    return child


def failed(query: str, error: str) -> None:
    _get()["errors"].labels(query, error).inc()


def track_pool(name: str, pool: Any) -> None:
    _get()  # the collector is registered with the metrics
    _pools[name] = pool


def untrack_pool(name: str, pool: Any) -> None:
    if _pools.get(name) is pool:
        del _pools[name]


class _PoolCollector:
    """stapel_kit_sql_pool_{size,available,max,requests_waiting}{pool=...} from psycopg_pool's get_stats()."""

    GAUGES = (("size", "pool_size", "Connections the pool holds."),
              ("available", "pool_available", "Idle connections ready to use."),
              ("max", "pool_max", "The pool's max_size."),
              ("requests_waiting", "requests_waiting", "Callers waiting for a connection."))

    def describe(self) -> list:
        return []

    def collect(self):  # noqa: ANN201
        from prometheus_client.core import GaugeMetricFamily

        families = {key: GaugeMetricFamily(f"stapel_kit_sql_pool_{name}", text, labels=["pool"])
                    for name, key, text in self.GAUGES}
        for pool_name, pool in list(_pools.items()):
            stats = pool.get_stats()
            for key, family in families.items():
                family.add_metric([pool_name], stats.get(key, 0))
        yield from families.values()
