"""The monitoring part of `stapel render compose`: files written next to compose.yaml, their mounts, exporters.

    monitoring/prometheus.yml      mounted as /etc/prometheus/prometheus.yml into every prometheus service
    monitoring/grafana/...         mounted as /etc/grafana/provisioning into every grafana service
    secrets/<qdrant>-api.key       a Qdrant API key its /metrics needs, each file mounted read-only as
                                   /etc/prometheus/secrets/<qdrant>-api.key into every prometheus service (below)
    <node>-exporter                postgres-exporter / redis_exporter per PostgreSQL / Redis node, in the profiles of
                                   the (first) Prometheus; only when the stack has a Prometheus to scrape them
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from stapel.errors import ConfigError
from stapel.monitoring.views import EXPORTERS, compose_view, exporter_name

FOLDER = "monitoring"
GRAFANA_PROVISIONING = "/etc/grafana/provisioning"
MOUNTS = {"prometheus": f"./{FOLDER}/prometheus.yml:/etc/prometheus/prometheus.yml:ro",
          "grafana": f"./{FOLDER}/grafana:{GRAFANA_PROVISIONING}:ro"}


def _prometheus(stack: Any) -> Any:
    return next((n for n in stack.components() if n.kind == "prometheus"), None)


def files(stack: Any) -> dict[str, str]:
    """{path relative to the output folder: text}; nothing without a Prometheus or Grafana in the stack."""
    from stapel.monitoring import grafana, prometheus

    view, kinds, out = compose_view(stack), {n.kind for n in stack.components()}, {}
    if "prometheus" in kinds:
        out[f"{FOLDER}/prometheus.yml"] = prometheus.config(stack, view)
    if "grafana" in kinds:
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
    if node.kind == "grafana":  # its project dashboards refused here, while render still builds: nothing written yet
        from stapel.monitoring.grafana import project_dashboards

        project_dashboards(stack)
    if node.kind != "prometheus":
        return [MOUNTS[node.kind]] if node.kind in MOUNTS else []
    from stapel.monitoring.prometheus import SECRETS_MOUNT
    from stapel.private import SECRETS_DIR

    return [MOUNTS["prometheus"], *(f"./{SECRETS_DIR}/{name}:{SECRETS_MOUNT}/{name}:ro" for name in secret_files(stack))]


def exporters(stack: Any, refs: Any) -> dict[str, dict[str, Any]]:
    """Compose services standing in for the /metrics PostgreSQL and Redis lack (secrets as ${VAR} of refs)."""
    from stapel.render.compose_vars import escape
    from stapel.render.images import container_ports

    prom = _prometheus(stack)
    if prom is None:
        return {}
    out = {}
    for node in stack.components():
        if node.kind not in EXPORTERS:
            continue
        name, c = exporter_name(node.name), node.config
        if name in stack.nodes:
            raise ConfigError(f"{stack.file.name}: components.{node.name}: its Prometheus exporter would be the Compose "
                              f"service '{name}', which stapel.yaml already names", hint=f"rename '{name}'")
        password, port = f"{node.env_name}_PASSWORD", container_ports(node.kind)["main"]
        if node.kind == "postgres":
            env = {"DATA_SOURCE_URI": f"{node.name}:{port}/{escape(quote(c.database, safe=''))}?sslmode=disable",
                   "DATA_SOURCE_USER": escape(c.user), "DATA_SOURCE_PASS": refs.ref(password, c.password)}
        else:
            env = {"REDIS_ADDR": f"redis://{node.name}:{port}", **({"REDIS_PASSWORD": refs.ref(password, c.password)} if c.password else {})}
        out[name] = {"image": EXPORTERS[node.kind][0], "environment": env,
                     "depends_on": {node.name: {"condition": "service_healthy"}}, "restart": "on-failure"}
        if prom.config.profiles:
            out[name]["profiles"] = list(prom.config.profiles)
    return out
