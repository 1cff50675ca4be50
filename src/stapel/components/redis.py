"""Redis (or Valkey): one foreground server with a generated config file; the password is neither on argv
nor in the file (an ACL rule holds its SHA-256)."""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING

from stapel.components.base import LaunchSpec, Node, component_env, probe_from_config, restart_of
from stapel.env.connections import HOST, Exports, grouped, redis_url
from stapel.probes import ProbeSpec
from stapel.private import write_private

if TYPE_CHECKING:
    from stapel.model.schema import Use

DEFAULT_PORTS = {"main": 6379}
INTERNAL_PORTS: tuple[str, ...] = ()
PROGRAMS = ["redis-server|valkey-server"]


def configured_ports(config) -> dict[str, int]:
    return {"main": config.port or DEFAULT_PORTS["main"]}


def probe(node: Node) -> ProbeSpec:
    default = ProbeSpec("redis", {"port": node.port, "password": node.config.password},
                        period_seconds=0.02, timeout_seconds=1.0, failure_threshold=500)
    return probe_from_config(node, default)


def exports(node: Node, use: Use | None = None) -> Exports:
    """REDIS_URL and REDIS_*; `use.db` picks the database index (default 0)."""
    password, db = node.config.password, use.db if use and use.db is not None else 0
    url = redis_url(password, node.port, db)
    details = {"HOST": HOST, "PORT": str(node.port), **({"PASSWORD": password} if password else {}), "DB": str(db)}
    return grouped("REDIS", url, {"REDIS_URL": url}, details)


def secrets(config) -> list[str]:
    return [config.password] if config.password else []


def _conf_file(node: Node, ctx) -> str:  # noqa: ANN001
    return str(ctx.paths.conf(node.name) / "redis.conf")


def native(node: Node, ctx) -> LaunchSpec:  # noqa: ANN001
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


def _aof(node: Node, ctx) -> bool:  # noqa: ANN001
    """The append-only file, fsynced once a second, for every new data directory. Redis write()s it before it
    answers, so a kill -9 or the OOM killer loses no acknowledged write (it is in the page cache) unless a slow
    disk made Redis postpone that write (up to 2 s of writes); a power cut or kernel crash loses up to 1-2 s.
    A data directory holding only a snapshot (made before stapel turned AOF on) keeps snapshots: Redis 7.0
    switched to appendonly over a dump.rdb starts empty, then overwrites the snapshot.
    `args: [--appendonly, "no"]` turns it off."""
    data = ctx.paths.data(node.name)
    return (data / "appendonlydir").exists() or not (data / "dump.rdb").exists()


def _render(node: Node, ctx) -> str:  # noqa: ANN001
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


def prepare(node: Node, ctx) -> None:  # noqa: ANN001
    ctx.make_private_dir(ctx.paths.data(node.name), None)
    ctx.make_private_dir(ctx.paths.conf(node.name), None)
    path = _conf_file(node, ctx)
    write_private(path, _render(node, ctx))
