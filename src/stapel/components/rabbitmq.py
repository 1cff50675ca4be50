"""RabbitMQ: its own node name, cookie, epmd port, dist port on 127.0.0.1 and management port.

Its failed boot exits 0 (shared/research/native-binaries.md), so readiness decides, never the exit
code. It registers in an epmd of its own on a private port, so the machine's epmd is never touched.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import secrets as random
import shutil
import signal
import string
from pathlib import Path
from typing import TYPE_CHECKING

from stapel.components import rabbitmq_code, rabbitmq_home
from stapel.components.base import BinaryVersion, LaunchSpec, Node, component_env, probe_from_config, restart_of
from stapel.env.connections import HOST, Exports, amqp_url, grouped, http_url
from stapel.private import write_private
from stapel.probes import ProbeSpec

if TYPE_CHECKING:
    from stapel.model.schema import Use

DEFAULT_PORTS = {"main": 5672, "management": 15672, "dist": 25672, "epmd": 4369, "prometheus": 15692}
INTERNAL_PORTS = ("dist", "epmd", "prometheus")  # prometheus: rabbitmq_prometheus's /metrics (the stack's Prometheus scrapes it)
PROGRAMS = ["rabbitmq-server"]
PLUGINS = ["rabbitmq_management", "rabbitmq_prometheus"]  # enabled_plugins, as prepare writes it


def binary_version(bins: dict[str, str], run) -> BinaryVersion | None:
    """From where the real script lives, without booting Erlang: Debian's .../lib/rabbitmq_server-3.10.8/sbin/,
    the generic-unix archive's rabbitmq_server-3.13.7/sbin/, Homebrew's Cellar/rabbitmq/3.13.7/."""
    found = re.search(r"rabbitmq(?:_server-|/)(\d+\.\d+(?:\.\d+)*)", os.path.realpath(bins["rabbitmq-server"]))
    return BinaryVersion("RabbitMQ", found.group(1)) if found else None


def version_sources(wanted: tuple[int, ...]) -> dict[str, str]:
    return {"apt": "rabbitmq-server", "brew": "rabbitmq",
            "note": "Team RabbitMQ's apt repositories carry every supported version (https://www.rabbitmq.com/docs/install-debian)"}


def configured_ports(config) -> dict[str, int]:
    return {
        "main": config.port or DEFAULT_PORTS["main"],
        "management": config.management_port or DEFAULT_PORTS["management"],
        "dist": DEFAULT_PORTS["dist"],
        "epmd": DEFAULT_PORTS["epmd"],
        "prometheus": DEFAULT_PORTS["prometheus"],
    }


def probe(node: Node) -> ProbeSpec:
    c = node.config
    default = ProbeSpec("rabbitmq", {"port": node.port, "management_port": node.ports["management"], "user": c.user, "password": c.password},
                        period_seconds=0.05, timeout_seconds=2.0, failure_threshold=1800)  # the long pole: polled often
    return probe_from_config(node, default)


def exports(node: Node, use: Use | None = None) -> Exports:
    """RABBITMQ_URL (the vhost percent-encoded: / is %2F) and RABBITMQ_*; a use has nothing to narrow here."""
    c = node.config
    url = amqp_url(c.user, c.password, node.port, c.vhost)
    details = {"HOST": HOST, "PORT": str(node.port), "USER": c.user, "PASSWORD": c.password, "VHOST": c.vhost,
               "MANAGEMENT_URL": http_url(node.ports["management"])}
    return grouped("RABBITMQ", url, {"RABBITMQ_URL": url}, details)


def secrets(config) -> list[str]:
    return [config.password, *(user.password for user in config.users.values())]


def node_name(node: Node, ctx) -> str:
    return f"stapel-{ctx.stack_name}-{ctx.paths.contour}-{node.name}@localhost"


def _render(node: Node, conf) -> str:
    return "\n".join([
        f"listeners.tcp.default = 127.0.0.1:{node.port}",
        "management.tcp.ip = 127.0.0.1",
        f"management.tcp.port = {node.ports['management']}",
        "prometheus.tcp.ip = 127.0.0.1",
        f"prometheus.tcp.port = {node.ports['prometheus']}",
        f"load_definitions = {conf / 'definitions.json'}",
        "loopback_users = none",
        "log.console = true",
        "log.file = false",
        "",
    ])


HASHING_ALGORITHM = "rabbit_password_hashing_sha256"


def password_hash(node_name: str, user: str, password: str) -> str:
    """RabbitMQ's stored form of a password (rabbit_password_hashing_sha256): base64(salt + SHA-256(salt + password)).
    The 4-byte salt is derived from node, user and password, so an unchanged password gives the same file (no
    restart per run) and a changed one a new salt. Used for the native definitions file and render's (containers)."""
    salt = hashlib.sha256(f"stapel:{node_name}:{user}:{password}".encode()).digest()[:4]
    return base64.b64encode(salt + hashlib.sha256(salt + password.encode()).digest()).decode()


def _definitions(node: Node) -> str:
    """The user (with a salted SHA-256 of its password, as RabbitMQ stores it), vhost and permissions:
    imported at every boot, so a changed password takes effect, and no secret is on disk."""
    c = node.config
    return json.dumps({
        "users": [{"name": c.user, "password_hash": password_hash(node.name, c.user, c.password), "hashing_algorithm": HASHING_ALGORITHM,
                   "tags": ["administrator"]}],
        "vhosts": [{"name": c.vhost}],
        "permissions": [{"user": c.user, "vhost": c.vhost, "configure": ".*", "write": ".*", "read": ".*"}],
    }, indent=2) + "\n"


def native(node: Node, ctx) -> LaunchSpec:
    bins = ctx.binaries(node, PROGRAMS)
    conf, data = ctx.paths.conf(node.name), ctx.paths.data(node.name)
    env = component_env(node, {
        "HOME": str(conf),  # the Erlang cookie lives here, for the node and for rabbitmqctl alike
        "RABBITMQ_NODENAME": node_name(node, ctx),
        "RABBITMQ_NODE_IP_ADDRESS": "127.0.0.1",
        "RABBITMQ_NODE_PORT": str(node.port),
        "RABBITMQ_DIST_PORT": str(node.ports["dist"]),
        "RABBITMQ_MNESIA_BASE": str(data / "mnesia"),
        "RABBITMQ_LOG_BASE": str(data / "log"),
        "RABBITMQ_LOGS": "-",
        "RABBITMQ_CONFIG_FILE": str(conf / "rabbitmq.conf"),
        "RABBITMQ_ADVANCED_CONFIG_FILE": str(conf / "advanced.config"),
        "RABBITMQ_ENABLED_PLUGINS_FILE": str(conf / "enabled_plugins"),
        # never written: the system's /etc/rabbitmq/rabbitmq-env.conf is not read, and a missing file spares every
        # boot the shell the prelaunch runs to source one
        "RABBITMQ_CONF_ENV_FILE": str(conf / "rabbitmq-env.conf"),
        "ERL_EPMD_ADDRESS": "127.0.0.1",
        "ERL_EPMD_PORT": str(node.ports["epmd"]),
        **_from_home(node, ctx, bins, conf),
    })
    epmd = ctx.which("epmd", near=bins["rabbitmq-server"]) or "epmd"
    erl_call = _erl_call(ctx, bins["rabbitmq-server"])
    return LaunchSpec(
        name=node.name,
        role="component",
        argv=[bins["rabbitmq-server"], *node.config.args],
        env=env,
        cwd=str(data),  # a failed boot drops erl_crash.dump in the cwd
        log=str(ctx.paths.log(node.name)),
        stop_signal=int(signal.SIGTERM),
        stop_timeout=30.0,
        stop_repeat_seconds=1.0,  # a SIGTERM in the first moments of boot is lost (the node then runs on)
        before_stop=[[erl_call, "-sname", node_name(node, ctx), *_UNHOOK_STATS]] if erl_call else [],
        after_stop=[[epmd, "-port", str(node.ports["epmd"]), "-kill"]],
        restart=restart_of(node.config),
        hash_basis={"bin": bins["rabbitmq-server"], "conf": _render(node, conf), "definitions": _definitions(node), "env": env,
                    "args": node.config.args},
    )


# RabbitMQ 3.x's management agent leaves an event handler whose terminate callback calls the
# application controller while that controller is busy stopping `rabbit`: every stop then hangs
# for the 5 s call timeout. Removing the handler while the node still runs (a few ms through
# erl_call, which finds the node through ERL_EPMD_PORT and the cookie in HOME) leaves the normal
# orderly shutdown intact (queues and message stores are closed as usual) and saves those 5 s.
_UNHOOK_STATS = ["-a", "gen_event delete_handler [rabbit_event, rabbit_mgmt_db_handler, []]"]


def _erl_call(ctx, server: str) -> str | None:
    """erl_call ships with Erlang, beside `erl` (Debian: /usr/lib/erlang/bin, not on PATH)."""
    found = ctx.which("erl_call", near=server)
    erl = shutil.which("erl")
    candidates = [Path(erl).resolve().parent / "erl_call"] if erl else []
    candidates.append(Path("/usr/lib/erlang/bin/erl_call"))
    return found or next((str(c) for c in candidates if c.is_file() and os.access(c, os.X_OK)), None)


LOOPBACK_DIST = "-kernel inet_dist_use_interface {127,0,0,1}"  # the dist port binds 0.0.0.0 otherwise


def _from_home(node: Node, ctx, bins: dict[str, str], conf: Path) -> dict[str, str]:
    """The private minimal home's variables, when the installed layout allows one (rabbitmq_home.py); there the VM
    also starts Erlang distribution itself (`-sname`, the dist port pinned), because 3.9+'s prelaunch then skips
    what it does otherwise on every boot: a second, throwaway Erlang VM only to make sure epmd runs (~0.3-0.5 s
    of CPU on two cores), a probe node for duplicate names and the port checks. A name already in use stops the
    VM at once (exit 1, "the name ... seems to be in use"), as the duplicate check would. The stock layout keeps
    the stock start."""
    chosen = rabbitmq_home.plan(bins["rabbitmq-server"], PLUGINS, node.config.env)
    if chosen.why_not is not None:
        return {"RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS": LOOPBACK_DIST}
    dist = node.ports["dist"]
    own_dist = f"-sname {node_name(node, ctx)} -kernel inet_dist_listen_min {dist} -kernel inet_dist_listen_max {dist}"
    return {**rabbitmq_home.env_of(conf / "home"), "RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS": f"{LOOPBACK_DIST} {own_dist}"}


def prepare(node: Node, ctx) -> list[str]:
    conf, data = ctx.paths.conf(node.name), ctx.paths.data(node.name)
    ctx.make_private_dir(conf, None)
    ctx.make_private_dir(data, None)
    _write(conf / "rabbitmq.conf", _render(node, conf), 0o600)
    _write(conf / "definitions.json", _definitions(node), 0o600)
    _write(conf / "enabled_plugins", f"[{','.join(PLUGINS)}].\n", 0o600)
    (conf / "rabbitmq-env.conf").unlink(missing_ok=True)  # an empty one, as earlier versions wrote
    cookie = conf / ".erlang.cookie"
    if not cookie.exists():
        _write(cookie, "".join(random.choice(string.ascii_uppercase) for _ in range(32)), 0o400)
    chosen = rabbitmq_home.plan(ctx.binaries(node, PROGRAMS)["rabbitmq-server"], PLUGINS, node.config.env)
    if chosen.why_not is not None:
        return [f"the stock RabbitMQ layout (no private minimal home: {chosen.why_not})"]
    key = rabbitmq_code.key_of(chosen.plugins)
    tree = rabbitmq_code.ready(key)
    rabbitmq_home.build(conf / "home", chosen, tree)
    if tree is None:  # the first node on this machine: the next up links to it
        rabbitmq_code.build_in_background(key, chosen.plugins)
    how = f"every module in every ebin: {tree}" if tree else f"building {rabbitmq_code.entry_of(key)} for the next up"
    return [f"a private minimal home with {len(chosen.plugins)} of its plugins: {conf / 'home'} ({how})"]


def _write(path, text: str, mode: int) -> None:
    if path.exists() and mode == 0o400:
        return
    write_private(path, text, mode)
