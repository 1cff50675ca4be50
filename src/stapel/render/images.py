"""Official images per component kind, pinned by version: a component's `version:` picks the tag."""

from __future__ import annotations

from typing import Any

from stapel.errors import ConfigError

# kind -> (image, default tag, container ports by stapel's port names, data path inside the container)
IMAGES: dict[str, tuple[str, str, dict[str, int], str]] = {
    "postgres": ("postgres", "16.4-bookworm", {"main": 5432}, "/var/lib/postgresql/data"),
    "redis": ("redis", "7.2.5-bookworm", {"main": 6379}, "/data"),
    "rabbitmq": ("rabbitmq", "3.13.7-management", {"main": 5672, "management": 15672}, "/var/lib/rabbitmq"),
    "prometheus": ("prom/prometheus", "v2.54.1", {"main": 9090}, "/prometheus"),
    "consul": ("hashicorp/consul", "1.19.2", {"main": 8500}, "/consul/data"),
    "qdrant": ("qdrant/qdrant", "v1.11.3", {"main": 6333, "grpc": 6334}, "/qdrant/storage"),
    "grafana": ("grafana/grafana", "11.2.0", {"main": 3000}, "/var/lib/grafana"),
}


def image_for(name: str, kind: str, config: Any) -> str:
    """`postgres:16.4-bookworm`; a component's version (e.g. 15) gives `postgres:15` instead."""
    if kind not in IMAGES:
        raise ConfigError(f"components.{name}.kind: no container image is known for kind '{kind}'",
                          hint=f"known: {', '.join(sorted(IMAGES))}")
    image, tag, _, _ = IMAGES[kind]
    version = getattr(config, "version", None)
    if version:
        suffix = "-management" if kind == "rabbitmq" else ""
        tag = f"{version}{suffix}"
    return f"{image}:{tag}"


def container_ports(kind: str) -> dict[str, int]:
    return dict(IMAGES[kind][2])


def data_path(kind: str) -> str:
    return IMAGES[kind][3]
