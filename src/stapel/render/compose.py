"""stapel render compose: one contour as compose.yaml plus .env.compose (secrets, 0600).

Components run from their pinned official images (each kind's CONTAINER); services are built from their cwd (seed 004:
one Dockerfile per service) with the env stapel gives them natively, hosts = Compose service names, ports =
container ports. Host ports are the contour's, on 127.0.0.1. compose.yaml holds no secret: `${DB_PASSWORD}`
references resolve from .env.compose (`docker compose --env-file .env.compose up -d`); a secret that would
land literally in compose.yaml (a command line, an exec probe) is refused. The project name goes into
.env.compose as COMPOSE_PROJECT_NAME, not a top-level `name:`, which Debian's docker-compose 1.29 rejects.
Health checks: compose_health.py; ${VAR} references, escaping and the leak guard: compose_vars.py.
Services are also tagged `image: <stack>/<service>:<tag>` (--tag, default the git commit; `latest` refused
outside dev, as for Kubernetes: images.check_tags); provisioning, migrations and seeds are one-shot services
(render/jobs.py, compose_jobs.py) the services wait for.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from stapel.components.base import Node
from stapel.components.container import args_of, container_of, container_ports, env_of, file_key, files_of, image_of
from stapel.env.connections import HOST
from stapel.errors import ConfigError
from stapel.monitoring import compose as monitoring_compose
from stapel.private import write_secrets
from stapel.render import compose_jobs, compose_watch, images, jobs, rabbitmq_definitions
from stapel.render.compose_health import duration, healthcheck
from stapel.render.compose_vars import (
    Refs,
    check_leaks,
    compose_target,
    env_value,
    escape,
    image_env,
    relative,
    seed_refs,
)
from stapel.render.compose_vars import (
    env_text as env_text,  # the .env.compose beside compose.yaml: part of this module's API
)
from stapel.render.inside import LISTEN_ALL, compose_ports
from stapel.render.inside import inside as inside_stack

CONDITIONS = {"started": "service_started", "healthy": "service_healthy", "completed": "service_completed_successfully"}


def write_support_files(stack: Any, out: Path) -> list[str]:
    """Everything compose.yaml mounts, next to it: the monitoring config, the one-shots' scripts, RabbitMQ's
    definitions (0600, under secrets/) and the scrapes' credentials (0644 there: see monitoring/compose.py).
    Returns the paths written, relative to out."""
    written = write_monitoring(stack, out)
    written += write_container_files(stack, out)
    written += compose_jobs.write_files(out, jobs.one_shots(stack))
    written += rabbitmq_definitions.write_compose(stack, out)
    written += write_secrets(out, monitoring_compose.secret_files(stack), 0o644)
    return written


def write_monitoring(stack: Any, out: Path) -> list[str]:
    """monitoring/prometheus.yml and monitoring/grafana/** (mounted by the prometheus and grafana services)."""
    from stapel.monitoring.compose import files

    found = files(stack)
    for rel, text in found.items():
        (out / rel).parent.mkdir(parents=True, exist_ok=True)
        (out / rel).write_text(text)
    return list(found)


def write_container_files(stack: Any, out: Path) -> list[str]:
    """files/<node>/<name>: what a kind generates for its container (nginx.conf), mounted read-only."""
    written = []
    for node in stack.components():
        if node.runs:
            for path, text in files_of(stack, node, str).items():
                rel = f"files/{node.name}/{file_key(path)}"
                (out / rel).parent.mkdir(parents=True, exist_ok=True)
                (out / rel).write_text(text)
                written.append(rel)
    return written


def render(stack: Any, out_dir: Path | None = None, tag: str = "dev") -> dict[str, Any]:
    """The Compose document (paths relative to out_dir, default the project root). Pure: writes nothing."""
    return build(stack, out_dir, tag)[0]


def build(stack: Any, out_dir: Path | None = None, tag: str = "dev", registry: str | None = None) -> tuple[dict[str, Any], Refs]:
    out = Path(os.path.abspath(out_dir if out_dir is not None else stack.root))
    refs = Refs()
    seed_refs(stack, refs)
    services, volumes = {}, {}
    for node in stack.components():
        if not node.runs:  # an external component: no container, services get its URL
            continue
        services[node.name], volume = _component(stack, node, refs)
        volumes[volume] = {"name": volume}
    _check_ports(stack)
    services.update(monitoring_compose.exporters(stack, refs))
    shots = jobs.one_shots(stack)
    for node in stack.services():
        services[node.name] = _service(stack, node, refs, out, tag, registry)
        volumes.update({name: {"name": name} for name in service_volumes(stack, node)})
        waits = compose_jobs.wait_for(stack, shots, node)
        if waits:
            services[node.name].setdefault("depends_on", {}).update(waits)
    services.update(compose_jobs.services(stack, shots, services, refs, out, tag, registry))
    for body in services.values():
        body["networks"] = [stack.network]
    doc = {"services": services, "networks": {stack.network: {"name": stack.network}}, "volumes": volumes}
    check_leaks(stack, doc)
    return doc, refs


def document_text(stack: Any, doc: dict[str, Any]) -> str:
    import yaml

    head = (f"# Rendered by `stapel render compose` from {stack.file.name}: stack '{stack.name}', contour '{stack.instance}'.\n"
            "# Secrets and COMPOSE_PROJECT_NAME are in .env.compose: docker compose --env-file .env.compose up -d\n")
    return head + yaml.safe_dump(doc, sort_keys=False, default_flow_style=False, allow_unicode=True, width=1000)


def _check_ports(stack: Any) -> None:
    """Two parts of the contour on one host port would make `docker compose up` fail half-way."""
    taken: dict[int, str] = {}
    for node in stack.nodes.values():
        for port_name in ["main"] if node.is_service else container_ports(node) if node.runs else []:
            port, label = node.ports.get(port_name), node.name if port_name == "main" else f"{node.name}.{port_name}"
            if port in taken:
                raise ConfigError(f"{stack.file.name}: contours.{stack.contour}.ports: {taken[port]} and {label} both publish "
                                  f"host port {port}", hint=f"give one of them another port (contours.{stack.contour}.ports.set)")
            if port is not None:
                taken[port] = label


def _put(body: dict[str, Any], key: str, value: Any) -> None:
    if value:
        body[key] = value


def volume_name(stack: Any, key: str, default: str) -> str:
    """The contour's name for a volume (contours.<c>.volumes.<key>), else <stack>_<default>_<instance>: a named
    volume is global, so the project is in its name."""
    named = stack.settings.volumes.get(key) if stack.settings else None
    return named or f"{stack.name}_{default}_{stack.instance}"


def service_volumes(stack: Any, node: Node) -> dict[str, str]:
    """A service's named volumes: Compose volume name -> where it is mounted."""
    return {volume_name(stack, f"{node.name}.{name}", f"{node.name}-{name}"): path for name, path in node.config.volumes.items()}


def _component(stack: Any, node: Node, refs: Refs) -> tuple[dict[str, Any], str]:
    image, inside, target = image_of(node), container_ports(node), compose_target(refs, stack)
    volume = volume_name(stack, node.name, node.name)
    body: dict[str, Any] = {"image": image}
    _put(body, "command", args_of(node, target))
    _put(body, "environment", {**image_env(node, refs, env_of(node, target)), **{k: escape(v) for k, v in node.config.env.items()}})
    body["ports"] = [f"{HOST}:{node.ports[name]}:{port}" for name, port in inside.items() if name in node.ports]
    body["volumes"] = [f"{volume}:{container_of(node).data_path}", *monitoring_compose.mounts(stack, node),
                       *(f"./files/{node.name}/{file_key(path)}:{path}:ro" for path in files_of(stack, node, str))]
    rabbitmq_definitions.compose_parts(stack, node, body)  # a declared topology: loaded at boot from secrets/
    _put(body, "healthcheck", healthcheck(stack.probe(node), node, refs))
    _common(node, body)
    _put(body, "logging", compose_watch.logging(stack, node))
    _put(body, "profiles", list(node.config.profiles))
    return body, volume


def _common(node: Node, body: dict[str, Any]) -> None:
    restart = node.config.restart
    if restart.policy == "on-failure":
        body["restart"] = f"on-failure:{restart.max_restarts}" if restart.max_restarts else "on-failure"
    elif restart.policy == "always":
        body["restart"] = "always"


def _service(stack: Any, node: Node, refs: Refs, out: Path, tag: str, registry: str | None) -> dict[str, Any]:
    body: dict[str, Any] = {"image": images.service_image(stack.name, node.name, tag, registry),
                            "build": _build(stack, node, out), "command": [escape(a) for a in node.config.command]}
    _put(body, "env_file", [relative((stack.root / name).resolve(), out) for name in node.config.env_file])
    _put(body, "environment", _service_env(stack, node, refs))
    _put(body, "ports", [f"{HOST}:{node.port}:{node.port}"] if node.port else None)
    _put(body, "volumes", [f"{name}:{path}" for name, path in service_volumes(stack, node).items()])
    _put(body, "depends_on", {name: {"condition": _condition(stack, name, cond)} for name, cond in node.depends_on.items()
                              if stack.nodes[name].runs})  # an external component is no Compose service
    _put(body, "healthcheck", healthcheck(stack.probe(node), node, refs))
    _common(node, body)
    body["stop_grace_period"] = duration(node.config.stop_timeout_seconds)
    _put(body, "profiles", list(node.config.profiles))
    _put(body, "logging", compose_watch.logging(stack, node))
    _put(body, "develop", compose_watch.develop(stack, node, out))
    return body


def _build(stack: Any, node: Node, out: Path) -> dict[str, str]:
    """Compose's build: the context (services.<s>.build.context, default its cwd) and the Dockerfile when it is not
    the context's own."""
    found = images.build_of(stack, node, must_exist=False)  # a missing default Dockerfile is only warned about
    body = {"context": relative(found.context, out)}
    _put(body, "dockerfile", found.dockerfile_in_context())
    return body


def _condition(stack: Any, name: str, condition: str) -> str:
    """`healthy` on a node without a health check (a service without port or probe) can only mean started."""
    if condition == "healthy" and stack.probe(stack.nodes[name]) is None:
        return CONDITIONS["started"]
    return CONDITIONS[condition]


def _service_env(stack: Any, node: Node, refs: Refs) -> dict[str, str]:
    """What stapel gives the service natively (Stack.service_env + HOST/PORT + its env), hosts = Compose names."""
    from stapel.components import service

    network = inside_stack(stack, str, compose_ports, published=True)  # <NODE>_PUBLIC_URL: the host's ports
    given = network.service_env(network.nodes[node.name])
    env = dict(given)
    if node.port:
        env["HOST"], env["PORT"] = LISTEN_ALL, str(node.port)
    env.update(given.own({**service.read_env_files(node, stack.root), **env}))  # its env files: Compose reads them itself
    return {key: env_value(stack, key, value, refs) for key, value in env.items()}
