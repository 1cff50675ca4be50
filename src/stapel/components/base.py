"""The defaults of the kind contract (components/contract.py `Kind`), its data types, and the resolved node the
engine passes around. A kind module imports the defaults it does not override, so every kind module has every
name of the contract (pre-commit's lang_base)."""

from __future__ import annotations

import hashlib
import json
import signal
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from stapel.env.connections import Exports
from stapel.probes import ProbeSpec


@dataclass(frozen=True)
class BinaryVersion:
    """A server binary's product and version; `compatible` is what `version:` is matched against when that differs
    (Valkey, under kind redis, is "Redis 7.2")."""

    product: str
    version: str
    compatible: str | None = None

    def __str__(self) -> str:
        return f"{self.product} {self.version}" + (f" (= {self.compatible})" if self.compatible else "")

    def matches(self, wanted: str) -> bool:
        """`16` matches 16.4, `16.4` matches 16.4.2, `7` does not match 17.0."""
        want, have = numbers(wanted), numbers(self.compatible or self.version)
        return bool(want) and have[:len(want)] == want


def numbers(version: str) -> tuple[int, ...]:
    """The first dotted number of a version or image tag: '16.4-bookworm' -> (16, 4); 'Redis 7.2' -> (7, 2);
    'latest' -> ()."""
    import re

    found = re.search(r"(\d+(?:\.\d+)*)", version)
    return tuple(int(n) for n in found.group(1).split(".")) if found else ()


@dataclass
class Node:
    """One component or service of the stack, with its ports resolved."""

    name: str
    kind: str  # a component kind, or "service"
    config: Any  # the pydantic block from stapel.yaml
    ports: dict[str, int] = field(default_factory=dict)  # as used: busy ones may have moved
    configured: dict[str, int] = field(default_factory=dict)  # as the contour gives them
    host: str = "127.0.0.1"  # where it answers: stapel's own on loopback; an external one's URL host (provisioners connect there)

    @property
    def is_service(self) -> bool:
        return self.kind == "service"

    @property
    def port(self) -> int | None:
        """A service without a port has none; a component kind's is `main_port`."""
        return self.ports.get("main")

    @property
    def main_port(self) -> int:
        """The main port of a node that has one: every component kind's configured_ports() gives "main"."""
        return self.ports["main"]

    @property
    def runs(self) -> bool:
        """False for what stapel points at but never starts or stops (an external component): no launch spec, no
        process to watch while waiting, nothing to stop."""
        return getattr(self.config, "RUNS", True)

    @property
    def speaks(self) -> str:
        """The kind whose protocol and exports it has: its own, or the one an external component serves."""
        return getattr(self.config, "serves", None) or self.kind

    @property
    def depends_on(self) -> dict[str, str]:
        return {name: dep.condition for name, dep in self.config.depends_on.items()}

    @property
    def env_name(self) -> str:
        return self.name.upper().replace("-", "_")


@dataclass
class LaunchSpec:
    """Everything a runtime needs to start one process; JSON-able, so the supervisor can keep it."""

    name: str
    role: str  # component | service
    argv: list[str]
    env: dict[str, str]
    cwd: str
    log: str
    user: str | None = None
    stop_signal: int = int(signal.SIGTERM)
    stop_timeout: float = 10.0
    stop_repeat_seconds: float = 0.0  # > 0: send the stop signal again this often (a signal can be lost early in boot)
    before_stop: list[list[str]] = field(default_factory=list)  # best effort, a few seconds at most
    after_stop: list[list[str]] = field(default_factory=list)
    leftovers_in: str | None = None  # a folder: once the main process died, what still works in it is killed too
    restart: dict[str, Any] = field(default_factory=lambda: {"policy": "no", "backoff_seconds": 1.0, "max_restarts": None})
    logs: dict[str, int] = field(default_factory=dict)  # rotation: {max_size: bytes, keep: files}; not in the spec hash
    hash_basis: dict[str, Any] = field(default_factory=dict)
    secrets: list[str] = field(default_factory=list)  # values never written to disk (see on_disk)
    stored_hash: str | None = None  # read back from disk, where hash_basis is not kept
    redacted: bool = False  # read back from disk with its secrets masked: it cannot be started again

    @property
    def spec_hash(self) -> str:
        if self.stored_hash:
            return self.stored_hash
        basis = self.hash_basis or {"argv": self.argv, "env": self.env, "cwd": self.cwd, "user": self.user}
        return hashlib.sha256(json.dumps(basis, sort_keys=True).encode()).hexdigest()[:16]

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["spec_hash"] = self.spec_hash
        del data["stored_hash"]
        return data

    def on_disk(self) -> dict[str, Any]:
        """For pid files: every secret value of the stack masked in argv and env, no hash basis."""
        from stapel.env.masking import Masker

        data = self.to_json()
        mask = Masker(self.secrets)
        clean = {"argv": mask.data(data["argv"]), "env": mask.data(data["env"])}
        data["redacted"] = clean != {"argv": data["argv"], "env": data["env"]}
        data.update(clean, hash_basis={}, secrets=[])
        return data

    def restored(self, rebuilt: LaunchSpec) -> LaunchSpec:
        """This spec read back from a pid file (secrets masked), with its secrets taken from `rebuilt` (the same
        node's spec built again from stapel.yaml and the env files). Only from the very spec it ran with: the
        hash must match, and each masked value must be what masking the rebuilt one gives; everything not
        masked stays as it was (the environment `up` ran in, not the caller's). ValueError says why not."""
        from stapel.env.masking import MASK, Masker

        if rebuilt.spec_hash != self.spec_hash:
            raise ValueError("stapel.yaml or an env file changed since it started (its launch spec differs)")
        mask = Masker(rebuilt.secrets)

        def restore(where: str, stored: str, fresh: str | None) -> str:
            if fresh is not None and mask(fresh) == stored:
                return fresh
            if MASK in stored:
                raise ValueError(f"{where}: its masked value is not what the rebuilt spec has")
            return stored

        if len(rebuilt.argv) != len(self.argv):
            raise ValueError("its command line differs from the rebuilt one")
        argv = [restore(f"argument {i}", old, new) for i, (old, new) in enumerate(zip(self.argv, rebuilt.argv))]
        env = {key: restore(f"env {key}", old, rebuilt.env.get(key)) for key, old in self.env.items()}
        data = {**asdict(self), "argv": argv, "env": env, "secrets": list(rebuilt.secrets), "redacted": False}
        return LaunchSpec(**data)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> LaunchSpec:
        data = dict(data)
        data["stored_hash"] = data.pop("spec_hash", None)
        return cls(**data)


def probe_from_config(node: Node, default: ProbeSpec) -> ProbeSpec:
    """The kind's own probe, or the one stapel.yaml gives, with process-compose's timing fields applied."""
    probe = node.config.probe
    if probe is None:
        return default
    spec_type, params = default.type, dict(default.params)
    if probe.tcp:
        spec_type, params = "tcp", {"host": probe.tcp.host, "port": probe.tcp.port or node.port}
    elif probe.http:
        spec_type = "http"
        params = {"host": probe.http.host, "port": probe.http.port or node.port, "path": probe.http.path,
                  "scheme": probe.http.scheme, "status": probe.http.status}
    elif probe.exec:
        spec_type, params = "exec", {"command": probe.exec.command}
    if spec_type in ("tcp", "http") and params.get("port") is None:
        raise ValueError("the probe needs a port: set probe.*.port or the node's port")
    return ProbeSpec(
        type=spec_type,
        params=params,
        initial_delay_seconds=probe.initial_delay_seconds,
        period_seconds=probe.period_seconds or default.period_seconds,
        timeout_seconds=probe.timeout_seconds or default.timeout_seconds,
        failure_threshold=probe.failure_threshold or default.failure_threshold,
    )


def restart_of(config: Any) -> dict[str, Any]:
    return config.restart.model_dump()


def no_secrets(config: Any) -> list[str]:
    """The contract's default `secrets`: a kind whose config holds none."""
    return []


def http_endpoint_exports(node: Node, use: Any = None) -> Exports:
    """<NAME>_URL/_HOST/_PORT of an HTTP endpoint, with no kind-wide names (a stack may run several of the kind)."""
    from stapel.env.connections import HOST, http_url

    port = node.ports["main"]
    return Exports({}, {"URL": http_url(port), "HOST": HOST, "PORT": str(port)})


def component_env(node: Node, extra: dict[str, str] | None = None) -> dict[str, str]:
    """A component's process environment: a small, fixed base (so unrelated variables never restart it)."""
    import os

    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8"}
    env.update(extra or {})
    env.update(node.config.env)
    return env


# ---- the container facet: defaults (a kind module imports those it does not override)


@dataclass(frozen=True)
class Resources:
    """Kubernetes requests and limits of its container, and the size of its volume claim."""

    cpu: str = "50m"
    memory: str = "64Mi"
    cpu_limit: str = "500m"
    memory_limit: str = "256Mi"
    storage: str = "1Gi"


@dataclass(frozen=True)
class HttpProvision:
    """A provisioning one-shot that sends the native provisioner's HTTP requests with curl (provision/<kind>.py
    `plan_requests`)."""

    what: str  # what the script declares, for its header comment
    ready: str  # a shell test that the component answers, `{base}` its URL (Kubernetes waits on it)
    auth_header: str | None = None  # a header carrying the container env's secret (its only secret_env key)
    leak_hint: str | None = None  # what to do when a declared value is a secret (it would land in the script)


@dataclass(frozen=True)
class BootDefinitions:
    """A private file the image loads at every boot (RabbitMQ's users as password hashes, vhosts, queues...), from the
    kind's `definitions(node, declared)`; render/rabbitmq_definitions.py mounts it (Compose: read-only for a wrapper
    entrypoint that installs it; Kubernetes: from a Secret beside a config entry naming it)."""

    conf_d: str  # the config file (inside the image) whose one line names the definitions file
    mounted: str  # Compose: the bind mount, readable by root only
    wrapper: str  # Compose: the entrypoint script that installs the mounted file, then runs the image's own entrypoint
    command: tuple[str, ...]  # Compose: the image's CMD again (an entrypoint given in Compose drops it)
    k8s_dir: str  # Kubernetes: where the Secret is mounted (definitions.json in it)
    conf_line: str  # Kubernetes: conf_d's content, `{path}` the definitions file


@dataclass(frozen=True)
class Container:
    """How a kind runs in a container (render compose and k8s): its official image, pinned."""

    image: str  # e.g. "postgres", "prom/prometheus"
    tag: str  # the pinned default; a component's `version:` replaces it (plus tag_suffix)
    ports: Mapping[str, int]  # container ports by stapel's port names
    data_path: str  # where its volume is mounted
    tag_suffix: str = ""  # appended to `version:` (RabbitMQ: "-management", the image with the management plugin)
    fs_group: int | None = None  # the pod's fsGroup, for an image that runs as a non-root user and writes its volume
    resources: Resources = Resources()
    secret_env: Mapping[str, str] = field(default_factory=dict)  # env key -> suffix of its Compose variable (<NODE>_PASSWORD)
    http_client: str = "curl|wget"  # what an http health check runs inside the image: curl|wget, wget, bash (/dev/tcp)
    sql: bool = False  # a PostgreSQL image (psql, pg_isready, POSTGRES_USER/_PASSWORD): services' DATABASE_URL, whose
    #                    provisioning, SQL seeds and readiness waits run from it (render/jobs.py, k8s_jobs.py)
    http_provision: HttpProvision | None = None  # what it declares is provisioned by a curl one-shot (render/http_jobs.py)
    boot_definitions: BootDefinitions | None = None  # what it declares is loaded from a file at every boot

    def image_for(self, config: Any) -> str:
        """`postgres:16.4-bookworm`; a component's version (e.g. 15) gives `postgres:15` instead."""
        version = getattr(config, "version", None)
        return f"{self.image}:{f'{version}{self.tag_suffix}' if version else self.tag}"


@dataclass(frozen=True)
class Target:
    """Where a container is rendered: "compose" or "kubernetes", and how a command line there names a secret of the
    container's env: Compose a ${VAR} of .env.compose, Kubernetes $(KEY) from the pod's env."""

    name: str
    secret: Callable[[Node, str, str], str]  # (node, env key, value) -> the reference
    text: Callable[[str], str] = str  # a literal as written there (Compose doubles `$`)
    stack: Any = None  # the stack rendered: what a container facet may depend on (the services that use it)
    ref: Callable[[str, str], str] = lambda variable, value: f"${{{variable}}}"  # (variable, secret value) -> its reference


def container_env(node: Node, target: Target) -> dict[str, str]:
    return {}


def container_args(node: Node, target: Target) -> list[str]:
    return []


def job_env(node: Node) -> dict[str, str]:
    return {}


def container_files(stack: Any, node: Node, host_of: Callable[[str], str], target: str = "compose") -> dict[str, str]:
    """Files generated from the stack that its container reads: {absolute path in the container: text}, mounted read-only
    (Compose: written beside compose.yaml under files/<node>/; Kubernetes: a ConfigMap <node>-files). `host_of(name)`:
    another node's host inside the network; `target`: compose or kubernetes. Optional in a kind module (nginx has its nginx.conf); default: none."""
    return {}
