"""A service's named volumes in Kubernetes (`services.<s>.volumes`): a PersistentVolumeClaim each, mounted where
stapel.yaml says. Each contour's namespace keeps its own claims, so a claim is simply `<service>-<volume>`. Such a
Deployment replaces its pod instead of rolling it: a second pod could not mount a ReadWriteOnce claim."""

from __future__ import annotations

from typing import Any

from stapel.components.base import Node

STORAGE = "1Gi"


def _name(text: str) -> str:  # as render.k8s_objects.k8s_name (which imports this module)
    return text.lower().replace("_", "-")


def claims(node: Node, labels: dict[str, str]) -> list[dict[str, Any]]:
    return [{"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": {"name": _name(f"{node.name}-{name}"), "labels": labels},
             "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": STORAGE}}}}
            for name in _volumes(node)]


def mounts(node: Node) -> list[dict[str, str]]:
    return [{"name": _name(name), "mountPath": path} for name, path in _volumes(node).items()]


def pod_volumes(node: Node) -> list[dict[str, Any]]:
    return [{"name": _name(name), "persistentVolumeClaim": {"claimName": _name(f"{node.name}-{name}")}} for name in _volumes(node)]


def strategy(node: Node) -> dict[str, Any]:
    return {"strategy": {"type": "Recreate"}} if _volumes(node) else {}


def _volumes(node: Node) -> dict[str, str]:
    return node.config.volumes if node.is_service else {}
