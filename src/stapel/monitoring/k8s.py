"""The monitoring part of `stapel render k8s`: ConfigMaps, the scrape credentials' Secret, their mounts, exporter sidecars.

    <prom>-prometheus                 ConfigMap with prometheus.yml, mounted (subPath) as /etc/prometheus/prometheus.yml
                                      (into a node whose kind SCRAPES_STACK; the Grafana ones into a SHOWS_STACK one)
    <prom>-scrape-credentials         Secret with <qdrant>-api.key per node whose kind's scrape_key is not None (a
                                      Qdrant node: its API key; empty without one),
                                      mounted 0440 (fsGroup 65534: the image's nobody) as /etc/prometheus/secrets;
                                      each overlay's secretGenerator makes it from overlays/<contour>/secrets/, so the
                                      base holds placeholders only. Every Qdrant node has its file, so every contour
                                      shares one StatefulSet whichever of them sets an api_key
    <grafana>-grafana-datasources     datasources/stapel.yaml    } mounted (subPath) into /etc/grafana/provisioning
    <grafana>-grafana-providers       dashboards/stapel.yaml     }
    <grafana>-grafana-dashboards      the dashboards' JSON, mounted as /etc/grafana/provisioning/dashboards/stapel
    exporter sidecar                  the kind's EXPORTER (postgres-exporter, redis_exporter) in the node's pod, reading its
                                      own ConfigMap and Secret (so it never differs per contour), port `metrics` on
                                      the node's Service; only when the stack has a Prometheus to scrape it

Files are the same for every contour unless something real differs (a scrape interval, a service's port): an overlay
then replaces the ConfigMap's data with a JSON patch.
"""

from __future__ import annotations

from typing import Any

from stapel.components import kind_module
from stapel.monitoring.views import exporter_of, k8s_view, scrapes, shows

PROVISIONING = "/etc/grafana/provisioning"
CREDENTIALS = "scrape-credentials"  # <prom>-scrape-credentials: the Secret with the scrapes' credential files
SIDECAR_RESOURCES = {"requests": {"cpu": "10m", "memory": "32Mi"}, "limits": {"cpu": "100m", "memory": "64Mi"}}
# config map suffix -> (folder in grafana.files, mount path, subPath or None for the whole folder)
GRAFANA_MAPS = {"grafana-datasources": ("datasources", f"{PROVISIONING}/datasources/stapel.yaml", "stapel.yaml"),
                "grafana-providers": ("dashboards", f"{PROVISIONING}/dashboards/stapel.yaml", "stapel.yaml"),
                "grafana-dashboards": ("dashboards/stapel", f"{PROVISIONING}/dashboards/stapel", None)}


def _name(node: Any) -> str:
    from stapel.render.k8s_objects import k8s_name

    return k8s_name(node.name)


def _data(stack: Any, node: Any) -> dict[str, dict[str, str]]:
    """config map suffix -> its data, for a node whose kind scrapes the stack or shows it."""
    from stapel.monitoring import grafana, prometheus

    if scrapes(node):
        return {node.kind: {"prometheus.yml": prometheus.config(stack, k8s_view(stack))}}  # <prom>-<its kind>
    if not shows(node):
        return {}
    view = k8s_view(stack)
    files = grafana.files(stack, view, PROVISIONING)
    return {suffix: {rel.rsplit("/", 1)[1]: text for rel, text in files.items() if rel.rsplit("/", 1)[0] == folder}
            for suffix, (folder, _, _) in GRAFANA_MAPS.items()}


def config_maps(stack: Any, node: Any) -> list[dict[str, Any]]:
    from stapel.render.k8s_objects import labels

    return [{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": f"{_name(node)}-{suffix}", "labels": labels(stack, node)},
             "data": data} for suffix, data in _data(stack, node).items()]


def patches(stack: Any, base_stack: Any) -> list[dict[str, Any]]:
    """JSON patches for the ConfigMaps whose data differs in this contour from the base's."""
    found = []
    for node in stack.components():
        theirs = _data(base_stack, base_stack.nodes[node.name])
        for suffix, data in _data(stack, node).items():
            if data != theirs.get(suffix):
                found.append({"target": {"kind": "ConfigMap", "name": f"{_name(node)}-{suffix}"},
                              "patch": _dump([{"op": "replace", "path": "/data", "value": data}])})
    return found


def _dump(ops: list[dict[str, Any]]) -> str:
    """YAML with multi-line strings as blocks (a patched prometheus.yml stays readable in the overlay)."""
    import yaml

    class Dumper(yaml.SafeDumper):
        pass

    Dumper.add_representer(str, lambda d, v: d.represent_scalar("tag:yaml.org,2002:str", v, style="|" if "\n" in v else None))
    return yaml.dump(ops, Dumper=Dumper, sort_keys=False, default_flow_style=False, width=1000)


def _qdrants(stack: Any) -> list[Any]:
    """The nodes whose scrape sends a credential (Qdrant's API key), none without a scraper of the stack."""
    from stapel.monitoring.prometheus import keyed

    return keyed(stack)


def credential_secrets(stack: Any, node: Any) -> list[dict[str, Any]]:
    """The base's placeholder for a Prometheus node's scrape credentials (each overlay's secretGenerator replaces it)."""
    from stapel.monitoring.prometheus import key_file
    from stapel.render.k8s_objects import labels

    if not scrapes(node) or not _qdrants(stack):
        return []
    return [{"apiVersion": "v1", "kind": "Secret", "metadata": {"name": f"{_name(node)}-{CREDENTIALS}", "labels": labels(stack, node)},
             "type": "Opaque", "stringData": {key_file(q): "" for q in _qdrants(stack)}}]


def generators(stack: Any) -> list[dict[str, Any]]:
    from stapel.monitoring.prometheus import key_file

    files = [f"{key_file(q)}=secrets/{key_file(q)}" for q in _qdrants(stack)]
    return [{"name": f"{_name(n)}-{CREDENTIALS}", "behavior": "replace", "files": files}
            for n in stack.components() if scrapes(n) and files]


def secret_files(stacks_by_contour: dict[str, Any]) -> dict[str, str]:
    """{overlays/<contour>/secrets/<qdrant>-api.key: the key, or nothing}: written 0600 beside the secret env files."""
    from stapel.monitoring.prometheus import key_file

    return {f"overlays/{contour}/secrets/{key_file(q)}": kind_module(q.kind).scrape_key(q.config) or ""
            for contour, stack in stacks_by_contour.items() for q in _qdrants(stack)}


def volumes(stack: Any, node: Any) -> list[dict[str, Any]]:
    suffixes = [node.kind] if scrapes(node) else list(GRAFANA_MAPS) if shows(node) else []
    found = [{"name": suffix, "configMap": {"name": f"{_name(node)}-{suffix}"}} for suffix in suffixes]
    if credential_secrets(stack, node):
        found.append({"name": CREDENTIALS, "secret": {"secretName": f"{_name(node)}-{CREDENTIALS}", "defaultMode": 0o440}})
    return found


def mounts(stack: Any, node: Any) -> list[dict[str, Any]]:
    from stapel.monitoring.prometheus import SECRETS_MOUNT

    if scrapes(node):
        config = {"name": node.kind, "mountPath": "/etc/prometheus/prometheus.yml", "subPath": "prometheus.yml", "readOnly": True}
        keys = [{"name": CREDENTIALS, "mountPath": SECRETS_MOUNT, "readOnly": True}] if credential_secrets(stack, node) else []
        return [config, *keys]
    if not shows(node):
        return []
    return [{"name": suffix, "mountPath": path, **({"subPath": sub} if sub else {}), "readOnly": True}
            for suffix, (_, path, sub) in GRAFANA_MAPS.items()]


def _scraped(stack: Any, node: Any) -> Any:
    """The exporter beside `node` when its kind has one and the stack has a scraper, else None."""
    from stapel.monitoring.prometheus import scrapers

    return exporter_of(node) if scrapers(stack) else None


def service_ports(stack: Any, node: Any) -> list[dict[str, Any]]:
    exporter = _scraped(stack, node)
    if exporter is None:
        return []
    return [{"name": "metrics", "port": exporter.port, "targetPort": "metrics"}]


def sidecars(stack: Any, node: Any, has_secret: bool) -> list[dict[str, Any]]:
    """The kind's exporter beside the node, on 127.0.0.1 of the pod; $(VAR) comes from the node's env."""
    from stapel.components.container import container_ports

    exporter = _scraped(stack, node)
    if exporter is None:
        return []
    env, name = exporter.k8s_env(container_ports(node)["main"]), _name(node)
    return [{"name": "exporter", "image": exporter.image,
             "ports": [{"name": "metrics", "containerPort": exporter.port}],
             "envFrom": [{"configMapRef": {"name": f"{name}-env"}}] + ([{"secretRef": {"name": f"{name}-secrets"}}] if has_secret else []),
             "env": [{"name": key, "value": value} for key, value in env.items()],
             "resources": SIDECAR_RESOURCES}]
