"""The monitoring part of `stapel render compose`: files written next to compose.yaml, their mounts, exporters.

    monitoring/prometheus.yml      mounted as /etc/prometheus/prometheus.yml into every service of a kind that
                                   scrapes the stack (SCRAPES_STACK: Prometheus)
    monitoring/grafana/...         mounted as /etc/grafana/provisioning into every service of a kind that shows it
                                   (SHOWS_STACK: Grafana)
    secrets/<qdrant>-api.key       a scrape's credential (a Qdrant API key its /metrics needs), each file mounted
                                   read-only as /etc/prometheus/secrets/<qdrant>-api.key into every scraper (below)
    <node>-exporter                the kind's EXPORTER (postgres-exporter, redis_exporter) per node of such a kind, in
                                   the profiles of the (first) scraper; only when the stack has one to scrape them
"""

from __future__ import annotations

from typing import Any

from stapel.errors import ConfigError
from stapel.monitoring.views import compose_view, exporter_name, exporter_of, scrapes, shows

FOLDER = "monitoring"
GRAFANA_PROVISIONING = "/etc/grafana/provisioning"
SCRAPE_CONFIG_MOUNT = f"./{FOLDER}/prometheus.yml:/etc/prometheus/prometheus.yml:ro"  # into each SCRAPES_STACK service
PROVISIONING_MOUNT = f"./{FOLDER}/grafana:{GRAFANA_PROVISIONING}:ro"  # into each SHOWS_STACK service


def _prometheus(stack: Any) -> Any:
    """The (first) component that scrapes the stack."""
    from stapel.monitoring.prometheus import scrapers

    return next(iter(scrapers(stack)), None)


def files(stack: Any) -> dict[str, str]:
    """{path relative to the output folder: text}; nothing without a Prometheus or Grafana in the stack."""
    from stapel.monitoring import grafana, prometheus

    view, out = compose_view(stack), {}
    if any(scrapes(n) for n in stack.components()):
        out[f"{FOLDER}/prometheus.yml"] = prometheus.config(stack, view)
    if any(shows(n) for n in stack.components()):
        out.update({f"{FOLDER}/grafana/{rel}": text for rel, text in grafana.files(stack, view, GRAFANA_PROVISIONING).items()})
    return out


def secret_files(stack: Any) -> dict[str, str]:
    """{file name under secrets/: text}: the scrapes' credentials, nothing without a Prometheus.

    prom/prometheus runs as nobody (65534), which cannot read a 0600 file of the host's user; inside a container only
    the mounted file's own mode counts. So each key is written 0644 and mounted alone (never the folder), and the
    secrets/ folder around it is 0700: other users of the host cannot reach it. It is rewritten in place (same
    inode), so a running container sees a new key: a bind-mounted file replaced by rename would not be."""
    from stapel.monitoring.prometheus import credential_files

    return credential_files(stack) if _prometheus(stack) else {}


def mounts(stack: Any, node: Any) -> list[str]:
    if not scrapes(node):
        return [PROVISIONING_MOUNT] if shows(node) else []
    from stapel.monitoring.prometheus import SECRETS_MOUNT
    from stapel.private import SECRETS_DIR

    return [SCRAPE_CONFIG_MOUNT, *(f"./{SECRETS_DIR}/{name}:{SECRETS_MOUNT}/{name}:ro" for name in secret_files(stack))]


def exporters(stack: Any, refs: Any) -> dict[str, dict[str, Any]]:
    """Compose services standing in for the metrics endpoint some kinds lack (secrets as ${VAR} of refs)."""
    from stapel.components.container import container_ports
    from stapel.render.compose_vars import escape

    prom = _prometheus(stack)
    if prom is None:
        return {}
    out = {}
    for node in stack.components():
        exporter = exporter_of(node)
        if exporter is None:
            continue
        name = exporter_name(node.name)
        if name in stack.nodes:
            raise ConfigError(f"{stack.file.name}: components.{node.name}: its Prometheus exporter would be the Compose "
                              f"service '{name}', which stapel.yaml already names", hint=f"rename '{name}'")
        env = exporter.compose_env(node, container_ports(node)["main"], refs.ref, escape)
        out[name] = {"image": exporter.image, "environment": env,
                     "depends_on": {node.name: {"condition": "service_healthy"}}, "restart": "on-failure"}
        if prom.config.profiles:
            out[name]["profiles"] = list(prom.config.profiles)
    return out
