"""What a kind that reads the whole stack is given natively (NativeContext.stack_files): the native view's files.

    SCRAPES_STACK (Prometheus)   prometheus.yml, the scrapes' credential files beside it (<qdrant>-api.key, 0600,
                                 named in prometheus.yml by absolute path under `folder`)
    SHOWS_STACK (Grafana)        its provisioning tree (grafana.py), `folder` being GF_PATHS_PROVISIONING
"""

from __future__ import annotations

from typing import Any

from stapel.monitoring.views import native_view, scrapes, shows

SCRAPE_CONFIG = "prometheus.yml"


def files(stack: Any, node: Any, folder: str) -> dict[str, str]:
    """{path relative to `folder`: text}; nothing for a kind that reads neither."""
    from stapel.monitoring import grafana, prometheus

    if scrapes(node):
        return {SCRAPE_CONFIG: prometheus.config(stack, native_view(stack), folder), **prometheus.credential_files(stack)}
    if shows(node):
        return grafana.files(stack, native_view(stack), folder)
    return {}
