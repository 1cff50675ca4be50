"""Grafana dashboards as JSON: the stack overview, each kind's own (its module's DASHBOARDS: PostgreSQL, RabbitMQ
queues), and the project's services.

Every panel queries the datasource of grafana.py (uid DATASOURCE_UID) and selects by the `kind` label that
prometheus.py puts on every target. Metric names of the services: the usual prometheus-client HTTP names
(http_requests_total, http_request_duration_seconds).
"""

from __future__ import annotations

from typing import Any

from stapel.components import kinds
from stapel.components.facets import Panel

DATASOURCE_UID = "stapel-prometheus"
SCHEMA_VERSION = 39  # Grafana 11.x

# uid -> (title, [(panel title, unit, [(expr, legend)])]): the ones of no kind (each kind's come between them)
OVERVIEW: dict[str, tuple[str, list[Panel]]] = {
    "stapel-overview": ("Stack overview", [
        ("Targets up", "none", [('sum(up)', "up"), ('count(up)', "all")]),
        ("Up per job", "none", [('up', "{{job}} ({{kind}})")]),
        ("Scrape duration", "s", [('scrape_duration_seconds', "{{job}}")]),
        ("Samples scraped", "none", [('scrape_samples_scraped', "{{job}}")]),
    ]),
}
SERVICES: dict[str, tuple[str, list[Panel]]] = {
    "stapel-services": ("Services", [
        ("Up", "none", [('up{kind="service"}', "{{job}}")]),
        ("HTTP requests per second", "reqps", [('sum by (job) (rate(http_requests_total{kind="service"}[5m]))', "{{job}}")]),
        ("HTTP latency p95", "s", [('histogram_quantile(0.95, sum by (job, le) '
                                    '(rate(http_request_duration_seconds_bucket{kind="service"}[5m])))', "{{job}}")]),
        ("HTTP 5xx per second", "reqps", [('sum by (job) (rate(http_requests_total{kind="service", status=~"5.."}[5m]))', "{{job}}")]),
    ]),
}


def datasource() -> dict[str, str]:
    """The datasource every panel queries: the first kind's that serves as one (GRAFANA_DATASOURCE), uid DATASOURCE_UID."""
    found = next(module.GRAFANA_DATASOURCE for module in kinds().values() if module.GRAFANA_DATASOURCE)
    return {"type": found, "uid": DATASOURCE_UID}


def dashboards() -> dict[str, tuple[str, list[Panel]]]:
    """uid -> (title, panels): the overview, each kind's in registry order, the services."""
    by_kind = {uid: (title, panels) for module in kinds().values() for uid, title, panels in module.DASHBOARDS}
    return {**OVERVIEW, **by_kind, **SERVICES}


def _panel(index: int, title: str, unit: str, queries: list[tuple[str, str]]) -> dict[str, Any]:
    return {
        "id": index + 1, "type": "timeseries", "title": title, "datasource": datasource(),
        "gridPos": {"h": 8, "w": 12, "x": (index % 2) * 12, "y": (index // 2) * 8},
        "fieldConfig": {"defaults": {"unit": unit}, "overrides": []},
        "options": {"legend": {"displayMode": "list", "placement": "bottom", "showLegend": True}},
        "targets": [{"refId": chr(ord("A") + n), "datasource": datasource(), "expr": expr, "legendFormat": legend}
                    for n, (expr, legend) in enumerate(queries)],
    }


def dashboard(uid: str) -> dict[str, Any]:
    title, panels = dashboards()[uid]
    return {
        "uid": uid, "title": f"stapel: {title}", "tags": ["stapel"], "schemaVersion": SCHEMA_VERSION, "version": 1,
        "editable": False, "time": {"from": "now-1h", "to": "now"}, "refresh": "10s", "timezone": "browser",
        "annotations": {"list": []}, "templating": {"list": []},
        "panels": [_panel(i, *panel) for i, panel in enumerate(panels)],
    }


def all_dashboards() -> dict[str, dict[str, Any]]:
    return {uid: dashboard(uid) for uid in dashboards()}
