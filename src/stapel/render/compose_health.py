"""Compose health checks from stapel's probes, runnable inside each image (pg_isready, redis-cli, rabbitmq-diagnostics,
curl/wget, bash's /dev/tcp where an image has nothing else). They keep the probe's budget (period x threshold) at an
interval of at least 1 s."""

from __future__ import annotations

import math
from typing import Any

from stapel.components.base import Node
from stapel.env.connections import HOST
from stapel.render import images
from stapel.render.compose_vars import Refs, escape


def duration(seconds: float) -> str:
    return f"{int(seconds)}s" if float(seconds).is_integer() else f"{round(seconds * 1000)}ms"


def _container_port(node: Node, port: int | None) -> int | None:
    """A probe's host port as seen inside the node's own container."""
    if node.is_service or port is None:
        return port
    inside = images.container_ports(node.kind)
    return next((inside[name] for name, host in node.ports.items() if host == port and name in inside), port)


def healthcheck(spec: Any, node: Node, refs: Refs) -> dict[str, Any] | None:
    if spec is None:
        return None
    test = _test(spec, node, refs)
    interval = max(spec.period_seconds, 1.0)
    check = {"test": test, "interval": duration(interval), "timeout": duration(spec.timeout_seconds),
             "retries": max(1, math.ceil(spec.period_seconds * spec.failure_threshold / interval))}
    if spec.initial_delay_seconds:
        check["start_period"] = duration(spec.initial_delay_seconds)
    return check


def _test(spec: Any, node: Node, refs: Refs) -> list[str]:
    p = spec.params
    port = _container_port(node, p.get("port"))
    if spec.type == "postgres":
        return ["CMD", "pg_isready", "-h", HOST, "-p", str(port), "-U", escape(p["user"]), "-d", escape(p["database"])]
    if spec.type == "redis":
        auth = f"-a '{refs.ref(f'{node.env_name}_PASSWORD', p['password'])}' " if p.get("password") else ""
        return ["CMD-SHELL", f"redis-cli --no-auth-warning {auth}-p {port} ping | grep -q PONG"]
    if spec.type in ("rabbitmq", "amqp"):
        return ["CMD", "rabbitmq-diagnostics", "-q", "check_running"]
    if spec.type == "consul":
        from stapel.components import consul

        return ["CMD-SHELL", consul.container_check(port)]
    if spec.type == "exec":
        return ["CMD", *(escape(a) for a in p["command"])]
    if spec.type == "http":
        url = f"{p.get('scheme') or 'http'}://{HOST}:{port}{escape(p.get('path') or '/')}"
        if node.kind == "prometheus":
            return ["CMD", "wget", "-q", "-O", "/dev/null", url]
        if node.kind == "qdrant":  # its image has bash but no curl, wget or nc (components/qdrant.py)
            from stapel.components import qdrant

            return ["CMD", "bash", "-c", escape(qdrant.container_check(port, p.get("path") or "/"))]
        if node.is_service:  # a project image may have neither curl nor wget (python:*-slim): python3 is the last resort
            fetch = f"python3 -c 'import sys, urllib.request; urllib.request.urlopen(sys.argv[1], timeout=5)' '{url}'"
            return ["CMD-SHELL", f"curl -fsS -o /dev/null '{url}' || wget -q -O /dev/null '{url}' || {fetch}"]
        return ["CMD-SHELL", f"curl -fsS -o /dev/null '{url}' || wget -q -O /dev/null '{url}'"]
    return ["CMD-SHELL", f"nc -z {HOST} {port} || bash -c ': </dev/tcp/{HOST}/{port}'"]
