"""The Kubernetes objects of one node (component or service) in one contour: workload, Service, env.

Everything here is pure: a Stack in, plain dicts out. The env a container gets is what stapel gives it
natively (same names, env_prefix included), with every host the k8s Service name and every port the
container's port (see `cluster_stack`). Secret keys go to a Secret, the rest to a ConfigMap.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from stapel.components.base import Node, Target
from stapel.components.container import args_of, container_of, container_ports, env_of, file_key, files_of, image_of, resources_of
from stapel.components.stack import Stack
from stapel.errors import ConfigError
from stapel.probes import InContainer
from stapel.probes.forms import kubernetes_probes
from stapel.render import k8s_volumes
from stapel.render.inside import LISTEN_ALL, InsideStack, inside

# A kind's container as Kubernetes has it: a secret on the command line is $(KEY), expanded from the pod's env.
KUBERNETES = Target("kubernetes", lambda node, key, value: f"$({key})", ref=lambda variable, value: f"$({variable})")
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
    if not node.runs:  # an external component: its URL says where it is
        return dict(node.ports)
    if node.is_service:
        return {"main": node.config.port} if node.config.port else {}
    return container_ports(node)


def cluster_stack(stack: Stack) -> InsideStack:
    """Each node's host is its Service name, its ports the container's (a contour's port offset is for the host)."""
    return inside(stack, k8s_name, cluster_ports)


def secret_keys(stack: Stack):  # stapel.env.secrets.Secrets
    """The project's secret keys: declared under env.secrets, marked in an example, or named like one."""
    from stapel import envdoc
    from stapel.env import envfiles
    from stapel.env.secrets import collect

    docs = [envdoc.read_doc(pair.example, pair.example.name)[0] for pair in envfiles.pairs(stack.root, stack.model.env)]
    return collect(stack.model.env, [doc for doc in docs if doc is not None])[0]


def component_env(node: Node, stack: Stack | None = None) -> dict[str, str]:
    """What the official image reads to create its user, database, vhost and password (and, with the stack, what its
    args name as $(VAR): the passwords of the services' own Redis users)."""
    return {**env_of(node, replace(KUBERNETES, stack=stack)), **node.config.env}


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
    plain: dict[str, str] = {}
    secret: dict[str, str] = {}
    for key, value in sorted(env.items()):
        is_secret = key in known or secrets_in(value) or (not node.is_service and key in container_of(node).secret_env)
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


# ---- probes


def probes(stack: Stack, node: Node) -> dict[str, Any]:
    """readiness, liveness and startup probes from stapel's own probe of the node (none: no probes)."""
    spec = stack.probe(node)
    if spec is None:
        return {}
    return kubernetes_probes(spec, InContainer(port=_container_port(node, spec.params.get("port"))))


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
    res = resources_of(node)
    body: dict[str, Any] = {"name": name, "image": image}
    args = [] if node.is_service else args_of(node, replace(KUBERNETES, stack=stack))
    if args:
        body["args"] = args
    ports = cluster_ports(node)
    if ports:
        body["ports"] = [{"name": port_name, "containerPort": number} for port_name, number in ports.items()]
    body["envFrom"] = [{"configMapRef": {"name": f"{name}-env"}}] + ([{"secretRef": {"name": f"{name}-secrets"}}] if has_secret else [])
    body.update(probes(stack, node))
    body["resources"] = {"requests": {"cpu": res.cpu, "memory": res.memory}, "limits": {"cpu": res.cpu_limit, "memory": res.memory_limit}}
    if not node.is_service:
        from stapel.monitoring import k8s as monitoring
        from stapel.render import rabbitmq_definitions

        body["volumeMounts"] = [{"name": claim_name(stack, node), "mountPath": container_of(node).data_path}, *monitoring.mounts(stack, node),
                                *rabbitmq_definitions.k8s_mounts(node),
                                *({"name": FILES, "mountPath": path, "subPath": file_key(path), "readOnly": True}
                                  for path in files_of(stack, node, k8s_name, "kubernetes"))]
    elif node.config.volumes:
        body["volumeMounts"] = k8s_volumes.mounts(node)
    return body


FILES = "files"  # the ConfigMap <node>-files: what a kind generates for its container (nginx.conf)


def files_config_map(stack: Stack, node: Node) -> dict[str, Any] | None:
    files = {} if node.is_service else files_of(stack, node, k8s_name, "kubernetes")
    if not files:
        return None
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": f"{k8s_name(node.name)}-{FILES}", "labels": labels(stack, node)},
            "data": {file_key(path): text for path, text in files.items()}}


def claim_name(stack: Stack, node: Node) -> str:
    """The contour's volume name (contours.<c>.volumes), else `data`; the PVC is <claim>-<node>-0."""
    volume = stack.settings.volumes.get(node.name) if stack.settings else None
    return k8s_name(volume) if volume else "data"


def stateful_set(stack: Stack, node: Node, has_secret: bool) -> dict[str, Any]:
    from stapel.monitoring import k8s as monitoring
    from stapel.render import rabbitmq_definitions

    name, storage, fs_group = k8s_name(node.name), container_of(node).resources.storage, container_of(node).fs_group
    pod: dict[str, Any] = {"containers": [container(stack, node, image_of(node), has_secret),
                                          *monitoring.sidecars(stack, node, has_secret)]}
    files = [{"name": FILES, "configMap": {"name": f"{name}-{FILES}"}}] if files_of(stack, node, k8s_name, "kubernetes") else []
    if monitoring.volumes(stack, node) or rabbitmq_definitions.k8s_volumes(node) or files:
        pod["volumes"] = [*monitoring.volumes(stack, node), *rabbitmq_definitions.k8s_volumes(node), *files]
    if fs_group is not None:
        pod["securityContext"] = {"fsGroup": fs_group}
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
