"""Official images per component kind, pinned by version: a component's `version:` picks the tag."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from stapel.errors import ConfigError

# kind -> (image, default tag, container ports by stapel's port names, data path inside the container)
IMAGES: dict[str, tuple[str, str, dict[str, int], str]] = {
    "postgres": ("postgres", "16.4-bookworm", {"main": 5432}, "/var/lib/postgresql/data"),
    "redis": ("redis", "7.2.5-bookworm", {"main": 6379}, "/data"),
    "rabbitmq": ("rabbitmq", "3.13.7-management", {"main": 5672, "management": 15672, "prometheus": 15692}, "/var/lib/rabbitmq"),
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


# ---- the project's own services: built from their Dockerfiles, tagged by the git commit (or --tag)


REGISTRY = re.compile(r"^[a-z0-9]+([._-][a-z0-9]+)*(:[0-9]+)?(/[a-z0-9]+([._-][a-z0-9]+)*)*$")


def service_image(stack_name: str, service_name: str, tag: str, registry: str | None = None) -> str:
    """`[<registry>/]<stack>/<service>:<tag>`, the same name in Compose and Kubernetes (lower case, `_` as `-`)."""
    name = lambda text: text.lower().replace("_", "-")  # noqa: E731
    return f"{registry + '/' if registry else ''}{name(stack_name)}/{name(service_name)}:{tag}"


def check_registry(registry: str | None) -> str | None:
    """--registry (or $STAPEL_REGISTRY): a registry host with an optional port and path, e.g. ghcr.io/acme."""
    if registry is None or REGISTRY.match(registry):
        return registry
    raise ConfigError(f"--registry: '{registry}' is not an image registry prefix",
                      hint="give a host, an optional :port and path in lower case, e.g. ghcr.io/acme or localhost:5000")


def git_tag(root: Path) -> str:
    """The project's commit (`git rev-parse --short HEAD`), else "dev"."""
    import subprocess

    try:
        done = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=root, capture_output=True, text=True, timeout=5)
    except (OSError, subprocess.SubprocessError):
        return "dev"
    return done.stdout.strip() if done.returncode == 0 and done.stdout.strip() else "dev"


def check_tags(stack: Any, tag: str, warn: Callable[[str], None]) -> None:
    """Image tag `latest` (--tag, or a component's version): refused outside the contour dev, because what runs
    there must be named; warned about in dev."""
    found = [("--tag", tag)]
    found += [(f"components.{n.name}.version", _tag_of(image_for(n.name, n.kind, n.config))) for n in stack.components()]
    for where, value in found:
        if value != "latest":
            continue
        if stack.contour != "dev":
            raise ConfigError(f"{where}: image tag 'latest' is refused for contour '{stack.contour}' (outside dev)",
                              hint="pin a version or a commit")
        warn(f"{where}: image tag 'latest' in contour dev: what runs changes without stapel.yaml changing")


def _tag_of(image: str) -> str:
    return image.rsplit(":", 1)[1] if ":" in image.rsplit("/", 1)[-1] else "latest"


def missing_dockerfiles(stack: Any) -> list[str]:
    """One warning line per service whose cwd has no Dockerfile (what `build:` needs)."""
    from stapel.components.service import cwd

    return [f"services.{node.name}: no Dockerfile in {cwd(node, stack.root)}; write a starter one with "
            f"`stapel render dockerfile --service {node.name}`"
            for node in stack.services() if not (cwd(node, stack.root) / "Dockerfile").is_file()]
