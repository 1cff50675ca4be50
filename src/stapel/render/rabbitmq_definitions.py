"""A declared topology as a definitions file the broker loads at every boot, in Compose and Kubernetes, for a kind
whose CONTAINER has boot_definitions (RabbitMQ): what `stapel provision` declares natively (provision/<kind>.py
`declared`: stapel.yaml, AsyncAPI documents, *_RABBITMQ_URL users), as the kind's `definitions(node, declared)`
writes it. The file holds password hashes, never a password; it is still private (a hash can be guessed at offline):
0600, git-ignored, never in compose.yaml or a manifest.

Compose (only when the contour declares a topology: steps.declared): secrets/<mq>-definitions.json next to
.env.compose (0600; secrets/.gitignore keeps the folder out of git) is bind-mounted read-only, and the service's
entrypoint becomes stapel/<mq>/entrypoint.sh (the kind's wrapper, no secret in it), which installs it for the
image's user and then execs the image's own entrypoint.
Kubernetes (every such component, so that all contours share one base StatefulSet): a Secret <mq>-definitions that
each overlay's secretGenerator makes from overlays/<contour>/secrets/<mq>-definitions.json, mounted 0440 with the
kind's fsGroup, and a ConfigMap <mq>-definitions-conf holding the config entry that names it.
"""

from __future__ import annotations

import importlib
import json
from pathlib import Path
from typing import Any

from stapel.components.base import BootDefinitions
from stapel.components.container import kind_of
from stapel.private import SECRETS_DIR, write_secrets
from stapel.render.k8s_objects import k8s_name


def boot_definitions(node: Any) -> BootDefinitions | None:
    facet = None if node.is_service else getattr(kind_of(node), "CONTAINER", None)
    return facet.boot_definitions if facet else None


def definitions(stack: Any, node: Any) -> dict[str, Any]:
    """The definitions document of one component (the kind's format)."""
    declared = importlib.import_module(f"stapel.provision.{node.kind}").declared  # its native provisioner's topology
    return kind_of(node).definitions(node, declared(stack, node))


def text(stack: Any, node: Any) -> str:
    return json.dumps(definitions(stack, node), indent=2) + "\n"


def file_name(node: Any) -> str:
    return f"{k8s_name(node.name)}-definitions.json"


# ---- Compose


def in_compose(stack: Any, node: Any) -> bool:
    from stapel.provision.steps import declared

    return boot_definitions(node) is not None and declared(stack, node)


def compose_parts(stack: Any, node: Any, body: dict[str, Any]) -> None:
    """The wrapper entrypoint and the two read-only mounts, for a component whose contour declares a topology."""
    boot = boot_definitions(node)
    if boot is None or not in_compose(stack, node):
        return
    body["entrypoint"] = ["sh", "/stapel/entrypoint.sh"]
    body["command"] = list(boot.command)  # an entrypoint given in Compose drops the image's CMD
    body["volumes"] += [f"./stapel/{node.name}/entrypoint.sh:/stapel/entrypoint.sh:ro", f"./{SECRETS_DIR}/{file_name(node)}:{boot.mounted}:ro"]


def compose_files(stack: Any) -> tuple[dict[str, str], dict[str, str]]:
    """({relative path: text} to write 0644, {name under secrets/: text} to write 0600), for `render compose` and the compose runtime."""
    nodes = {n.name: (n, boot) for n in stack.components() if (boot := boot_definitions(n)) and in_compose(stack, n)}
    return ({f"stapel/{name}/entrypoint.sh": boot.wrapper for name, (_, boot) in nodes.items()},
            {file_name(n): text(stack, n) for n, _ in nodes.values()})


def write_compose(stack: Any, out: Path) -> list[str]:
    """The entrypoint wrappers (0644, no secret) and the definitions (0600 under secrets/); the paths written."""
    import os

    public, private = compose_files(stack)
    for rel, body in public.items():
        (out / rel).parent.mkdir(parents=True, exist_ok=True)
        (out / rel).write_text(body)
        os.chmod(out / rel, 0o644)
    return [*public, *write_secrets(out, private)]


# ---- Kubernetes


def _conf_name(boot: BootDefinitions) -> str:
    return boot.conf_d.rsplit("/", 1)[1]


def k8s_volumes(node: Any) -> list[dict[str, Any]]:
    if boot_definitions(node) is None:
        return []
    name = k8s_name(node.name)
    return [{"name": "definitions", "secret": {"secretName": f"{name}-definitions", "defaultMode": 0o440}},
            {"name": "definitions-conf", "configMap": {"name": f"{name}-definitions-conf"}}]


def k8s_mounts(node: Any) -> list[dict[str, Any]]:
    boot = boot_definitions(node)
    if boot is None:
        return []
    return [{"name": "definitions", "mountPath": boot.k8s_dir, "readOnly": True},
            {"name": "definitions-conf", "mountPath": boot.conf_d, "subPath": _conf_name(boot), "readOnly": True}]


def k8s_objects(stack: Any, node: Any, labels: dict[str, str]) -> list[dict[str, Any]]:
    """The base's placeholder Secret (each overlay's secretGenerator replaces it) and the conf.d ConfigMap."""
    boot = boot_definitions(node)
    if boot is None:
        return []
    name = k8s_name(node.name)
    return [{"apiVersion": "v1", "kind": "Secret", "metadata": {"name": f"{name}-definitions", "labels": labels}, "type": "Opaque",
             "stringData": {"definitions.json": ""}},
            {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": f"{name}-definitions-conf", "labels": labels},
             "data": {_conf_name(boot): boot.conf_line.format(path=f"{boot.k8s_dir}/definitions.json")}}]


def k8s_generators(stack: Any) -> list[dict[str, Any]]:
    return [{"name": f"{k8s_name(n.name)}-definitions", "behavior": "replace", "files": [f"definitions.json={SECRETS_DIR}/{file_name(n)}"]}
            for n in stack.components() if boot_definitions(n) is not None]


def k8s_files(stacks_by_contour: dict[str, Any]) -> dict[str, str]:
    """{overlays/<contour>/secrets/<mq>-definitions.json: text}: written 0600 beside the overlay's secret env files."""
    return {f"overlays/{contour}/{SECRETS_DIR}/{file_name(n)}": text(stack, n)
            for contour, stack in stacks_by_contour.items() for n in stack.components() if boot_definitions(n) is not None}
