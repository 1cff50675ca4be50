"""Consul: one single-node server agent (`consul agent -config-file=...`) with its data under .local.

Not `-dev`: a dev agent keeps everything in memory, so `stapel down` would lose the KV and catalog the services
wrote, against stapel's "down keeps data". A server with bootstrap_expect = 1 elects itself (raft_multiplier 1,
as -dev has, so in about a second) and persists raft and KV in its data dir. Everything binds to 127.0.0.1; the
HTTP port is the one users connect to, Serf LAN and server RPC cannot be turned off and get ports of their own
(INTERNAL_PORTS: moved when busy, like RabbitMQ's dist and epmd); DNS, gRPC, gRPC-TLS, HTTPS and Serf WAN are off
(-1). The update check is off (no traffic beyond loopback). Needs Consul >= 1.14 (the `grpc_tls` port key).

Ready when /v1/status/leader names a leader (probe type "consul"): the HTTP API answers before the election.
"""

from __future__ import annotations

import json
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
    Target,
    component_env,
    probe_from_config,
    restart_of,
)
from stapel.components.facets import BinarySearch, Dashboard, Exporter, MetricsEndpoint, no_input_files, no_scrape_key
from stapel.env.connections import HOST, Exports, grouped, http_url
from stapel.model.nodes import ComponentBase
from stapel.private import write_private
from stapel.probes import InContainer, Probe, ProbeSpec, Result, checks

if TYPE_CHECKING:
    from stapel.model.schema import Use


def _kv_values(value: Any) -> Any:
    """Consul KV values are strings; YAML scalars (5, true) are taken as they read. Keys are paths without a leading /."""
    if not isinstance(value, dict):
        return value
    for key in value:
        if not str(key) or str(key).startswith("/") or str(key).endswith("/"):
            raise PydanticCustomError("kv", "'{key}': a key is a path like config/crm/db_pool, without a leading or trailing /",
                                      {"key": key})
    scalar = (int, float, bool)
    return {str(k): (str(v).lower() if isinstance(v, bool) else str(v) if isinstance(v, scalar) else v) for k, v in value.items()}


class Consul(ComponentBase):
    kind: Literal["consul"]
    kv: dict[str, str] = Field(default_factory=dict, description="Consul KV keys and their values, PUT on every up when they differ "
                               "(keys stapel.yaml does not name are never touched).")

    _kv = field_validator("kv", mode="before")(lambda cls, v: _kv_values(v))

    def configured_ports(self) -> dict[str, int]:
        return configured_ports(self)  # this module's, below

    def internal_ports(self) -> tuple[str, ...]:
        return INTERNAL_PORTS


CONFIG = Consul


DEFAULT_PORTS = {"main": 8500, "serf_lan": 8301, "server": 8300}
INTERNAL_PORTS = ("serf_lan", "server")
PROGRAMS = ["consul"]


def binary_version(bins: dict[str, str], run) -> BinaryVersion | None:
    """`Consul v1.19.2` (the `version` subcommand: no agent starts) -> Consul 1.19.2."""
    found = re.search(r"[Vv]ersion v?(\d+(?:\.\d+)+)|^\S+ v?(\d+(?:\.\d+)+)", run([bins["consul"], "version"]), re.MULTILINE)
    return BinaryVersion("Consul", found.group(1) or found.group(2)) if found else None


def version_sources(wanted: tuple[int, ...]) -> dict[str, str]:
    return {"brew": "hashicorp/tap/consul", "note": "HashiCorp's apt repository and https://releases.hashicorp.com/consul/ have every version"}


def configured_ports(config) -> dict[str, int]:
    return {"main": config.port or DEFAULT_PORTS["main"], "serf_lan": DEFAULT_PORTS["serf_lan"], "server": DEFAULT_PORTS["server"]}


def probe(node: Node) -> ProbeSpec:
    default = ProbeSpec("consul", {"port": node.port}, period_seconds=0.1, timeout_seconds=1.0, failure_threshold=600)
    return probe_from_config(node, default)


class Leader(Probe):
    """A Consul server is ready when /v1/status/leader names a leader ("127.0.0.1:8300"; "" while it elects one). An
    httpGet would pass before that (200 ""): in a container, a shell test with the image's curl (container_check)."""

    type = "consul"

    def check(self, params: dict, timeout: float) -> Result:
        host = params.get("host", "127.0.0.1")
        request = f"GET /v1/status/leader HTTP/1.0\r\nHost: {host}:{params['port']}\r\nConnection: close\r\n\r\n"
        reply = b""
        with checks.connect(params, timeout) as sock:
            sock.sendall(request.encode())
            while len(reply) < 65536:
                chunk = sock.recv(4096)
                if not chunk:
                    break
                reply += chunk
        head, _, body = reply.partition(b"\r\n\r\n")
        status = head.split(b"\r\n", 1)[0].split()
        if len(status) < 2 or status[1] != b"200":
            return False, f"GET /v1/status/leader -> {head[:40]!r}"
        leader = body.strip().strip(b'"').decode(errors="replace")
        return bool(leader), f"leader {leader}" if leader else "no leader elected yet"

    def compose_test(self, params: dict, where: InContainer) -> list[str]:
        return ["CMD-SHELL", container_check(where.port)]

    def kubernetes_check(self, params: dict, where: InContainer) -> dict:
        return {"exec": {"command": ["sh", "-c", container_check(where.port)]}}


def exports(node: Node, use: Use | None = None) -> Exports:
    """CONSUL_HTTP_ADDR (what the consul CLI and Go API read; a scheme is allowed there), CONSUL_URL, CONSUL_HOST/_PORT."""
    url = http_url(node.main_port)
    return grouped("CONSUL", url, {"CONSUL_URL": url, "CONSUL_HTTP_ADDR": url}, {"HOST": HOST, "PORT": str(node.main_port)})


secrets = base.no_secrets


# In a container (render compose and k8s) the image's entrypoint turns `agent ...` into `consul agent
# -data-dir=/consul/data -config-dir=/consul/config ...`: the same single-node server as natively (the image's own
# default, -dev, keeps nothing), its cluster address on the container's loopback (stable across restarts, where a
# pod IP is not), the HTTP API on every interface. The entrypoint writes CONSUL_LOCAL_CONFIG to local.json.
TELEMETRY = {"prometheus_retention_time": "60s", "disable_hostname": True}  # /v1/agent/metrics?format=prometheus answers
CONTAINER_ARGS = ["agent", "-server", "-bootstrap-expect=1", "-ui", "-client=0.0.0.0", "-bind=127.0.0.1"]
# Its KV is provisioned by a curl one-shot once a leader is elected (a KV write before that fails).
CONTAINER = Container("hashicorp/consul", "1.19.2", {"main": 8500}, "/consul/data",
                      http_provision=HttpProvision("KV keys", "curl -fsS {base}/v1/status/leader | grep -q :", leak_hint=(
                          "a Consul KV value in stapel.yaml is written into the provision script: keep secrets out of the KV")))
job_env = base.job_env  # the contract's default, kept


def container_env(node: Node, target: Target) -> dict[str, str]:
    return {"CONSUL_LOCAL_CONFIG": json.dumps({"disable_update_check": True, "performance": {"raft_multiplier": 1},
                                              "telemetry": TELEMETRY})}


def container_args(node: Node, target: Target) -> list[str]:
    return CONTAINER_ARGS + [target.text(a) for a in node.config.args]


def container_check(port: int | None) -> str:
    """A shell test inside hashicorp/consul (Alpine, with curl): healthy once a leader is elected ("" before)."""
    return f"curl -fsS http://127.0.0.1:{port}/v1/status/leader | grep -q :"


def node_name(node: Node, ctx) -> str:
    return f"stapel-{ctx.stack_name}-{ctx.paths.contour}-{node.name}".replace("_", "-")


def _render(node: Node, ctx) -> str:
    config = {
        "node_name": node_name(node, ctx),
        "datacenter": "dc1",
        "data_dir": str(ctx.paths.data(node.name)),
        "server": True,
        "bootstrap_expect": 1,
        "bind_addr": HOST,
        "advertise_addr": HOST,
        "client_addr": HOST,
        "ports": {"http": node.port, "serf_lan": node.ports["serf_lan"], "server": node.ports["server"],
                  "dns": -1, "grpc": -1, "grpc_tls": -1, "https": -1, "serf_wan": -1},
        "ui_config": {"enabled": True},
        "performance": {"raft_multiplier": 1},
        "disable_update_check": True,
        "telemetry": TELEMETRY,
        "log_level": "INFO",
    }
    return json.dumps(config, indent=2) + "\n"


def _conf_file(node: Node, ctx) -> str:
    return str(ctx.paths.conf(node.name) / "consul.json")  # the extension tells consul the format


def native(node: Node, ctx) -> LaunchSpec:
    bins = ctx.binaries(node, PROGRAMS)
    return LaunchSpec(
        name=node.name,
        role="component",
        argv=[bins["consul"], "agent", f"-config-file={_conf_file(node, ctx)}", *node.config.args],
        env=component_env(node),
        cwd=str(ctx.paths.data(node.name)),
        log=str(ctx.paths.log(node.name)),
        stop_timeout=15.0,  # a server does not leave on SIGTERM (leave_on_terminate is false): it just stops
        restart=restart_of(node.config),
        hash_basis={"bin": bins["consul"], "conf": _render(node, ctx), "args": node.config.args, "env": node.config.env},
    )


def prepare(node: Node, ctx) -> None:
    ctx.make_private_dir(ctx.paths.data(node.name), None)
    ctx.make_private_dir(ctx.paths.conf(node.name), None)
    write_private(_conf_file(node, ctx), _render(node, ctx))


# ---- monitoring, provisioning, native search (components/facets.py): what monitoring/, provision/ and
# runtimes/native/binaries.py ask of this kind

def vendor_hint() -> str:
    """Where Consul comes from on this OS: HashiCorp's own channels."""
    import platform
    import shutil

    sudo = "" if os.geteuid() == 0 else "sudo "
    if platform.system() == "Darwin":
        return "brew install hashicorp/tap/consul"
    if shutil.which("apt-get"):
        return f"HashiCorp's apt repository (https://developer.hashicorp.com/consul/install#linux), then {sudo}apt-get install consul"
    if shutil.which("dnf"):
        return f"HashiCorp's rpm repository (https://developer.hashicorp.com/consul/install#linux), then {sudo}dnf install consul"
    return "the zip from https://releases.hashicorp.com/consul/ (its consul on PATH)"


METRICS: MetricsEndpoint | None = MetricsEndpoint("main", "/v1/agent/metrics", {"format": ["prometheus"]})
EXPORTER: Exporter | None = None
DASHBOARDS: tuple[Dashboard, ...] = ()
GRAFANA_DATASOURCE: str | None = None  # the Grafana datasource type it serves as
SCRAPES_STACK = False  # reads the stack's scrape config (prometheus.yml of monitoring/prometheus.py)
SHOWS_STACK = False  # reads the stack's Grafana provisioning (monitoring/grafana.py)
scrape_key = no_scrape_key
PROVISIONER: str | None = "consul"  # stapel.provision.consul: KV keys
BINARIES = BinarySearch(dirs=["/opt/homebrew/bin", "/usr/local/bin"], brew="hashicorp/tap/consul", vendor=vendor_hint,
                        compose_instead=True)  # in no distribution's archive (Homebrew core froze it at 1.16 over its licence)
DATABASE = False  # `stapel db` and stapel.testing's databases work on it
input_files = no_input_files


if TYPE_CHECKING:  # mypy holds this module to the kind contract (components/contract.py)
    from stapel.components import consul as _this
    from stapel.components.contract import Kind

    _CONTRACT: Kind = _this
