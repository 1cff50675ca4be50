"""The monitoring, provisioning and native-search facets a kind module declares (see contract.py), with defaults.

Every kind module names each of these members explicitly, a default taken from here where it has nothing of its own
(the way pre-commit's language modules take lang_base's): monitoring/, provision/ and runtimes/native/ iterate over
the registry and ask, they never branch on a kind's name.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

Query = tuple[str, str]  # (PromQL expression, legend)
Panel = tuple[str, str, list[Query]]  # (title, unit, queries)
Dashboard = tuple[str, str, list[Panel]]  # (uid, title, panels)
SecretRef = Callable[[str, str], str]  # (variable, value) -> how Compose refers to it (${VAR}, the value in a secret env file)


@dataclass(frozen=True)
class MetricsEndpoint:
    """Where a kind serves Prometheus metrics itself: the name of one of its ports, the path, query parameters."""

    port: str = "main"
    path: str = "/metrics"
    params: dict[str, list[str]] = field(default_factory=dict)


@dataclass(frozen=True)
class Exporter:
    """A Prometheus exporter standing in for a kind without metrics of its own (Compose: a service `<node>-exporter`,
    Kubernetes: a sidecar in the node's pod); natively none runs. `compose_env(node, port, secret, text)`: its
    environment reaching the node by Compose service name on the kind's container port, secrets through `secret`,
    other values through `text` (Compose's $ escaping); `k8s_env(port)`: beside it on 127.0.0.1 of the pod, reading the
    node's own env ($(VAR))."""

    image: str
    port: int
    compose_env: Callable[[Any, int, SecretRef, Callable[[str], str]], dict[str, str]]
    k8s_env: Callable[[int], dict[str, str]]


@dataclass(frozen=True)
class BinarySearch:
    """Where runtimes/native/binaries.py looks for a kind's programs beyond PATH (globs allowed), what it skips, and
    how the preflight error says to install them: apt/brew/pip packages; `vendor()` names the vendor's own channel
    for this OS (kinds in no distribution); `compose_instead`: also suggest --runtime compose."""

    dirs: list[str] = field(default_factory=list)
    wheels: list[tuple[str, str]] = field(default_factory=list)  # (importable module, folder under it)
    skip: list[str] = field(default_factory=list)
    apt: str | None = None
    brew: str | None = None
    pip: str | None = None
    vendor: Callable[[], str] | None = None
    compose_instead: bool = False


def no_scrape_key(config: Any) -> str | None:
    """The secret a Prometheus scrape of this kind must send (a Bearer token), "" for a slot without one, None: none."""
    return None


def no_input_files(config: Any) -> list[str]:
    """Files besides stapel.yaml (relative to the project) that the kind reads at `up` (a changed one is no no-op)."""
    return []


KEY_SUFFIX = "-api.key"


def scrape_key_file(node: Any) -> str:
    """The file holding the secret a scrape of `node` sends (its scrape_key): natively beside prometheus.yml, in
    Compose and Kubernetes under monitoring.prometheus.SECRETS_MOUNT."""
    return f"{node.name}{KEY_SUFFIX}"
