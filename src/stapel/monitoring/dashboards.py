"""Grafana dashboards as JSON: the stack overview, PostgreSQL, RabbitMQ queues and the project's services.

Every panel queries the datasource of grafana.py (uid DATASOURCE_UID) and selects by the `kind` label that
prometheus.py puts on every target. Metric names: postgres-exporter (pg_*), rabbitmq_prometheus per-object
(rabbitmq_queue_*), the usual prometheus-client HTTP names (http_requests_total, http_request_duration_seconds).
"""

from __future__ import annotations

from typing import Any

DATASOURCE_UID = "stapel-prometheus"
DATASOURCE = {"type": "prometheus", "uid": DATASOURCE_UID}
SCHEMA_VERSION = 39  # Grafana 11.x

# uid -> (title, [(panel title, unit, [(expr, legend)])])
DASHBOARDS: dict[str, tuple[str, list[tuple[str, str, list[tuple[str, str]]]]]] = {
    "stapel-overview": ("Stack overview", [
        ("Targets up", "none", [('sum(up)', "up"), ('count(up)', "all")]),
        ("Up per job", "none", [('up', "{{job}} ({{kind}})")]),
        ("Scrape duration", "s", [('scrape_duration_seconds', "{{job}}")]),
        ("Samples scraped", "none", [('scrape_samples_scraped', "{{job}}")]),
    ]),
    "stapel-postgres": ("PostgreSQL", [
        ("Up", "none", [('pg_up{kind="postgres"}', "{{node}}")]),
        ("Connections per database", "none", [('sum by (node, datname) (pg_stat_database_numbackends{kind="postgres"})', "{{node}} {{datname}}")]),
        ("Transactions per second", "ops", [
            ('sum by (node, datname) (rate(pg_stat_database_xact_commit{kind="postgres"}[5m]))', "{{datname}} commit"),
            ('sum by (node, datname) (rate(pg_stat_database_xact_rollback{kind="postgres"}[5m]))', "{{datname}} rollback")]),
        ("Database size", "bytes", [('pg_database_size_bytes{kind="postgres"}', "{{node}} {{datname}}")]),
        ("Deadlocks per second", "ops", [('sum by (node, datname) (rate(pg_stat_database_deadlocks{kind="postgres"}[5m]))', "{{datname}}")]),
    ]),
    "stapel-rabbitmq": ("RabbitMQ queues", [
        ("Messages ready per queue", "none", [('sum by (vhost, queue) (rabbitmq_queue_messages_ready{kind="rabbitmq"})', "{{vhost}} {{queue}}")]),
        ("Messages unacked per queue", "none", [('sum by (vhost, queue) (rabbitmq_queue_messages_unacked{kind="rabbitmq"})', "{{vhost}} {{queue}}")]),
        ("Consumers per queue", "none", [('sum by (vhost, queue) (rabbitmq_queue_consumers{kind="rabbitmq"})', "{{vhost}} {{queue}}")]),
        ("Connections", "none", [('sum by (node) (rabbitmq_connections{kind="rabbitmq"})', "{{node}}")]),
    ]),
    "stapel-services": ("Services", [
        ("Up", "none", [('up{kind="service"}', "{{job}}")]),
        ("HTTP requests per second", "reqps", [('sum by (job) (rate(http_requests_total{kind="service"}[5m]))', "{{job}}")]),
        ("HTTP latency p95", "s", [('histogram_quantile(0.95, sum by (job, le) '
                                    '(rate(http_request_duration_seconds_bucket{kind="service"}[5m])))', "{{job}}")]),
        ("HTTP 5xx per second", "reqps", [('sum by (job) (rate(http_requests_total{kind="service", status=~"5.."}[5m]))', "{{job}}")]),
    ]),
}


def _panel(index: int, title: str, unit: str, queries: list[tuple[str, str]]) -> dict[str, Any]:
    return {
        "id": index + 1, "type": "timeseries", "title": title, "datasource": DATASOURCE,
        "gridPos": {"h": 8, "w": 12, "x": (index % 2) * 12, "y": (index // 2) * 8},
        "fieldConfig": {"defaults": {"unit": unit}, "overrides": []},
        "options": {"legend": {"displayMode": "list", "placement": "bottom", "showLegend": True}},
        "targets": [{"refId": chr(ord("A") + n), "datasource": DATASOURCE, "expr": expr, "legendFormat": legend}
                    for n, (expr, legend) in enumerate(queries)],
    }


def dashboard(uid: str) -> dict[str, Any]:
    title, panels = DASHBOARDS[uid]
    return {
        "uid": uid, "title": f"stapel: {title}", "tags": ["stapel"], "schemaVersion": SCHEMA_VERSION, "version": 1,
        "editable": False, "time": {"from": "now-1h", "to": "now"}, "refresh": "10s", "timezone": "browser",
        "annotations": {"list": []}, "templating": {"list": []},
        "panels": [_panel(i, *panel) for i, panel in enumerate(panels)],
    }


def all_dashboards() -> dict[str, dict[str, Any]]:
    return {uid: dashboard(uid) for uid in DASHBOARDS}
