"""Image names and tags: the project's services' (built from their Dockerfiles), and the `latest` guard over every image
rendered. A component kind's own image and version -> tag rule live in its module (CONTAINER)."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from stapel.errors import ConfigError

# the project's own services: built from their Dockerfiles, tagged by the git commit (or --tag)


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
    from stapel.components.container import image_of

    found = [("--tag", tag)]
    found += [(f"components.{n.name}.version", _tag_of(image_of(n))) for n in stack.components() if n.runs]
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
