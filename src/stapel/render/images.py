"""Image names and tags: the project's services' (built from their Dockerfiles), and the `latest` guard over every image
rendered. A component kind's own image and version -> tag rule live in its module (CONTAINER)."""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any, NamedTuple

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


class Build(NamedTuple):
    """Where a service's image is built from: the context folder and the Dockerfile (absolute paths)."""

    context: Path
    dockerfile: Path

    def dockerfile_in_context(self) -> str | None:
        """The Dockerfile relative to the context when it is not the context's own `Dockerfile` (Compose's, docker
        build's -f), else None."""
        if self.dockerfile == self.context / "Dockerfile":
            return None
        return os.path.relpath(self.dockerfile, self.context)

    def folder_in_context(self, folder: Path) -> str:
        """A folder of the project as the context names it ("." for the context itself)."""
        return Path(os.path.relpath(folder, self.context)).as_posix()


def build_of(stack: Any, node: Any, must_exist: bool = True) -> Build:
    """A service's `build:` resolved: context (default its cwd) inside the project, Dockerfile (default the one in its
    cwd) relative to the context (`must_exist=False`: it may be missing, for `render dockerfile`). ConfigError naming
    services.<s>.build.context / .dockerfile when they are wrong."""
    from stapel.components.service import cwd

    root, folder, spec = stack.root.resolve(), cwd(node, stack.root).resolve(), node.config.build
    where = f"services.{node.name}.build"
    context = (root / spec.context).resolve() if spec and spec.context else folder
    if spec and spec.context and context != root and root not in context.parents:
        raise ConfigError(f"{where}.context: '{spec.context}' is outside the project ({root})",
                          hint="give a folder relative to the project root, inside it (`.` is the root)")
    if spec and spec.context and not context.is_dir():
        raise ConfigError(f"{where}.context: '{spec.context}' is no folder ({context})", hint="create it or fix the path")
    if context != folder and context not in folder.parents:
        raise ConfigError(f"{where}.context: '{spec.context}' does not hold the service's cwd ({folder})",
                          hint="give a folder that contains it (its code goes into the image), e.g. `.`")
    if spec and spec.dockerfile:
        dockerfile = (context / spec.dockerfile).resolve()
        if dockerfile != root and root not in dockerfile.parents:
            raise ConfigError(f"{where}.dockerfile: '{spec.dockerfile}' is outside the project ({root})",
                              hint="keep the Dockerfile inside the project")
        if must_exist and not dockerfile.is_file():
            raise ConfigError(f"{where}.dockerfile: '{spec.dockerfile}' is no file ({dockerfile}; relative to the context "
                              f"{os.path.relpath(context, root)})",
                              hint=f"write one (stapel render dockerfile --service {node.name}) or fix the path")
        return Build(context, dockerfile)
    return Build(context, folder / "Dockerfile")


def missing_dockerfiles(stack: Any) -> list[str]:
    """One warning line per service whose Dockerfile (its cwd's, without build.dockerfile) is missing."""
    found = []
    for node in stack.services():
        dockerfile = build_of(stack, node).dockerfile
        if not dockerfile.is_file():
            found.append(f"services.{node.name}: no Dockerfile in {dockerfile.parent}; write a starter one with "
                         f"`stapel render dockerfile --service {node.name}`")
    return found
