"""The Kubernetes objects of one node (component or service) in one contour: workload, Service, env.

Everything here is pure: a Stack in, plain dicts out. The env a container gets is what stapel gives it
natively (same names, env_prefix included), with every host the k8s Service name and every port the
container's port (see `cluster_stack`). Secret keys go to a Secret, the rest to a ConfigMap.
"""

from __future__ import annotations

import math
from typing import Any

from stapel.components.base import Node
from stapel.engine.stack import Stack
from stapel.errors import ConfigError
from stapel.render import k8s_volumes
from stapel.render.images import container_ports, data_path, image_for
from stapel.render.inside import LISTEN_ALL, InsideStack, inside
from stapel.render.jobs import role_env

# kind -> (cpu request, memory request, cpu limit, memory limit, storage)
RESOURCES = {
    "postgres": ("100m", "256Mi", "1", "1Gi", "5Gi"),
    "redis": ("50m", "64Mi", "500m", "256Mi", "1Gi"),
    "rabbitmq": ("100m", "256Mi", "1", "1Gi", "2Gi"),
    "prometheus": ("100m", "256Mi", "1", "1Gi", "5Gi"),
    "consul": ("50m", "64Mi", "500m", "256Mi", "1Gi"),
    "qdrant": ("100m", "256Mi", "1", "1Gi", "5Gi"),
    "grafana": ("50m", "128Mi", "500m", "512Mi", "1Gi"),
    "service": ("50m", "64Mi", "500m", "512Mi", None),
}
STARTUP_FLOOR_SECONDS = 60  # stapel's budgets are for local processes; a pod may first run initdb on network storage
FS_GROUP = {"prometheus": 65534, "grafana": 472,  # images that run as a non-root user and write their volume
            "rabbitmq": 999}  # and RabbitMQ, whose definitions Secret (0440) its rabbitmq user reads
PART_OF = "app.kubernetes.io/part-of"


def k8s_name(name: str) -> str:
    """A DNS-1123 label: stapel names may hold `_`, Kubernetes names may not."""
    return name.lower().replace("_", "-")


def labels(stack: Stack, node: Node) -> dict[str, str]:
    return {"app.kubernetes.io/name": k8s_name(node.name), PART_OF: k8s_name(stack.name),
            "app.kubernetes.io/component": node.kind, "app.kubernetes.io/managed-by": "stapel"}


def selector(stack: Stack, node: Node) -> dict[str, str]:
    return {"app.kubernetes.io/name": k8s_name(node.name), PART_OF: k8s_name(stack.name)}


# ---- env: names as stapel gives them, hosts and ports as the cluster has them


def cluster_ports(node: Node) -> dict[str, int]:
    if node.is_service:
        return {"main": node.config.port} if node.config.port else {}
    return container_ports(node.kind)


def cluster_stack(stack: Stack) -> InsideStack:
    """Each node's host is its Service name, its ports the container's (a contour's port offset is for the host)."""
    return inside(stack, k8s_name, cluster_ports)


def secret_keys(stack: Stack):  # stapel.env.secrets.Secrets
    """The project's secret keys: declared under env.secrets, marked in an example, or named like one."""
    from stapel.env import envfiles
    from stapel.env.secrets import collect

    docs = [envfiles.read_doc(pair.example, pair.example.name)[0] for pair in envfiles.pairs(stack.root, stack.model.env)]
    return collect(stack.model.env, [doc for doc in docs if doc is not None])[0]


def component_env(node: Node, stack: Stack | None = None) -> dict[str, str]:
    """What the official image reads to create its user, database, vhost and password (and the passwords of the
    services' own Redis users, which its args name as $(VAR))."""
    c = node.config
    if node.kind == "redis" and stack is not None:
        from stapel.components import redis

        found: dict[str, str] = {}
        redis.user_args(node, stack.users_of(node), lambda var, value: found.setdefault(var, value))
        return {**component_env(node), **found}
    by_kind = {
        "postgres": lambda: {"POSTGRES_USER": c.user, "POSTGRES_PASSWORD": c.password, "POSTGRES_DB": c.database,
                             "PGDATA": f"{data_path('postgres')}/pgdata", **role_env(c)},  # role_env: for its provision Job
        "redis": lambda: {"REDIS_PASSWORD": c.password, "REDISCLI_AUTH": c.password} if c.password else {},
        "rabbitmq": lambda: {"RABBITMQ_DEFAULT_USER": c.user, "RABBITMQ_DEFAULT_PASS": c.password, "RABBITMQ_DEFAULT_VHOST": c.vhost},
        "grafana": lambda: {"GF_SECURITY_ADMIN_USER": c.user, "GF_SECURITY_ADMIN_PASSWORD": c.password},
        "consul": lambda: _kind(node).container_env(container_ports(node.kind), c),
        "qdrant": lambda: _kind(node).container_env(container_ports(node.kind), c),
    }
    return {**by_kind.get(node.kind, dict)(), **c.env}


def node_env(stack: Stack, cluster: InsideStack, node: Node, known: Any) -> tuple[dict[str, str], dict[str, str]]:
    """(plain, secret) env of a node's container. Refuses a secret value under a key that is not secret:
    what is secret is decided by declaration, never by a value that happens to match today."""
    from stapel.components.service import declared_env
    from stapel.env.masking import secrets_in

    section = "services" if node.is_service else "components"
    if node.is_service:
        inner = cluster.nodes[node.name]
        env = declared_env(inner, stack.root, cluster.service_env(inner), listen=LISTEN_ALL)
    else:
        env = component_env(node, stack)
    plain, secret = {}, {}
    for key, value in sorted(env.items()):
        is_secret = key in known or secrets_in(value) or (not node.is_service and key in _KIND_SECRETS)
        (secret if is_secret else plain)[key] = value
    mask = stack.masker()
    for key, value in plain.items():
        if mask(value) != value:
            where = "env_file" if node.is_service and key not in node.config.env and key in _from_files(stack, node) else "env"
            raise ConfigError(f"{section}.{node.name}.{where}: {key} holds a secret value but is not a secret key, so it would land "
                              f"in a ConfigMap", hint="declare it under env.secrets or mark it `# stapel: secret` in its example")
    return plain, secret


def _from_files(stack: Stack, node: Node) -> dict[str, str]:
    from stapel.components.service import read_env_files

    return read_env_files(node, stack.root)


_KIND_SECRETS = {"POSTGRES_PASSWORD", "REDIS_PASSWORD", "REDISCLI_AUTH", "RABBITMQ_DEFAULT_PASS", "GF_SECURITY_ADMIN_PASSWORD",
                 "QDRANT__SERVICE__API_KEY"}


def _kind(node: Node):  # the kind's module (consul and qdrant say how they look in a container)
    from stapel.components import kind_module

    return kind_module(node.kind)


# ---- probes


def probes(stack: Stack, node: Node) -> dict[str, Any]:
    """readiness, liveness and startup probes from stapel's own probe of the node (none: no probes)."""
    spec = stack.probe(node)
    if spec is None:
        return {}
    check = _check(node, spec)
    period = max(1, math.ceil(spec.period_seconds))
    timeout = max(5 if "exec" in check else 1, math.ceil(spec.timeout_seconds))
    if node.kind == "rabbitmq":
        timeout = max(timeout, 10)  # rabbitmq-diagnostics boots an Erlang VM per call
    startup_threshold = math.ceil(max(spec.budget_seconds, STARTUP_FLOOR_SECONDS) / period)
    return {
        "startupProbe": {**check, "initialDelaySeconds": math.ceil(spec.initial_delay_seconds), "periodSeconds": period,
                         "timeoutSeconds": timeout, "failureThreshold": startup_threshold},
        "readinessProbe": {**check, "periodSeconds": max(period, 5), "timeoutSeconds": timeout, "failureThreshold": 3},
        "livenessProbe": {**check, "periodSeconds": max(period, 10), "timeoutSeconds": timeout, "failureThreshold": 3},
    }


def _check(node: Node, spec: Any) -> dict[str, Any]:
    p, port = spec.params, _container_port(node, spec.params.get("port"))
    if spec.type == "http":
        return {"httpGet": {"path": p.get("path") or "/", "port": port, "scheme": str(p.get("scheme") or "http").upper()}}
    if spec.type in ("tcp", "amqp"):
        return {"tcpSocket": {"port": port}}
    if spec.type == "exec":
        return {"exec": {"command": list(p["command"])}}
    if spec.type == "postgres":
        return {"exec": {"command": ["pg_isready", "-h", "127.0.0.1", "-p", str(port), "-U", p["user"], "-d", p["database"]]}}
    if spec.type == "redis":  # REDISCLI_AUTH (from the Secret) authenticates; PING answers PONG only when it did
        return {"exec": {"command": ["sh", "-c", "redis-cli -p " + str(port) + " ping | grep -q PONG"]}}
    if spec.type == "rabbitmq":
        return {"exec": {"command": ["rabbitmq-diagnostics", "-q", "check_running"]}}
    if spec.type == "consul":  # httpGet would pass before a leader is elected: /v1/status/leader answers 200 "" then
        return {"exec": {"command": ["sh", "-c", _kind(node).container_check(port)]}}
    return {"tcpSocket": {"port": port}}


def _container_port(node: Node, port: Any) -> Any:
    """A probe's host port (moved by the contour's offset) as the container's port of the same name."""
    inside = cluster_ports(node)
    for name, number in node.ports.items():
        if number == port and name in inside:
            return inside[name]
    return port if port is not None else inside.get("main")


# ---- objects


def service_object(stack: Stack, node: Node) -> dict[str, Any] | None:
    from stapel.monitoring import k8s as monitoring

    ports = cluster_ports(node)
    if not ports:
        return None
    return {"apiVersion": "v1", "kind": "Service",
            "metadata": {"name": k8s_name(node.name), "labels": labels(stack, node)},
            "spec": {"selector": selector(stack, node),
                     "ports": [{"name": name, "port": number, "targetPort": name} for name, number in ports.items()]
                     + monitoring.service_ports(stack, node)}}


def config_map(stack: Stack, node: Node, plain: dict[str, str]) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": f"{k8s_name(node.name)}-env", "labels": labels(stack, node)}, "data": dict(plain)}


def secret_object(stack: Stack, node: Node, keys: list[str]) -> dict[str, Any]:
    """Placeholders only: each overlay's secretGenerator replaces it from its secrets/<node>.env (never committed)."""
    return {"apiVersion": "v1", "kind": "Secret",
            "metadata": {"name": f"{k8s_name(node.name)}-secrets", "labels": labels(stack, node)},
            "type": "Opaque", "stringData": {key: "" for key in sorted(keys)}}


def container(stack: Stack, node: Node, image: str, has_secret: bool) -> dict[str, Any]:
    name = k8s_name(node.name)
    cpu, memory, cpu_limit, memory_limit, _ = RESOURCES[node.kind]
    body: dict[str, Any] = {"name": name, "image": image}
    args = _args(node, stack)
    if args:
        body["args"] = args
    ports = cluster_ports(node)
    if ports:
        body["ports"] = [{"name": port_name, "containerPort": number} for port_name, number in ports.items()]
    body["envFrom"] = [{"configMapRef": {"name": f"{name}-env"}}] + ([{"secretRef": {"name": f"{name}-secrets"}}] if has_secret else [])
    body.update(probes(stack, node))
    body["resources"] = {"requests": {"cpu": cpu, "memory": memory}, "limits": {"cpu": cpu_limit, "memory": memory_limit}}
    if not node.is_service:
        from stapel.monitoring import k8s as monitoring
        from stapel.render import rabbitmq_definitions

        body["volumeMounts"] = [{"name": claim_name(stack, node), "mountPath": data_path(node.kind)}, *monitoring.mounts(stack, node),
                                *rabbitmq_definitions.k8s_mounts(node)]
    elif node.config.volumes:
        body["volumeMounts"] = k8s_volumes.mounts(node)
    return body


def claim_name(stack: Stack, node: Node) -> str:
    """The contour's volume name (contours.<c>.volumes), else `data`; the PVC is <claim>-<node>-0."""
    volume = stack.settings.volumes.get(node.name) if stack.settings else None
    return k8s_name(volume) if volume else "data"


def _args(node: Node, stack: Stack) -> list[str]:
    """Server arguments the image's entrypoint passes on ($(VAR) is expanded by Kubernetes from the env)."""
    if node.kind == "postgres":
        return list(node.config.args)
    if node.kind == "redis":
        from stapel.components import redis

        users = redis.user_args(node, stack.users_of(node), lambda var, value: f"$({var})")
        return (["--requirepass", "$(REDIS_PASSWORD)"] if node.config.password else []) + users + list(node.config.args)
    if node.kind == "consul":
        return _kind(node).CONTAINER_ARGS + list(node.config.args)
    return []


def stateful_set(stack: Stack, node: Node, has_secret: bool) -> dict[str, Any]:
    from stapel.monitoring import k8s as monitoring
    from stapel.render import rabbitmq_definitions

    name, storage = k8s_name(node.name), RESOURCES[node.kind][4]
    pod: dict[str, Any] = {"containers": [container(stack, node, image_for(node.name, node.kind, node.config), has_secret),
                                          *monitoring.sidecars(stack, node, has_secret)]}
    if monitoring.volumes(stack, node) or rabbitmq_definitions.k8s_volumes(node):
        pod["volumes"] = [*monitoring.volumes(stack, node), *rabbitmq_definitions.k8s_volumes(node)]
    if node.kind in FS_GROUP:
        pod["securityContext"] = {"fsGroup": FS_GROUP[node.kind]}
    return {"apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": {"name": name, "labels": labels(stack, node)},
            "spec": {"serviceName": name, "replicas": 1, "selector": {"matchLabels": selector(stack, node)},
                     "template": {"metadata": {"labels": labels(stack, node)}, "spec": pod},
                     "volumeClaimTemplates": [{"metadata": {"name": claim_name(stack, node)},
                                               "spec": {"accessModes": ["ReadWriteOnce"],
                                                        "resources": {"requests": {"storage": storage}}}}]}}


def deployment(stack: Stack, node: Node, image: str, has_secret: bool) -> dict[str, Any]:
    pod: dict[str, Any] = {"containers": [container(stack, node, image, has_secret)]}
    if node.config.volumes:
        pod["volumes"] = k8s_volumes.pod_volumes(node)
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": k8s_name(node.name), "labels": labels(stack, node)},
            "spec": {"replicas": 1, **k8s_volumes.strategy(node), "selector": {"matchLabels": selector(stack, node)},
                     "template": {"metadata": {"labels": labels(stack, node)}, "spec": pod}}}
