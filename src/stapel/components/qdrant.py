"""Qdrant: the `qdrant` binary with a generated config (storage and snapshots under .local, HTTP and gRPC on
127.0.0.1, telemetry off). The API key is never in the file or on argv: Qdrant reads QDRANT__SERVICE__API_KEY
from its environment (settings from env override the file). Ready when /readyz answers 200 (it needs no key)."""

from __future__ import annotations

import hashlib
import os
import re
from typing import TYPE_CHECKING, Any, Literal

from pydantic import Field, field_validator
from pydantic_core import PydanticCustomError

from stapel.components import base
from stapel.components.base import (
    BinaryVersion,
    Container,
    HttpProvision,
    LaunchSpec,
    Node,
    Resources,
    Target,
    component_env,
    probe_from_config,
    restart_of,
)
from stapel.components.facets import BinarySearch, Dashboard, Exporter, MetricsEndpoint, no_input_files
from stapel.env.connections import HOST, Exports, grouped, http_url
from stapel.model.base import Port, Strict, _no_bool
from stapel.model.nodes import ComponentBase
from stapel.private import write_private
from stapel.probes import ProbeSpec

if TYPE_CHECKING:
    from stapel.model.schema import Use


class QdrantCollection(Strict):
    size: int = Field(ge=1, le=65536, description="Vector dimension.")
    distance: Literal["Cosine", "Euclid", "Dot", "Manhattan"] = Field(description="Qdrant's distance name (case matters).")
    on_disk: bool | None = Field(None, description="Keep the vectors on disk (memmap) instead of in RAM; applied when created.")

    _size = field_validator("size", mode="before")(lambda cls, v: _no_bool(v))  # YAML true is no dimension


def _collection_names(value: Any) -> Any:
    if isinstance(value, dict):
        for key in value:
            if not re.match(r"^[A-Za-z0-9_.-]{1,255}$", str(key)):
                raise PydanticCustomError("collection", "'{key}' is not a collection name (letters, digits, _ . -)", {"key": key})
    return value


class Qdrant(ComponentBase):
    kind: Literal["qdrant"]
    grpc_port: Port | None = Field(None, description="Default: 6334.")
    api_key: str | None = Field(None, description="Required by every request when set (QDRANT__SERVICE__API_KEY; a secret).")
    collections: dict[str, QdrantCollection] = Field(default_factory=dict, description="Created on every up when missing; a "
                                                     "different size or distance is reported (Qdrant cannot change it in place).")

    _collections = field_validator("collections", mode="before")(lambda cls, v: _collection_names(v))

    def configured_ports(self) -> dict[str, int]:
        return configured_ports(self)  # this module's, below

    def internal_ports(self) -> tuple[str, ...]:
        return INTERNAL_PORTS


CONFIG = Qdrant


DEFAULT_PORTS = {"main": 6333, "grpc": 6334}
INTERNAL_PORTS: tuple[str, ...] = ()
PROGRAMS = ["qdrant"]


def binary_version(bins: dict[str, str], run) -> BinaryVersion | None:
    """`qdrant 1.11.3` -> Qdrant 1.11.3."""
    found = re.search(r"[Vv]ersion v?(\d+(?:\.\d+)+)|^\S+ v?(\d+(?:\.\d+)+)", run([bins["qdrant"], "--version"]), re.MULTILINE)
    return BinaryVersion("Qdrant", found.group(1) or found.group(2)) if found else None


def version_sources(wanted: tuple[int, ...]) -> dict[str, str]:
    return {"note": "every release is at https://github.com/qdrant/qdrant/releases"}
API_KEY_VAR = "QDRANT__SERVICE__API_KEY"


def configured_ports(config) -> dict[str, int]:
    return {"main": config.port or DEFAULT_PORTS["main"], "grpc": config.grpc_port or DEFAULT_PORTS["grpc"]}


def probe(node: Node) -> ProbeSpec:
    default = ProbeSpec("http", {"port": node.port, "path": "/readyz", "status": 200}, period_seconds=0.05, failure_threshold=1200)
    return probe_from_config(node, default)


def exports(node: Node, use: Use | None = None) -> Exports:
    """QDRANT_URL (seed 001), QDRANT_HOST, _PORT, _GRPC_PORT and, with an api_key, QDRANT_API_KEY."""
    url, key = http_url(node.main_port), node.config.api_key
    details = {"HOST": HOST, "PORT": str(node.main_port), "GRPC_PORT": str(node.ports["grpc"]), **({"API_KEY": key} if key else {})}
    return grouped("QDRANT", url, {"QDRANT_URL": url}, details)


def secrets(config) -> list[str]:
    return [config.api_key] if config.api_key else []


# ---- in a container: qdrant/qdrant has bash but no curl, wget or nc (qdrant issues 3491, 4250), so its health check
# GETs over bash's /dev/tcp; its collections are provisioned by a curl one-shot (the key as a header from the env)
CONTAINER = Container("qdrant/qdrant", "v1.11.3", {"main": 6333, "grpc": 6334}, "/qdrant/storage",
                      resources=Resources("100m", "256Mi", "1", "1Gi", "5Gi"), secret_env={API_KEY_VAR: "API_KEY"}, http_client="bash",
                      http_provision=HttpProvision("collections (created when missing)", "curl -fsS -o /dev/null {base}/readyz",
                                                   auth_header="api-key"))
container_args = base.container_args  # the contract's default, kept


def container_env(node: Node, target: Target) -> dict[str, str]:
    """What qdrant/qdrant reads: settings as QDRANT__SECTION__KEY, the key a secret."""
    ports, key = CONTAINER.ports, node.config.api_key
    env = {"QDRANT__SERVICE__HTTP_PORT": str(ports["main"]), "QDRANT__SERVICE__GRPC_PORT": str(ports["grpc"]),
           "QDRANT__TELEMETRY_DISABLED": "true"}
    return {**env, API_KEY_VAR: key} if key else env


def job_env(node: Node) -> dict[str, str]:
    """Its provision one-shot reads the key (a header), under the name the component's own container has it."""
    return {API_KEY_VAR: node.config.api_key} if node.config.api_key else {}


def _render(node: Node, ctx) -> str:
    data = ctx.paths.data(node.name)
    return "\n".join([
        "log_level: INFO",
        "storage:",
        f"  storage_path: {data / 'storage'}",
        f"  snapshots_path: {data / 'snapshots'}",
        "service:",
        f"  host: {HOST}",
        f"  http_port: {node.port}",
        f"  grpc_port: {node.ports['grpc']}",
        "telemetry_disabled: true",
        "",
    ])


def _conf_file(node: Node, ctx) -> str:
    return str(ctx.paths.conf(node.name) / "qdrant.yaml")


def native(node: Node, ctx) -> LaunchSpec:
    bins = ctx.binaries(node, PROGRAMS)
    key = node.config.api_key
    return LaunchSpec(
        name=node.name,
        role="component",
        argv=[bins["qdrant"], "--config-path", _conf_file(node, ctx), "--disable-telemetry", *node.config.args],
        env=component_env(node, {API_KEY_VAR: key} if key else None),
        cwd=str(ctx.paths.data(node.name)),  # it also reads ./config/*.yaml when present: the data dir has none
        log=str(ctx.paths.log(node.name)),
        stop_timeout=15.0,
        restart=restart_of(node.config),
        hash_basis={"bin": bins["qdrant"], "conf": _render(node, ctx), "args": node.config.args, "env": node.config.env,
                    "api_key": hashlib.sha256(key.encode()).hexdigest() if key else None},  # a new key restarts it
    )


def prepare(node: Node, ctx) -> None:
    ctx.make_private_dir(ctx.paths.data(node.name), None)
    ctx.make_private_dir(ctx.paths.conf(node.name), None)
    write_private(_conf_file(node, ctx), _render(node, ctx))


# ---- monitoring, provisioning, native search (components/facets.py): what monitoring/, provision/ and
# runtimes/native/binaries.py ask of this kind

def vendor_hint() -> str:
    """Where Qdrant comes from on this OS: its GitHub releases."""
    import platform

    arch = "aarch64" if platform.machine().lower() in ("arm64", "aarch64") else "x86_64"
    if platform.system() == "Darwin":
        target = f"{arch}-apple-darwin"
    else:
        target = "x86_64-unknown-linux-gnu" if arch == "x86_64" else "aarch64-unknown-linux-musl"
    return f"qdrant-{target}.tar.gz from https://github.com/qdrant/qdrant/releases (its qdrant on PATH)"

def scrape_key(config: Qdrant) -> str | None:
    """With an api_key its /metrics wants the key too (qdrant/qdrant#1980): sent as a Bearer token read from a file."""
    return config.api_key or ""


METRICS: MetricsEndpoint | None = MetricsEndpoint()
EXPORTER: Exporter | None = None
DASHBOARDS: tuple[Dashboard, ...] = ()
GRAFANA_DATASOURCE: str | None = None  # the Grafana datasource type it serves as
SCRAPES_STACK = False  # reads the stack's scrape config (prometheus.yml of monitoring/prometheus.py)
SHOWS_STACK = False  # reads the stack's Grafana provisioning (monitoring/grafana.py)
PROVISIONER: str | None = "qdrant"  # stapel.provision.qdrant: collections
BINARIES = BinarySearch(dirs=["/usr/local/bin", os.path.expanduser("~/.local/bin")], vendor=vendor_hint,
                        compose_instead=True)  # in no distribution's archive
DATABASE = False  # `stapel db` and stapel.testing's databases work on it
input_files = no_input_files


if TYPE_CHECKING:  # mypy holds this module to the kind contract (components/contract.py)
    from stapel.components import qdrant as _this
    from stapel.components.contract import Kind

    _CONTRACT: Kind = _this
